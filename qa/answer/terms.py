"""Terms: the reports' own renderings of their names and official terms in the other language.

A termbase is a plain file beside the reports, `<name>.terms.tsv`: one term a line, `English<TAB>Chinese`,
`#` starts a comment (docs/bilingual.md). A gloss uses it twice:
- **Hints.** The terms found in the quote go into the gloss prompt ("Terms: Rain and Dew Program = 雨露计划"),
  so the model writes the report's term rather than a plain word for it (雨计划, 特殊扶贫).
- **A check.** A gloss that leaves out the rendering of a term found in the quote is not shown.

Matching: an English term matches whole words, any case, its last word also with a plural ending; curly
and straight quotes alike. A Chinese term matches as written, and only from two characters up (a
one-character term such as 师 is inside too many other words to be found in a Chinese quote, though it is
still required in a Chinese gloss of an English quote that names it). Longer terms are found first; a
shorter one inside a longer one's match is not found again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from qa.errors import QAError

SUFFIX = ".terms.tsv"


class TermsUnreadable(QAError):
    """A termbase file that cannot be read: its path and line are named."""


@dataclass(frozen=True)
class Term:
    en: str
    zh: str

    def side(self, language: str) -> str:
        return self.en if language == "en" else self.zh


# one character for one, so that offsets in the folded text are the text's: curly quotes and dashes as plain ones
_FOLD = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"})


def _fold(text: str) -> str:
    return text.translate(_FOLD)


def _pattern(text: str, language: str, *, short: bool = False) -> re.Pattern | None:
    """How a term is found in a text in `language`; None for a one-character Chinese term unless `short`."""
    text = _fold(text)
    if language == "zh":
        return re.compile(re.escape(text)) if short or len(text) >= 2 else None
    words = text.split()
    body = r"\s+".join(re.escape(w) for w in words[:-1]) + (r"\s+" if len(words) > 1 else "")
    return re.compile(rf"(?<![\w-]){body}{re.escape(words[-1])}(?:s|es)?(?![\w-])", re.IGNORECASE)


@dataclass(frozen=True)
class Termbase:
    terms: tuple[Term, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.terms)

    @cached_property
    def _patterns(self) -> dict[str, list[tuple[re.Pattern, Term]]]:
        out: dict[str, list[tuple[re.Pattern, Term]]] = {}
        for language in ("en", "zh"):
            first = {t.side(language): t for t in reversed(self.terms)}  # a term's first line, per source side
            ordered = sorted(first.values(), key=lambda t: -len(t.side(language)))
            out[language] = [(p, t) for t in ordered if (p := _pattern(t.side(language), language)) is not None]
        return out

    def _matches(self, text: str, language: str) -> list[tuple[int, int, Term]]:
        taken: list[tuple[int, int, Term]] = []
        text = _fold(text)
        for pattern, term in self._patterns[language]:
            for m in pattern.finditer(text):
                if not any(m.start() < e and s < m.end() for s, e, _ in taken):
                    taken.append((m.start(), m.end(), term))
        return sorted(taken, key=lambda x: x[0])

    def found(self, text: str, language: str) -> tuple[Term, ...]:
        """The terms named in `text` (written in `language`), in order, each once (of a term with several
        renderings, the first line's)."""
        return tuple(dict.fromkeys(t for _, _, t in self._matches(text, language)))

    def without(self, text: str, language: str) -> str:
        """`text` with the terms found in it blanked: what the word-by-word check still has to find."""
        for s, e, _ in reversed(self._matches(text, language)):
            text = text[:s] + " " + text[e:]
        return text

    def missing(self, span: str, source: str, gloss: str, target: str) -> list[Term]:
        """The terms named in the span of which the gloss has no rendering. A term the termbase renders in
        several ways (one line each) needs any one of them."""
        gloss = _fold(gloss)
        return [term for term in self.found(span, source)
                if not any(_pattern(t.side(target), target, short=True).search(gloss)
                           for t in self.terms if t.side(source) == term.side(source))]


NO_TERMS = Termbase()


def read_terms(path: Path) -> list[Term]:
    """The terms of one file; TermsUnreadable (file and line) on a line that is not `English<TAB>Chinese`."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise TermsUnreadable(f"cannot read the termbase {path.name}: {e.__class__.__name__}") from None
    terms = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [p.strip() for p in line.split("\t")]
        if len(parts) != 2 or not all(parts) or not re.search(r"[A-Za-z]", parts[0]) \
                or not re.search(r"[\u3400-\u9fff]", parts[1]):
            raise TermsUnreadable(f"{path.name}, line {n}: expected an English term, a tab, and its Chinese term")
        terms.append(Term(" ".join(parts[0].split()), parts[1]))
    return terms


def load_terms(folder: Path | None, *extra: Path) -> Termbase:
    """The termbase of a folder of reports (every `*.terms.tsv` in it, not below), and of `extra` files."""
    files = sorted(Path(folder).glob(f"*{SUFFIX}")) if folder is not None and Path(folder).is_dir() else []
    terms = [t for f in [*files, *extra] for t in read_terms(Path(f))]
    return Termbase(tuple(dict.fromkeys(terms)))

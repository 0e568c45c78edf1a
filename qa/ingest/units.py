"""Units of embedding: sentences and overlapping sentence windows inside each passage.

The model reads a bounded number of tokens, so a long paragraph is never embedded whole: every
sentence is embedded on its own (long sentences in overlapping word chunks), plus windows of
consecutive sentences for context. Citations stay at paragraph level: each unit points to its passage.
"""

from __future__ import annotations

import re

from qa.ingest.sentences import split_sentences
from qa.types import Passage, Sentence, Unit

UNITS_VERSION = 1  # bump when sentence splitting or unit building changes: indexes are then rebuilt
WINDOW = 3  # sentences per window
STRIDE = 2
_WORD = re.compile(r"\S+")


def _chunks(s: Sentence, max_words: int) -> list[Sentence]:
    """Split a sentence longer than `max_words` into overlapping word chunks (offsets kept)."""
    words = list(_WORD.finditer(s.text))
    if len(words) <= max_words:
        return [s]
    step = max(1, max_words * 3 // 4)
    out = []
    for i in range(0, len(words), step):
        part = words[i : i + max_words]
        a, b = part[0].start(), part[-1].end()
        out.append(Sentence(s.start + a, s.start + b, s.text[a:b]))
        if i + max_words >= len(words):
            break
    return out


def passage_units(row: int, p: Passage, max_words: int) -> list[Unit]:
    sentences = [c for s in split_sentences(p.text) for c in _chunks(s, max_words)]
    units = [Unit(row, s.start, s.end, "sentence", s.text) for s in sentences]
    if len(sentences) > 1:
        for i in range(0, max(1, len(sentences) - WINDOW + STRIDE), STRIDE):
            group = sentences[i : i + WINDOW]
            while len(group) > 1 and len(_WORD.findall(p.text[group[0].start : group[-1].end])) > max_words:
                group = group[:-1]
            if len(group) > 1:
                a, b = group[0].start, group[-1].end
                units.append(Unit(row, a, b, "window", p.text[a:b]))
    return units


def embedding_text(p: Passage, u: Unit) -> str:
    """What the model sees for a unit: the section heading gives a sentence its topic."""
    return f"{p.section}: {u.text}" if p.section else u.text


def build_units(passages: list[Passage], max_words: int, *, whole: bool = False) -> list[Unit]:
    """Sentences and windows of every passage; with `whole`, one unit per passage instead (short
    documents such as abstracts, embedded whole and truncated by the model, as MTEB does)."""
    if whole:
        return [Unit(row, 0, len(p.text), "passage", p.text) for row, p in enumerate(passages)]
    return [u for row, p in enumerate(passages) for u in passage_units(row, p, max_words)]

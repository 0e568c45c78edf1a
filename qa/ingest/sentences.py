"""Sentence splitting with offsets, for English and Chinese report text."""

from __future__ import annotations

import re

from qa.types import Sentence

# Words after which a full stop does not end a sentence ("No. 3 Branch", "Co., Ltd.").
_ABBREVIATIONS = {
    "no", "nos", "co", "ltd", "inc", "corp", "mr", "mrs", "ms", "dr", "prof", "st", "vs", "etc",
    "e.g", "i.e", "fig", "vol", "art", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
    "sept", "oct", "nov", "dec", "approx", "dept", "gov", "u.s", "u.k", "p", "pp",
}
# A candidate boundary: English terminal punctuation followed by space, or a Chinese terminator.
_BOUNDARY = re.compile(r"(?<=[.!?;])[\"'”’)]*\s+|(?<=[。！？；])[”’」』）]*\s*")
_WORD_BEFORE = re.compile(r"([\w.]+)[.!?;]?$")


def split_sentences(text: str) -> list[Sentence]:
    """Split `text` into sentences; each keeps its offsets so `text[s.start:s.end] == s.text`."""
    sentences: list[Sentence] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        end = m.start()
        if end <= start:
            continue
        if text[end - 1] == "." and _is_abbreviation(text[start:end]):
            continue
        nxt = text[m.end() : m.end() + 1]
        if text[end - 1] in ".;" and nxt and nxt.islower():
            continue  # "No. 3", "i.e. the", or a semicolon list that goes on
        _append(sentences, text, start, m.end())
        start = m.end()
    _append(sentences, text, start, len(text))
    return sentences


def _is_abbreviation(chunk: str) -> bool:
    m = _WORD_BEFORE.search(chunk)
    if not m:
        return False
    word = m.group(1).rstrip(".").lower()
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def _append(out: list[Sentence], text: str, start: int, end: int) -> None:
    # Trim whitespace while keeping offsets exact.
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        out.append(Sentence(start, end, text[start:end]))

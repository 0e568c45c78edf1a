"""Judge: the reader's readings applied to the ranked hits (labels, spans, highlight) and its verdict.

A passage the reader says does not answer is never labelled *strong*; where the reader found the answer
span, the highlight moves to the sentence that holds it, so the card shows the span inside its sentence.
"""

from __future__ import annotations

import dataclasses

from qa.answer.reader import Reading
from qa.ingest.sentences import split_sentences
from qa.types import Hit

READER_REFUSAL = ("The reader checked the top passages: they are about this question, but none of them "
                  "answers it.")


def apply_readings(hits: list[Hit], readings: list[Reading | None], cutoff: float) -> list[Hit]:
    out = []
    for h, r in zip(hits, readings):
        if r is None:
            out.append(h)
            continue
        answers = r.score >= cutoff
        changes: dict = {"answers": answers, "reader_score": r.score}
        if not answers and h.confidence == "strong":
            changes["confidence"] = "possible"
        if answers and r.span_start is not None:
            changes.update(span_start=r.span_start, span_end=r.span_end)
            sent = _sentence_at(h.passage.text, r.span_start, r.span_end)
            if sent is not None:
                changes.update(highlight=h.passage.text[sent[0]:sent[1]], highlight_start=sent[0],
                               highlight_end=sent[1])
        out.append(dataclasses.replace(h, **changes))
    return out


def _sentence_at(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The sentence (or run of sentences) of `text` that holds [start, end)."""
    sents = split_sentences(text)
    first = next((s for s in sents if s.start <= start < s.end), None)
    last = next((s for s in sents if s.start < end <= s.end), None)
    if first is None or last is None:
        return None
    return first.start, last.end


"""Read: does a retrieved passage *answer* the question, and which of its words do? (the reader stage)

Retrieval finds passages *about* a question; the reader reads the question with each of the top
passages and returns a `Reading`: a score for "this passage answers it" and the answer span, the
shortest words of the passage that answer it — always a verbatim slice of the passage, by offsets.

A `Reader` is anything with `verdicts(question, contexts)` and `span(question, context)`; the model
runtimes and `ReaderSlot` (loading in the background) are in qa/answer/reader_runtime.py:
- `LlamaReader`: Qwen2.5-Coder-Instruct (0.5B by default, 1.5B on request) run by llama.cpp from its GGUF
  file. The verdict is 1 − P(first answer token starts "NOT_FOUND") in one pass under the prompt below.
  The span is generated under a grammar that admits only NOT_FOUND or a verbatim slice of the passage, so
  the quote is the model's own answer, restricted to words the passage really holds, and never text it
  made up.
- `FakeReader`: rules for fast unit tests.

What it reads (`context_of`): by default the top passage's highlighted sentence alone (`ReaderSettings`),
which beat the sentence with its neighbours on the tuning half; a Chinese question about an English report
still gets a span quoted from the English passage. Measured in docs/reader.md.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Protocol

from qa.answer import typed
from qa.ingest.sentences import split_sentences
from qa.types import Hit

SYSTEM = ("Answer strictly from the passage, with the shortest exact words of the passage. If the passage does not "
          "say what the question asks for, reply exactly NOT_FOUND. A passage on the same topic that does not "
          "state the asked fact does not answer.")
NOT_FOUND = "NOT_FOUND"
# Worked examples before the question (made up, not from any report or question set): near misses on the
# passage's own topic answered NOT_FOUND, facts answered with the passage's shortest words. On the tuning
# data (docs/reader.md) they raise the verdict's AUC from 0.72 to 0.84 and cost nothing per question:
# they are part of the prompt prefix, whose KV cache is computed once at load.
EXAMPLES = (
    ("In 2019 the county built 12 new schools and trained 300 rural teachers in modern teaching methods.",
     (("How many teachers were trained?", "300 rural teachers"),
      ("How many hospitals were built?", NOT_FOUND),
      ("What did the training cost?", NOT_FOUND))),
    ("The irrigation project, funded by the provincial government, covered 5,000 hectares of farmland in the "
     "northern valley and raised grain yields by 8 percent.",
     (("Who funded the irrigation project?", "the provincial government"),
      ("How long were the irrigation canals?", NOT_FOUND),
      ("灌溉项目使粮食产量提高了多少？", "8 percent"))),
)


def prompt_prefix(examples=EXAMPLES) -> str:
    """The chat prompt up to the passage: system message, worked examples, and the opening of the user
    turn (the model's own chat template, written out so that this prefix can be cached)."""
    turns = "".join(f"<|im_start|>user\nPassage: {passage}\n\nQuestion: {q}<|im_end|>\n"
                    f"<|im_start|>assistant\n{a}<|im_end|>\n" for passage, qs in examples for q, a in qs)
    return f"<|im_start|>system\n{SYSTEM}<|im_end|>\n{turns}<|im_start|>user\nPassage:"


@dataclass(frozen=True)
class Reading:
    """The reader's view of one passage: `score` in [0, 1] that it answers the question; the answer
    span as offsets into the passage text (None when not found), and how long reading took."""

    score: float
    span_start: int | None = None
    span_end: int | None = None
    ms: float = 0.0


@dataclass(frozen=True)
class ReaderSettings:
    """How the reader is used (chosen on the tuning half; docs/reader.md)."""

    cutoff: float = 0.3  # a passage answers when its reader score is at least this (docs/reader.md)
    sure: float = 0.7  # and is labelled *strong* only from this score up (tuned on the tuning data: docs/reader.md)
    top: int = 1  # how many of the top passages are read (each costs about a second on 2 cores)
    neighbours: int = 0  # sentences either side of the highlighted one shown to the reader
    whole: bool = False  # show the whole paragraph instead


@dataclass(frozen=True)
class Context:
    """The part of a passage the reader is shown: text == passage.text[start:start + len(text)]."""

    text: str
    start: int


class Reader(Protocol):
    name: str

    def verdicts(self, question: str, contexts: list[str]) -> list[float]:
        """For each context, a score in [0, 1] that it answers the question."""
        ...

    def span(self, question: str, context: str, choices: list[tuple[int, int]] | None = None) -> tuple[int, int] | None:
        """Character offsets of the shortest answer inside `context` (one of `choices`, offsets into
        `context`, when given), or None."""
        ...


def context_of(hit: Hit, neighbours: int = 1, whole: bool = False) -> Context:
    """The highlighted sentence with `neighbours` sentences either side (or the whole paragraph)."""
    text = hit.passage.text
    if whole:
        return Context(text, 0)
    sents = split_sentences(text)
    at = next((i for i, s in enumerate(sents) if s.start <= hit.highlight_start < s.end), None)
    if at is None:
        return Context(text, 0)
    lo, hi = max(0, at - neighbours), min(len(sents), at + neighbours + 1)
    s, e = sents[lo].start, sents[hi - 1].end
    return Context(text[s:e], s)


def read(reader: Reader, question: str, hits: list[Hit], *, top: int = 1, cutoff: float = 0.3,
         neighbours: int = 0, whole: bool = False, counted: bool = True) -> list[Reading | None]:
    """Readings for the first `top` hits (None for the rest: not read). A span is looked for only in
    the first hit the reader accepts (score ≥ `cutoff`): that is the passage the answer quotes. Where the
    question wants a typed answer and the context holds items of that kind, the span is the reader's
    choice among them (qa/answer/typed.py)."""
    out: list[Reading | None] = [None] * len(hits)
    chosen = hits[:top]
    if not chosen:
        return out
    t0 = time.perf_counter()
    contexts = [context_of(h, neighbours, whole) for h in chosen]
    scores = reader.verdicts(question, [c.text for c in contexts])
    ms = (time.perf_counter() - t0) * 1000 / len(chosen)
    for i, s in enumerate(scores):
        out[i] = Reading(float(s), ms=ms)
    best = next((i for i, s in enumerate(scores) if s >= cutoff), None)
    if best is not None:
        t1 = time.perf_counter()
        text = contexts[best].text
        want = typed.asked(question)
        choices = typed.candidates(text, want, question)
        # a typed question whose context holds no item of its kind gets no span: nothing there answers it
        found = reader.span(question, text, choices) if choices or want is None else None
        if found is not None and _inside(found, text):
            s, e = with_what_it_counts(text, *found) if counted else found
            if not choices:
                s, e = to_clause(text, s, e)
            base = contexts[best].start
            out[best] = Reading(float(scores[best]), base + s, base + e,
                                ms=ms + (time.perf_counter() - t1) * 1000)
    return out


CLAUSE_WORDS = 12  # chosen on the tuning data (docs/reader.md): answer in span 108 → 114 of 160, median 4 → 6 words
_NUMBER_ONLY = re.compile(r"^(?:[$¥€£]?\d[\d,.]*(?:st|nd|rd|th|%)?|one|two|three|four|five|six|seven|eight|nine|ten|"
                          r"eleven|twelve|twenty|thirty|forty|fifty|hundred|thousand|million|billion|\s)+$", re.I)
_COUNTED_STOP = frozenset("""from to in of for with by at on which that who whom were was are is had have has been as into
per but than while when where after before during under over between across among through each""".split())


def with_what_it_counts(text: str, start: int, end: int, max_words: int = 7) -> tuple[int, int]:
    """A bare number ("64") is quoted with the words it counts ("64 university students"), up to the
    next preposition, verb of being or punctuation: the model often stops right after the figure."""
    if not _NUMBER_ONLY.match(text[start:end]):
        return start, end
    pos, words, good = end, 0, end
    for m in re.finditer(r"[ \t]+([A-Za-z][\w’'-]*)", text[end:]):
        if m.start() != pos - end or words >= max_words or m.group(1).lower() in _COUNTED_STOP:
            break
        pos, words = end + m.end(), words + 1
        if m.group(1).lower() not in ("and", "or"):
            good = pos  # never end on a conjunction
    return start, good


_CLAUSE_EDGE = re.compile(r"[,;:，；：、]|\s(?:and|while|which|so that|in order to)\s")


def to_clause(text: str, start: int, end: int, max_words: int = CLAUSE_WORDS) -> tuple[int, int]:
    """A span widened to the clause that holds it (between commas, semicolons, colons or a joining word),
    when that clause is at most `max_words` long: the model often stops short of what answers ("a good
    atmosphere" for "a good atmosphere for the whole society"). Answers of a typed kind are left as chosen."""
    edges = list(_CLAUSE_EDGE.finditer(text))
    lo = max((m.end() for m in edges if m.end() <= start), default=0)
    hi = min((m.start() for m in edges if m.start() >= end), default=len(text))
    lo, hi = trim_span(text, lo, hi)
    if lo <= start and end <= hi and len(text[lo:hi].split()) <= max_words:
        return lo, hi
    return start, end


def _inside(span, text: str) -> bool:
    """A span is quoted only if it is a non-empty slice of the text the reader was shown."""
    try:
        s, e = (int(x) for x in span)
    except (TypeError, ValueError):
        return False
    return 0 <= s < e <= len(text) and bool(text[s:e].strip())


def trim_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Drop surrounding spaces and trailing punctuation ("3500 Yuan." → "3500 Yuan")."""
    while start < end and not text[start].isalnum() and text[start] not in "“\"'(‘$¥€£":
        start += 1
    while end > start and (text[end - 1].isspace() or text[end - 1] in ".,;:。，；：、!?！？"):
        end -= 1
    return start, end


class FakeReader:
    """A rule reader for unit tests: a context answers when it holds every content word of the
    question longer than three letters; the span is the first number in it, else its first word."""

    name = "fake"

    QUESTION_WORDS = frozenset("what which where when many much does were with from that this have their "
                               "there they about".split())

    def __init__(self, stop: frozenset[str] = QUESTION_WORDS):
        self.stop = stop

    def _words(self, question: str) -> list[str]:
        return [w.lower() for w in re.findall(r"[A-Za-z]{4,}", question) if w.lower() not in self.stop]

    def verdicts(self, question: str, contexts: list[str]) -> list[float]:
        words = self._words(question)
        return [1.0 if words and all(w in c.lower() for w in words) else 0.0 for c in contexts]

    def span(self, question: str, context: str, choices: list[tuple[int, int]] | None = None) -> tuple[int, int] | None:
        if choices:
            return choices[0]
        m = re.search(r"\d[\d,.]*\d|\d", context) or re.search(r"\w+", context)
        return (m.start(), m.end()) if m else None

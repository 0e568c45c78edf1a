"""Judge: every reason to abstain or to lower a label, in one step, each a small named rule.

`ReportQA.ask` (qa/answer/service.py) runs resolve → retrieve → read → judge → compose. The judge labels
the hits from their calibrated evidence, then applies its rules in this order; a rule that abstains
stops the ones after it:

| reason (`Answer.reasons`) | rule                          | what it does                                           |
|---------------------------|-------------------------------|--------------------------------------------------------|
| "missing"                 | `names_missing`               | abstains: a name or year the reports never use         |
| "near-miss"               | `near_miss`                   | abstains: the best passage cannot hold the answer      |
| "type"                    | `lacks_typed_answer`          | abstains: no item of the asked kind in the best passage |
| "threshold"               | `below_threshold`             | abstains: no hit reaches the mode's answer threshold   |
| "reader"                  | `reader_refuses`              | abstains: the reader says the best passage does not answer |
| "disagreement"            | `overruled`, `models_disagree` | the best hit is only *possible*: the second model prefers another |

Two rules also lower labels without abstaining: a passage the reader rejects is never *strong*
(`apply_readings`), and "disagreement" lowers the best hit while labelling (`make_hits`), its notice
coming after the reader.

The first three need no model, so they run before the reader (`judge_before_reading`): a question they
refuse is not read (about 2.5 s saved). The reader's verdict and the disagreement notice come after it
(`judge_after_reading`). `ReportQA.rules` switches rules off one by one for experiments; `Answer.reasons`
says which fired, for `qa eval` and the UI's notices. Measured effects are in each rule's docstring
(the tuning half is 66 questions, 9 of them unanswerable; docs/reader.md, docs/how-it-works.md).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from qa.answer import typed
from qa.answer.checks import mismatch
from qa.answer.reader import Reading
from qa.ingest.sentences import split_sentences
from qa.search.question import join_or
from qa.search.records import Records
from qa.search.retrieve import Candidate
from qa.types import Hit

RULES = frozenset({"threshold", "missing", "near-miss", "type", "disagreement", "reader", "one-strong"})
# In force by default: all but "reader". The reader's refusals cost good answers on every set measured and
# caught no near miss the other rules left (docs/reader.md), so its doubt lowers labels instead.
DEFAULT_RULES = RULES - {"reader"}
ABSTAINING = frozenset({"missing", "near-miss", "type", "threshold", "reader"})  # "disagreement" only lowers a label
READER_REFUSAL = ("The reader checked the top passages: they are about this question, but none of them "
                  "answers it.")


@dataclass(frozen=True)
class Thresholds:
    """Score cut-offs on a mode's ranking score (tuned on the tuning half of the shipped set)."""

    answer: float = 0.40  # below: abstain
    strong: float = 0.55  # at or above: "strong"
    second_margin: float = 0.06  # a second passage joins the answer if this close to the first


# Per mode, and for questions answered across languages (scored by the multilingual model).
THRESHOLDS = {
    "dense": Thresholds(0.40, 0.55, 0.06),
    "bm25": Thresholds(0.99, 2.0, 0.0),  # BM25 is normalised per query: it cannot tell "nothing" apart
    "hybrid": Thresholds(0.62, 0.85, 0.08),
    "hybrid-cross": Thresholds(0.60, 0.80, 0.04),
}


@dataclass
class Verdict:
    """What the judge decided so far: the hits as labelled, the notices to show, the rules that fired."""

    hits: list[Hit]
    notices: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    @property
    def abstains(self) -> bool:
        return any(r in ABSTAINING for r in self.reasons)

    def fire(self, rule: str, notice: str | None = None) -> None:
        self.reasons.append(rule)
        if notice:
            self.notices.append(notice)


# -- labels -------------------------------------------------------------------------------------------

def confidence_label(score: float, t: Thresholds) -> str:
    if score >= t.strong:
        return "strong"
    if score >= t.answer:
        return "possible"
    return "weak"


def make_hits(records: Records, candidates: list[Candidate], t: Thresholds, *,
              disagreement: bool = True) -> list[Hit]:
    """Hits in ranking order, each labelled from its calibrated evidence, with the best sentence as its
    highlight (`records`: the retriever's, qa/search/records.py). With the "disagreement" rule on, the best
    passage is called strong only if the second model agrees (`overruled`)."""
    hits = []
    for rank, c in enumerate(candidates, 1):
        p = records.passage(c.row)
        if c.sentence >= 0:
            u = records.unit(c.sentence)
            hl, hs, he = u.text, u.start, u.end
        else:
            hl, hs, he = p.text, 0, len(p.text)
        label = "possible" if disagreement and rank == 1 and overruled(c, t) else confidence_label(c.evidence, t)
        hits.append(Hit(p, c.score, rank, hl, hs, he, label))
    return hits


# -- the rules ----------------------------------------------------------------------------------------

def names_missing(missing: list[str], mode: str) -> bool:
    """"missing": the question names a year, place or body the reports never use (in either script).
    An unknown acronym ("XPCC") only gives the notice: it may be another name for something the reports
    describe. Dense mode has no vocabulary to look in, so the rule is off there.
    Effect (tuning half, reader at 0.2): unanswerable questions abstained on went from 2/9 with neither
    this rule nor `near_miss` to 6/9 with this one alone, 7/9 with both."""
    return mode != "dense" and any(not _is_acronym(m) for m in missing)


def near_miss(question: str, hits: list[Hit], mode: str) -> str | None:
    """"near-miss": the best passage is on topic but cannot hold the answer — another year, or no figure
    or percentage where one is asked for (qa/answer/checks.py); returns the reason in plain words.
    Effect (tuning half, reader at 0.2): 2/9 unanswerable abstained on without it and `names_missing`,
    3/9 with it alone, 7/9 with both."""
    if mode == "dense" or not hits:
        return None
    return mismatch(question, hits[0])


def lacks_typed_answer(question: str, hits: list[Hit], mode: str) -> str | None:
    """"type": the question asks for a typed answer (a length, a sum of money, a person, a count of
    teachers, a day; qa/answer/typed.py) and the best passage holds no item of that kind the question
    does not already contain; returns the reason in plain words. Measured in docs/reader.md."""
    if mode == "dense" or not hits:
        return None
    want = typed.asked(question)
    if want is None or typed.candidates(hits[0].passage.text, want, question):
        return None
    return f"The best-matching passage gives no {want.describe()} for this."


def typed_label(question: str, hits: list[Hit]) -> list[Hit]:
    """A passage whose highlighted sentence holds no item of the asked kind is at most *possible*."""
    want = typed.asked(question)
    if want is None:
        return hits
    return [dataclasses.replace(h, confidence="possible") if h.confidence == "strong"
            and not typed.candidates(h.highlight, want, question) else h for h in hits]


def below_threshold(hits: list[Hit]) -> bool:
    """"threshold": no hit reaches the mode's answer threshold (all are "weak"). The thresholds were tuned
    on the tuning half and checked on the other (docs/evaluation.md). It stays in force with the reader:
    letting the reader's "answers" override it answered one more unanswerable question of the check half."""
    return all(h.confidence == "weak" for h in hits)


def reader_refuses(hits: list[Hit]) -> bool:
    """"reader": the reader read the best passage and says it does not answer (score under the cut-off,
    0.3). Effect over all five question sets (450): no unanswerable question more abstained (45/127 with
    and without it), 7 of 323 good answers refused instead of 5 (docs/reader.md). Hence the reader is off
    by default; its score is put to use on the labels instead (`apply_readings`, `sure`)."""
    return bool(hits) and hits[0].answers is False


def overruled(c: Candidate, t: Thresholds) -> bool:
    """Strong by its score, but the second model (e5) puts another passage first: the label part of
    "disagreement". Effect over all 300 questions: answers labelled strong were right 196 of 227 times
    without it (0.863) and 186 of 208 with it (0.894): nine fewer wrong or unanswerable answers called
    strong, ten right ones called possible instead (docs/how-it-works.md, "Confidence labels")."""
    return c.second_first is False and confidence_label(c.evidence, t) == "strong"


def models_disagree(candidates: list[Candidate], hits: list[Hit], t: Thresholds) -> str | None:
    """"disagreement": why the best passage is not called strong although its score is (`overruled`).
    Names the passage the second model prefers when it is among the hits."""
    if not candidates or not overruled(candidates[0], t):
        return None
    other = next((h for c, h in zip(candidates, hits) if c.second_first), None)
    where = f"puts [{other.rank}] first" if other else "puts another passage first"
    return f"The two search models disagree on the best passage: the second one {where}. Compare them before relying on [1]."


# -- the judging step ---------------------------------------------------------------------------------

def judge_before_reading(question: str, hits: list[Hit], *, mode: str, missing: list[str],
                         rules: set[str] | frozenset[str] = RULES) -> Verdict:
    """The rules that need no model: names never mentioned, near misses, the threshold. Nothing
    retrieved at all always abstains (as "threshold")."""
    v = Verdict(typed_label(question, hits) if "type" in rules else list(hits))
    if missing:  # said in any case, also where it does not refuse
        v.notices.append(f"The reports do not mention {join_or(missing)}.")
    if "missing" in rules and names_missing(missing, mode):
        v.fire("missing")
    elif "near-miss" in rules and (why := near_miss(question, v.hits, mode)):
        v.fire("near-miss", why)
    elif "type" in rules and (why := lacks_typed_answer(question, v.hits, mode)):
        v.fire("type", why)
    elif not v.hits or ("threshold" in rules and below_threshold(v.hits)):
        v.fire("threshold")
    return v


def worth_reading(v: Verdict) -> bool:
    """Read only what could still be answered: the reader costs about a second a question."""
    return bool(v.hits) and not v.abstains


def judge_after_reading(v: Verdict, readings: list[Reading | None] | None, cutoff: float, candidates: list[Candidate],
                        t: Thresholds, rules: set[str] | frozenset[str] = RULES, sure: float | None = None) -> Verdict:
    """The reader's verdict (when it read), then the disagreement notice (when nothing abstained)."""
    if readings is not None:
        v.hits = apply_readings(v.hits, readings, cutoff, sure)
        if "reader" in rules and reader_refuses(v.hits):
            v.fire("reader", READER_REFUSAL)
        if "one-strong" in rules:
            v.hits = only_read_strong(v.hits)
    if not v.abstains and "disagreement" in rules and (split := models_disagree(candidates, v.hits, t)):
        v.fire("disagreement", split)
    return v


def only_read_strong(hits: list[Hit]) -> list[Hit]:
    """"one-strong": with the reader on, only a passage it read and accepted, with its answer span, may be
    *strong*. The others are at most *possible*: a passage is never strong because the first one is."""
    return [dataclasses.replace(h, confidence="possible")
            if h.confidence == "strong" and not (h.answers and h.span_start is not None) else h for h in hits]


def apply_readings(hits: list[Hit], readings: list[Reading | None], cutoff: float,
                   sure: float | None = None) -> list[Hit]:
    """The reader's readings on the hits. A passage answers when its score reaches `cutoff`; it is
    labelled *strong* only when the score also reaches `sure` (default: the cut-off), so a passage the
    reader doubts is at most *possible*. Where the reader found the answer span, the highlight moves to
    the sentence that holds it, so the card shows the span inside its sentence."""
    sure = cutoff if sure is None else max(sure, cutoff)
    out = []
    for h, r in zip(hits, readings):
        if r is None:
            out.append(h)
            continue
        answers = r.score >= cutoff
        changes: dict = {"answers": answers, "reader_score": r.score}
        if r.score < sure and h.confidence == "strong":
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


def _is_acronym(term: str) -> bool:
    return term.isupper() and term.isalpha() and len(term) <= 6

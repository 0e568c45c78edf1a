"""Answer: ranked candidates → an extractive answer with citation markers, or an honest abstention."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from qa.index.build import LoadedIndex
from qa.search.retrieve import Candidate
from qa.types import Answer, Hit


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


def confidence_label(score: float, t: Thresholds) -> str:
    if score >= t.strong:
        return "strong"
    if score >= t.answer:
        return "possible"
    return "weak"


def make_hits(index: LoadedIndex, candidates: list[Candidate], t: Thresholds) -> list[Hit]:
    """Hits in ranking order, each labelled from its calibrated evidence. The best passage is called a
    strong match only if the second model (when there is one) also puts it first: where the two models
    disagree, the answer is wrong far more often (README, "Confidence labels")."""
    hits = []
    for rank, c in enumerate(candidates, 1):
        p = index.passages[c.row]
        if c.sentence >= 0:
            u = index.units[c.sentence]
            hl, hs, he = u.text, u.start, u.end
        else:
            hl, hs, he = p.text, 0, len(p.text)
        label = "possible" if rank == 1 and _overruled(c, t) else confidence_label(c.evidence, t)
        hits.append(Hit(p, c.score, rank, hl, hs, he, label))
    return hits


def _overruled(c: Candidate, t: Thresholds) -> bool:
    """Strong by its score, but the second model puts another passage first."""
    return c.second_first is False and confidence_label(c.evidence, t) == "strong"


def disagreement(candidates: list[Candidate], hits: list[Hit], t: Thresholds) -> str | None:
    """Why the best passage is not called strong although its score is: the second model puts another
    passage first. Names that passage's marker when it is among the hits."""
    if not candidates or not _overruled(candidates[0], t):
        return None
    other = next((h for c, h in zip(candidates, hits) if c.second_first), None)
    where = f"puts [{other.rank}] first" if other else "puts another passage first"
    return f"The two search models disagree on the best passage: the second one {where}. Compare them before relying on [1]."


def compose(question: str, searched: str, hits: list[Hit], t: Thresholds, *, mode: str,
            notices: list[str] | None = None, refuse: bool = False, threshold: bool = True) -> Answer:
    """The answer is the best sentence of the top passage, cited [1]; a close second adds [2].

    Hits come in ranking order; each one's confidence label is from its calibrated evidence score.
    Abstains (answer None) when no hit reaches the mode's threshold ("weak" all through) or `refuse` is set."""
    notices = list(notices or [])
    if refuse or not hits or (threshold and all(h.confidence == "weak" for h in hits)):
        notices.append("No passage in the reports answers this question well enough; "
                       "the nearest passages are listed as weak matches.")
        weak = tuple(dataclasses.replace(h, confidence="weak", span_start=None, span_end=None) for h in hits)
        return Answer(question, searched, None, True, weak, tuple(notices), mode)
    lead = f"{hits[0].span} — " if hits[0].span else ""
    parts = [f"{lead}{hits[0].highlight} [1]"]
    if len(hits) > 1 and hits[1].confidence == "strong" and hits[0].score - hits[1].score <= t.second_margin:
        parts.append(f"{hits[1].highlight} [2]")
    return Answer(question, searched, " ".join(parts), False, tuple(hits), tuple(notices), mode)

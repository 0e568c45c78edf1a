"""Compose: judged hits → an extractive answer with citation markers, or an honest abstention.

The judge (qa/answer/judge.py) has decided whether to answer; composing only words the result. When the
best passages come from different reports and their highlighted sentences give different figures, the
answer shows each report's sentence with its citation (`two_reports`), not just one.
"""

from __future__ import annotations

import dataclasses

from qa.answer.judge import Thresholds
from qa.search.lexical import numbers
from qa.types import DOUBT, Answer, Hit
from qa.years import is_year

CONFLICT_MARGIN = 0.15  # a passage from another report this close to the best one answers the same question


def compose(question: str, searched: str, hits: list[Hit], t: Thresholds, *, mode: str,
            notices: list[str] | None = None, abstain: bool = False) -> Answer:
    """The answer is the best sentence of the top passage, cited [1]; a close second adds [2].

    Hits come in ranking order, labelled by the judge. Abstains (answer None) when the judge says so
    (`abstain`) or there is nothing to answer from; the hits are then all listed as weak matches."""
    notices = list(notices or [])
    if abstain or not hits:
        notices.append("No passage in the reports answers this question well enough; "
                       "the nearest passages are listed as weak matches.")
        weak = tuple(dataclasses.replace(h, confidence="weak", span_start=None, span_end=None) for h in hits)
        return Answer(question, searched, None, True, weak, tuple(notices), mode)
    lead = f"{hits[0].span} — " if hits[0].span else ""
    doubt = DOUBT if hits[0].confidence != "strong" else ""
    parts = [f"{doubt}{lead}{hits[0].highlight} [1]"]
    if len(hits) > 1 and hits[1].confidence == "strong" and hits[0].score - hits[1].score <= t.second_margin:
        parts.append(f"{hits[1].highlight} [2]")
    return Answer(question, searched, " ".join(parts), False, tuple(hits), tuple(notices), mode)


def _figures(text: str) -> set[str]:
    """The numbers of a sentence other than years (which tell reports apart, not answers)."""
    return {n for n in numbers(text) if not is_year(n)}


def two_reports(answer: Answer) -> Answer:
    """When a passage from another report answers nearly as well as the best one but its highlighted
    sentence gives different figures, answer with both, each named and cited, and say so."""
    if answer.abstained or len(answer.hits) < 2:
        return answer
    first = answer.hits[0]
    figures = _figures(first.highlight)
    asked_years = {int(n) for n in numbers(answer.searched) if is_year(n)}
    if not figures:
        return answer
    for other in answer.hits[1:]:
        if other.passage.doc == first.passage.doc or other.confidence == "weak":
            continue
        if first.score - other.score > CONFLICT_MARGIN:
            break
        if asked_years and other.passage.year not in asked_years:
            continue  # the question names a year this report is not about
        theirs = _figures(other.highlight)
        if theirs and theirs != figures:
            text = (f"{first.passage.report_label()}: {first.highlight} [{first.rank}]; "
                    f"{other.passage.report_label()}: {other.highlight} [{other.rank}]")
            notice = (f"Two reports give different figures: {first.passage.report_label()} [{first.rank}] "
                      f"and {other.passage.report_label()} [{other.rank}]; both are shown.")
            return dataclasses.replace(answer, answer=text, notices=(*answer.notices, notice))
    return answer

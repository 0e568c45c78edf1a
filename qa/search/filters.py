"""Filters on a question: only some reports (document ids) and/or a range of report years.

`parse_years("2011")` → (2011, 2011); `parse_years("2010-2012")` → (2010, 2012). `allowed_rows` turns a
filter into the set of passage rows the retriever may return (`Retriever.search(allowed=...)`).
"""

from __future__ import annotations

from collections.abc import Iterable

from qa.errors import BadQuestion
from qa.types import Passage
from qa.years import year_span


class BadFilter(BadQuestion):
    """A report or year filter that is malformed or matches no report (shown like an unsearchable question)."""


def parse_years(spec: str | None) -> tuple[int, int] | None:
    """"2011" or "2010-2012" (also "2010–2012", "2010..2012", "2010 to 2012", "2010至2012": qa/years.py)
    → (first, last); None/"" → None."""
    if spec is None or not str(spec).strip():
        return None
    span = year_span(str(spec))
    if span is None:
        raise BadFilter(f"year filter {str(spec)[:40]!r} is not a year or a range like 2010-2012")
    return span


def check_reports(wanted: Iterable[str], known: set[str]) -> None:
    """BadFilter if a wanted report id is not among the `known` ones."""
    unknown = sorted(set(wanted) - known)
    if unknown:
        raise BadFilter(f"no report with id {', '.join(unknown[:5])}")


def allowed_rows(passages: list[Passage], docs: Iterable[str] | None = None,
                 years: tuple[int, int] | None = None) -> set[int] | None:
    """Passage rows inside the filter (None when there is no filter); BadFilter if nothing is left."""
    wanted = {d for d in docs or () if d}
    if not wanted and years is None:
        return None
    check_reports(wanted, {p.doc for p in passages})
    rows = {i for i, p in enumerate(passages)
            if (not wanted or p.doc in wanted)
            and (years is None or (p.year is not None and years[0] <= p.year <= years[1]))}
    if not rows:
        span = f"{years[0]}" if years and years[0] == years[1] else f"{years[0]}–{years[1]}" if years else ""
        raise BadFilter(f"no report from {span} among the chosen reports" if wanted else f"no report from {span}")
    return rows

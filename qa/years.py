"""Years in text, in one place: what counts as a year, and what joins two years into a range.

Used by ingest (a report's year), the year filter (`parse_years`), the answer checks (the years a question
asks about and a passage covers) and the composer (figures that are not years). A year is 19xx or 20xx,
not inside a longer number or a decimal ("3.2011" is not one). A range joins two years with a dash, "..",
"to", "through", "until", 至 or 到: the filter and the checks accept the same ones.
"""

from __future__ import annotations

import re

YEAR = re.compile(r"(?<![\d.])((?:19|20)\d\d)(?!\d)")
_JOIN = r"(?:-|–|—|\.\.|to|through|until|至|到)"
_RANGE = re.compile(rf"(?<![\d.])((?:19|20)\d\d)\s*{_JOIN}\s*((?:19|20)\d\d)(?!\d)")
_SPEC = re.compile(rf"^\s*(\d{{4}})\s*(?:{_JOIN}\s*(\d{{4}})\s*)?$")


def is_year(token: str) -> bool:
    """A number token that is a year ("2011", not "2011.5" or "120110")."""
    return bool(YEAR.fullmatch(token))


def years_in(text: str) -> list[int]:
    """The years a text names, in order, repeats kept."""
    return [int(y) for y in YEAR.findall(text)]


def years_mentioned(text: str) -> set[int]:
    """The years a text names, with every year inside a range ("2008 to 2010" → 2008, 2009, 2010)."""
    out = set(years_in(text))
    for lo, hi in _RANGE.findall(text):
        if int(lo) <= int(hi) <= int(lo) + 50:
            out |= set(range(int(lo), int(hi) + 1))
    return out


def year_span(spec: str) -> tuple[int, int] | None:
    """"2011" or "2010-2012" (any join above) → (first, last), in order; None if it is neither."""
    m = _SPEC.match(spec)
    if not m:
        return None
    lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
    return (lo, hi) if lo <= hi else (hi, lo)

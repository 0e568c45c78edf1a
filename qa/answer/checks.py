"""Checks that the best passage fits what the question asks, before answering from it (no model).

Retrieval finds the passage *about* the question; these rules catch the near misses a reader would
reject at a glance, and say why in plain words:
- the question asks about a year the passage does not cover ("…in 2012?" answered from a passage
  about 2011; ranges such as "2008 to 2010" cover the years between, and a passage's report year counts),
  or that its best sentence, which names other years, is not about ("From 2008 to 2010, …" for 2011);
- the question asks for a figure ("How many…", "What percentage…") and the sentence that best answers
  it holds none (a percentage or rate question needs a percentage).
"""

from __future__ import annotations

import re

from qa.search.answer_type import QUANTITY, expected_type, offers
from qa.search.question import join_or
from qa.types import Hit
from qa.years import years_mentioned

# A rate is given as a percentage too ("unemployment rate", 增长率 — but not 效率, efficiency).
_PERCENT_ASKED = re.compile(r"\bpercent(age)?s?\b|%|百分|\brates?\b|(发生|增长|失业|就业|覆盖|入学|贫困|比)率", re.I)
_PERCENT = re.compile(r"\bper ?cent\b|%|百分之", re.I)


def mismatch(question: str, hit: Hit) -> str | None:
    """Why the best hit cannot answer the question (a sentence for the user), or None if it may."""
    asked = years_mentioned(question)
    covered = years_mentioned(hit.passage.text) | ({hit.passage.year} if hit.passage.year else set())
    if asked and not asked & covered:
        about = f" (it is about {join_or(sorted(covered))})" if covered else ""
        return f"The best-matching passage does not cover {join_or(sorted(asked))}{about}."
    said = years_mentioned(hit.highlight)
    if asked and said and not asked & said:
        return f"The best-matching sentence is about {join_or(sorted(said))}, not {join_or(sorted(asked))}."
    if _PERCENT_ASKED.search(question) and not _PERCENT.search(hit.highlight):
        return "The best-matching passage gives no percentage for this."
    if expected_type(question) == QUANTITY and not offers(hit.highlight, QUANTITY, question):
        return "The best-matching passage gives no figure for this."
    return None

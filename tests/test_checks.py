"""Near-miss checks: an on-topic passage that cannot answer (another year, no figure) is refused with
the reason, and questions it does answer are not."""

from __future__ import annotations

import pytest

from qa.answer.checks import mismatch
from qa.types import Hit, Passage
from qa.years import years_mentioned


def _hit(text: str, highlight: str | None = None, year: int | None = 2011) -> Hit:
    p = Passage("r#1", "r", "Report", "Funds", 1, 0, len(text), text, year=year)
    return Hit(p, 0.9, 1, highlight or text, 0, len(highlight or text))


def test_years_inside_ranges_count():
    assert years_mentioned("From 2008 to 2010, 31 projects; 2011-2012 work; 2008到2010年") == {2008, 2009, 2010, 2011, 2012}
    assert years_mentioned("No. 20039194 and 3500 Yuan") == set()
    assert years_mentioned("the 2010..2012 plan") == {2010, 2011, 2012}  # the filter's ".." join too


@pytest.mark.parametrize("question, text, reason", [
    ("How many people were poor in 2012?", "In 2011 there were 246,600 poor people.", "does not cover 2012 (it is about 2011)"),
    ("兵团2012年计划投入多少扶贫资金？", "The Corps invested 261 million Yuan.", "does not cover 2012"),
    ("How many projects were carried out in 2011?", "From 2008 to 2010, 31 projects were carried out.",
     "sentence is about 2008, 2009 or 2010, not 2011"),  # the report is from 2011; this sentence is not
    ("By what percentage did income grow?", "Income witnessed rapid growth of 300 Yuan.", "no percentage"),
    ("How many towns were covered?", "The towns were covered by the fixed-point work.", "no figure"),
    ("What was the unemployment rate on the farms?", "Field research on three farms studied jobs.", "no percentage"),
])
def test_near_misses_are_refused_with_the_reason(question, text, reason):
    assert reason in mismatch(question, _hit(text))


@pytest.mark.parametrize("question, text", [
    ("How many projects were carried out in 2009?", "From 2008 to 2010, 31 projects were carried out."),
    ("What was the poverty line in 2011?", "The poverty line is 3500 Yuan."),  # the report's year counts
    ("By what percentage did income grow?", "Income grew by 12 percent."),
    ("What was the poverty incidence rate?", "The incidence fell to 3.5%."),
    ("如何提高团场效率？", "It improved the efficiency of the farms."),  # 效率 is efficiency, not a rate
    ("How many households were relocated?", "It relocated 500 households."),
    ("Where were they moved?", "They moved to Zaozi."),
])
def test_passages_that_answer_are_not_refused(question, text):
    assert mismatch(question, _hit(text)) is None


def test_seed_near_miss_is_refused_and_says_why(seed_qa):
    a = seed_qa.ask("What was the per capita medical service area on the poor farms in 2010?")
    assert a.abstained
    assert any("does not cover 2010 (it is about 2011)" in n for n in a.notices)  # 2010 is elsewhere
    answered = seed_qa.ask("What was the per capita medical service area on the poor farms in 2011?")
    assert not answered.abstained and "0.44 square meters" in answered.hits[0].highlight

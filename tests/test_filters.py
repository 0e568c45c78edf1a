"""Filters (reports, years) in the service and the CLI, and the same question answered by two reports."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from qa.search.filters import BadFilter, allowed_rows, parse_years
from qa.types import Passage
from tests.conftest import ROOT, write_corpus

YEARBOOK_2011 = """Riverside County Statistical Yearbook 2011

【Population】 At the end of 2011 the county had a registered population of 412,300 people, of whom 51 percent lived in towns.

【Agriculture】 Grain output reached 186,000 tonnes in 2011, and the sown area of cotton was 23,400 hectares.

【Education】 The county ran 64 primary schools and 12 middle schools with 3,150 teachers.
"""
YEARBOOK_2012 = """Riverside County Statistical Yearbook 2012

【Population】 At the end of 2012 the county had a registered population of 418,900 people, of whom 53 percent lived in towns.

【Agriculture】 Grain output reached 191,500 tonnes in 2012, and the sown area of cotton was 22,800 hectares.

【Health】 Hospitals in the county had 2,040 beds and 1,230 doctors.
"""
FILES = {"riverside-yearbook-2011.txt": YEARBOOK_2011, "riverside-yearbook-2012.txt": YEARBOOK_2012}
Y11, Y12 = "riverside-yearbook-2011", "riverside-yearbook-2012"


@pytest.mark.parametrize("spec, expected", [
    (None, None), ("", None), ("  ", None), ("2011", (2011, 2011)), ("2010-2012", (2010, 2012)),
    (" 2012 – 2010 ", (2010, 2012)), ("2010..2011", (2010, 2011)), ("2010 to 2011", (2010, 2011)),
    ("2010 through 2012", (2010, 2012)), ("2010至2012", (2010, 2012)),  # the joins the answer checks read too
])
def test_parse_years(spec, expected):
    assert parse_years(spec) == expected


@pytest.mark.parametrize("spec", ["11", "2011-", "twenty", "2010-2012-2014", "2011; rm -rf /"])
def test_parse_years_rejects_malformed(spec):
    with pytest.raises(BadFilter, match="year filter"):
        parse_years(spec)


def _p(doc: str, year: int | None) -> Passage:
    return Passage(f"{doc}#x", doc, doc, None, 1, 0, 1, "x", None, year)


def test_allowed_rows():
    ps = [_p("a", 2010), _p("b", 2011), _p("b", 2011), _p("c", None)]
    assert allowed_rows(ps) is None and allowed_rows(ps, [], None) is None
    assert allowed_rows(ps, ["b"]) == {1, 2}
    assert allowed_rows(ps, None, (2010, 2010)) == {0}
    assert allowed_rows(ps, ["a", "b"], (2011, 2012)) == {1, 2}
    with pytest.raises(BadFilter, match="no report with id zzz"):
        allowed_rows(ps, ["zzz"])
    with pytest.raises(BadFilter, match="no report from 2030"):
        allowed_rows(ps, None, (2030, 2030))
    with pytest.raises(BadFilter, match="no report from 2011–2012 among the chosen"):
        allowed_rows(ps, ["a"], (2011, 2012))


@pytest.fixture(scope="module")
def yearbooks(real_embedder, tmp_path_factory):
    from qa.answer.service import ReportQA

    base = tmp_path_factory.mktemp("yearbooks")
    corpus = write_corpus(base / "corpus", FILES)
    return ReportQA.open(corpus, base / "index", real_embedder, xling=False)


def test_two_reports_with_different_figures_are_both_shown(yearbooks):
    a = yearbooks.ask("What was the registered population of the county?")
    assert not a.abstained
    docs = {h.passage.doc for h in a.hits[:2]}
    assert docs == {Y11, Y12}
    assert "412,300" in a.answer and "418,900" in a.answer
    r11 = next(h.rank for h in a.hits if h.passage.doc == Y11)
    r12 = next(h.rank for h in a.hits if h.passage.doc == Y12)
    assert "Riverside County Statistical Yearbook 2011: At the end of 2011" in a.answer
    assert f"412,300 people, of whom 51 percent lived in towns. [{r11}]" in a.answer
    assert f"418,900 people, of whom 53 percent lived in towns. [{r12}]" in a.answer
    assert any("Two reports give different figures" in n for n in a.notices)
    grain = yearbooks.ask("How much grain did the county produce?")
    assert "186,000" in grain.answer and "191,500" in grain.answer


def test_one_report_answers_when_the_question_names_its_year_or_only_one_has_it(yearbooks):
    a = yearbooks.ask("What was the registered population of the county in 2012?")
    assert "418,900" in a.answer and "412,300" not in a.answer
    assert not any("Two reports" in n for n in a.notices)
    schools = yearbooks.ask("How many primary schools were there?")
    assert schools.answer.startswith("The county ran 64 primary schools") and ";" not in schools.answer


def test_filters_by_report_and_year(yearbooks):
    q = "What was the registered population of the county?"
    by_year = yearbooks.ask(q, years="2011")
    assert {h.passage.doc for h in by_year.hits} == {Y11} and "412,300" in by_year.answer
    assert "418,900" not in by_year.answer
    by_doc = yearbooks.ask(q, docs=[Y12])
    assert {h.passage.doc for h in by_doc.hits} == {Y12} and "418,900" in by_doc.answer
    both = yearbooks.ask(q, years=(2010, 2012), docs={Y11, Y12})
    assert {h.passage.doc for h in both.hits} == {Y11, Y12}
    assert yearbooks.ask(q, [], years=None, docs=None).answer == yearbooks.ask(q).answer  # old calls unchanged
    with pytest.raises(BadFilter, match="no report from 2013"):
        yearbooks.ask(q, years="2013")
    with pytest.raises(BadFilter, match="no report with id nope"):
        yearbooks.ask(q, docs=["nope"])


def test_cli_doc_and_year_flags(tmp_path):
    corpus = write_corpus(tmp_path / "corpus", FILES)
    env_cmd = [sys.executable, "-m", "qa", "ask", "-q", "--no-cross-lingual", "--corpus", str(corpus),
               "--index", str(tmp_path / "index"), "--json"]
    r = subprocess.run([*env_cmd, "How much grain did the county produce?", "--year", "2012"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert {p["doc"] for p in j["passages"]} == {Y12} and "191,500" in j["answer"]
    assert all(p["year"] == 2012 for p in j["passages"])
    r = subprocess.run([*env_cmd, "How much grain did the county produce?", "--doc", Y11, "--year", "2010-2011"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    j = json.loads(r.stdout)
    assert {p["doc"] for p in j["passages"]} == {Y11} and "186,000" in j["answer"]
    bad = subprocess.run([*env_cmd, "grain?", "--year", "soon"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert bad.returncode == 2 and "year filter 'soon'" in bad.stderr and bad.stdout == ""

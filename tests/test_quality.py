"""Regression test on quality: the default mode on the shipped question set, real model and report.

The floors sit a little under the figures measured when they were set (README, "Quality"), so a change
that makes retrieval worse fails here; the README's targets that are not yet met are stated there.
"""

from __future__ import annotations

import pytest

from qa.eval.evaluate import evaluate
from qa.eval.questions import load_questions
from qa.search.answer_type import asked_ordinal, expected_type, offers, starts_item
from tests.conftest import ROOT

QUESTIONS = ROOT / "corpus" / "xpcc-poverty-alleviation-2011.questions.jsonl"
HOLDOUT = ROOT / "tests" / "data" / "holdout.questions.jsonl"
UNSEEN = ROOT / "tests" / "data" / "unseen.questions.jsonl"
NEARMISS = ROOT / "tests" / "data" / "nearmiss.questions.jsonl"
REPLY = ROOT / "tests" / "data" / "reply.questions.jsonl"


@pytest.fixture(scope="module")
def report(seed_qa):
    return evaluate(seed_qa, load_questions(QUESTIONS), ["dense", "hybrid"])


def test_hybrid_beats_dense_on_the_shipped_set(report):
    dense, hybrid = report.summary("dense"), report.summary("hybrid")
    for metric in ("Hit@1", "MRR@10", "nDCG@10", "answer in highlight", "Hit@1 Chinese"):
        assert hybrid[metric] > dense[metric], metric


def test_hybrid_quality_floors(report):
    s = report.summary("hybrid")
    assert s["Hit@1 English"] >= 0.92
    assert s["Hit@1 Chinese"] >= 0.89
    assert s["answer in highlight"] >= 0.89
    assert s["abstention recall"] >= 0.75
    assert s["abstained (answerable)"] <= 0.05
    follow_ups = report.by_type("hybrid")["follow-up"]
    assert follow_ups["Hit@1"] >= 0.90


# Measured 2026-12-07 with the typed answer check (docs/reader.md): abstention recall 0.75 / 0.50 / 0.80,
# answerable abstained 0.014 / 0.062 / 0.000 (held-out / unseen / reply). The floors sit a little under.
@pytest.mark.parametrize("path, floors, most_refused", [
    (HOLDOUT, {"Hit@1 English": 0.93, "Hit@1 Chinese": 0.70, "answer in highlight": 0.75, "abstention recall": 0.70}, 0.05),
    (UNSEEN, {"Hit@1 English": 0.92, "Hit@1 Chinese": 0.65, "answer in highlight": 0.75, "abstention recall": 0.45}, 0.07),
    (REPLY, {"Hit@1 English": 0.93, "Hit@1 Chinese": 0.85, "answer in highlight": 0.82, "abstention recall": 0.75}, 0.03),
], ids=["held-out", "unseen", "reply"])
def test_hybrid_quality_floors_on_questions_never_tuned_on(seed_qa, path, floors, most_refused):
    # Question sets written blind from the passages after the settings were chosen: the figures unseen
    # questions get (README, "Quality"); the unseen and reply sets are only ever measured in aggregate.
    s = evaluate(seed_qa, load_questions(path), ["hybrid"]).summary("hybrid")
    for metric, floor in floors.items():
        assert s[metric] >= floor, metric
    assert s["abstained (answerable)"] <= most_refused


# Measured 2026-12-07 (docs/reader.md; typed candidates, grammar-constrained spans, 0.5B model): on these two
# sets pooled, answer in span 51/89 at a median of 3 words, answerable refused 7/89 (the typed check, with or
# without the reader). The floors sit a little under.
READER_FLOORS = {"answer in span": 0.50, "Hit@1 English": 0.9}
READER_MAX_WRONGLY_ABSTAINED = 0.10


@pytest.fixture(scope="module")
def reader_qa(seed_qa):
    """The seed ReportQA's index and models with the real reader (a separate object: other tests ask
    `seed_qa` without it)."""
    from qa.answer.reader_runtime import ReaderSlot, load_reader
    from qa.answer.service import ReportQA

    return ReportQA(seed_qa.index, seed_qa.embedder, xling=seed_qa.retriever.xling,
                    reader=ReaderSlot(reader=load_reader()))


def test_reader_quality_floors_on_the_blind_sets(reader_qa):
    # The two sets only ever measured in aggregate, pooled (docs/reader.md): the reader against
    # the same questions answered without it, in one run.
    report = evaluate(reader_qa, load_questions(UNSEEN) + load_questions(NEARMISS), ["hybrid", "hybrid+reader"])
    without, with_reader = report.summary("hybrid"), report.summary("hybrid+reader")
    for metric, floor in READER_FLOORS.items():
        assert with_reader[metric] >= floor, (metric, with_reader[metric])
    assert with_reader["abstained (answerable)"] <= READER_MAX_WRONGLY_ABSTAINED
    assert with_reader["span words (median)"] <= 8
    assert with_reader["abstention recall"] >= without["abstention recall"]  # it never answers what was refused
    assert with_reader["abstained (answerable)"] <= without["abstained (answerable)"]  # nor refuses a good answer
    assert with_reader["Hit@1 English"] == without["Hit@1 English"]  # it reads, it does not re-rank


@pytest.mark.parametrize("question, kind", [
    ("How many households were relocated?", "quantity"), ("兵团有多少贫困人口？", "quantity"),
    ("When was the conference convened?", "date"), ("Who attended the meeting?", "agent"),
    ("Where were they moved to?", "place"), ("Why did they have to leave?", "reason"), ("What did he suggest?", None),
    ("为什么要搬迁？", "reason"), ("要求把扶贫开发作为什么任务来抓？", None),
    ("Where did the Corps go to study why farms struggle?", "place"),
    ("What prize did the Corps win?", "award"), ("兵团获得了什么奖？", "award"),
    ("Which plan did he want carried out?", "title"), ("调研报告的题目是什么？", "title"),
    ("Over what period did the exhibition show the results?", "date"),
])
def test_expected_answer_type(question, kind):
    assert expected_type(question) == kind


def test_a_sentence_offers_an_answer_only_if_the_question_lacks_it():
    assert offers("It relocated 500 households to Zaozi.", "quantity", "How many households moved?")
    assert not offers("It relocated 500 households to Zaozi.", "quantity", "Were 500 households moved?")
    assert offers("The conference was convened in 2011.", "date", "When was the conference?")
    assert not offers("It strived to boost the development.", "agent", "Who boosted it?")
    assert offers("It won the “Organization Participation Award” of the committee.", "award", "What prize?")
    assert not offers("It held the exhibition themed “common prosperity”.", "award", "What prize?")
    assert offers("The ranch had harsh conditions not suitable for living.", "reason", "Why did they leave?")
    assert not offers("The ranch grew in 2011.", "reason", "Why did they leave?")
    assert not offers("It was done in order to help.", "reason", "Why was it done in order to help?")
    assert offers("It held the exhibition themed “common prosperity”.", "title", "What was the theme?")
    assert offers("It showed the first decade of the new century.", "date", "Over what period?")
    # "Where … to?" wants the destination: a name after "to", not any place the sentence names
    assert offers("It relocated 500 households to Zaozi Zone.", "place", "Where were they moved to?")
    assert not offers("In the Beita Mountain Ranch, people were moved out.", "place", "Where were they moved to?")
    assert offers("In the Beita Mountain Ranch, people were moved out.", "place", "Where were people moved from?")


def test_list_items_are_recognised_for_ordinal_questions():
    assert asked_ordinal("What was the sixth point he made?") == "sixth"
    assert asked_ordinal("他的第一条建议是什么？") == "first"
    assert asked_ordinal("How many farms were there?") is None
    assert asked_ordinal("Who was the second-in-command?") is None  # not a list item
    assert asked_ordinal("What happened in the first decade?") is None
    assert starts_item("Sixth, we should go on.", "sixth")
    assert starts_item("He made suggestions: First, we must lead.", "first")
    assert not starts_item("It was the first decade of the century.", "first")


ZH = ROOT / "tests" / "data" / "zh.questions.jsonl"
ZH_REPORT = ROOT / "tests" / "data" / "zh-report"


def test_chinese_questions_about_a_chinese_report(real_embedder, tmp_path_factory):
    """A Chinese report: a Chinese edition of the bundled one (tests/data/zh-report, translated for the
    tests), with a question set written blind from it alone (docs/bilingual.md). Measured 2026-12-07:
    Hit@1 Chinese 35/38 0.921 (follow-ups 8/8), English questions 9/14 0.643, abstention recall 7/12,
    answerable abstained 6/52. The floors sit a little under."""
    from qa.answer.service import ReportQA
    from qa.index.embed import CrossLingualEmbedder

    base = tmp_path_factory.mktemp("zh")
    qa = ReportQA.open(ZH_REPORT, base / "index", real_embedder, xling=CrossLingualEmbedder())
    report = evaluate(qa, load_questions(ZH), ["hybrid"])
    s = report.summary("hybrid")
    assert s["Hit@1 Chinese"] >= 0.87 and report.by_type("hybrid")["zh-zh-follow-up"]["Hit@1"] >= 0.85
    assert s["Hit@1 English"] >= 0.55
    assert s["abstention recall"] >= 0.45 and s["abstained (answerable)"] <= 0.15

"""`qa.answer.judge` and `qa.answer.compose`: confidence labels from the calibrated evidence, the two-model
agreement rule, and the judge's rules in order."""

from __future__ import annotations

from dataclasses import replace

from qa.answer.compose import compose
from qa.answer.judge import THRESHOLDS, judge_before_reading, make_hits, models_disagree
from qa.search.records import LocalRecords
from qa.search.retrieve import Candidate
from tests.conftest import hash_retriever

TEXT = "Report\n\n【Wells】 The county drilled 417 wells.\n\n【Roads】 The county built 30 km of roads.\n"


def test_labels_follow_the_calibrated_evidence_and_the_second_models_agreement(tmp_path):
    index, _ = hash_retriever(tmp_path, TEXT)
    t = THRESHOLDS["hybrid"]
    first = Candidate(0, 1.4, -1, 0.0, fused=0.9)  # ranked with e5's bonus; evidence 0.9 ≥ strong (0.85)
    second = Candidate(1, 1.35, -1, 0.0, fused=0.88)  # within the 0.08 margin of the first
    hits = make_hits(LocalRecords(index), [first, second], t)
    assert [h.confidence for h in hits] == ["strong", "strong"]  # no second model asked: labels as calibrated
    disagree = [replace(first, second_first=False), replace(second, second_first=True)]
    hits = make_hits(LocalRecords(index), disagree, t)
    assert [h.confidence for h in hits] == ["possible", "strong"]  # e5 put the other passage first
    assert "puts [2] first" in models_disagree(disagree, hits, t)
    off = make_hits(LocalRecords(index), disagree, t, disagreement=False)  # the rule switched off (an experiment): no lowering
    assert [h.confidence for h in off] == ["strong", "strong"]
    assert models_disagree([first, second], make_hits(LocalRecords(index), [first, second], t), t) is None  # no second model
    assert models_disagree([replace(first, second_first=False, fused=0.7)], hits[:1], t) is None  # "possible" anyway
    answer = compose("q", "q", hits, t, mode="hybrid")
    assert not answer.abstained and "[2]" in answer.answer  # the passage e5 preferred is shown too
    weak = make_hits(LocalRecords(index), [Candidate(0, 0.5, -1, 0.0, second_first=True)], t)
    verdict = judge_before_reading("q", weak, mode="hybrid", missing=[])
    assert weak[0].confidence == "weak" and verdict.reasons == ["threshold"] and verdict.abstains
    assert compose("q", "q", weak, t, mode="hybrid", abstain=verdict.abstains).abstained


def test_the_first_rule_that_abstains_decides_and_says_why(tmp_path):
    index, _ = hash_retriever(tmp_path, TEXT)
    t = THRESHOLDS["hybrid"]
    hits = make_hits(LocalRecords(index), [Candidate(0, 1.4, -1, 0.0, fused=0.9)], t)
    missing = judge_before_reading("How many wells in Gansu?", hits, mode="hybrid", missing=["Gansu"])
    assert missing.reasons == ["missing"] and missing.notices == ["The reports do not mention Gansu."]
    acronym = judge_before_reading("How many wells did XPCC drill?", hits, mode="hybrid", missing=["XPCC"])
    assert acronym.reasons == [] and acronym.notices == ["The reports do not mention XPCC."]  # notice only
    off = judge_before_reading("How many wells in Gansu?", hits, mode="hybrid", missing=["Gansu"],
                               rules={"threshold", "near-miss"})
    assert off.reasons == [] and not off.abstains  # a rule switched off does not fire
    near = judge_before_reading("How many wells were drilled in 2015?", hits, mode="hybrid", missing=[])
    assert near.reasons == ["near-miss"] and "2015" in near.notices[0]
    assert judge_before_reading("q", [], mode="hybrid", missing=[], rules=set()).reasons == ["threshold"]

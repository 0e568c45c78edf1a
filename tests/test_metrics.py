"""Ranking metrics on hand-computed cases, then against ir_measures (trec_eval) on the same runs."""

from __future__ import annotations

import math
import random

import pytest

from qa.eval.metrics import (
    hit_at,
    ndcg_at,
    ranking_metrics,
    recall_at,
    reciprocal_rank,
    write_trec_qrels,
    write_trec_run,
)

RANKED = ["d1", "d2", "d3", "d4", "d5"]


def test_hand_computed_values():
    rel = {"d2", "d5", "d9"}  # d9 is never retrieved
    assert hit_at(RANKED, rel, 1) == 0.0 and hit_at(RANKED, rel, 2) == 1.0
    assert recall_at(RANKED, rel, 3) == pytest.approx(1 / 3)
    assert recall_at(RANKED, rel, 5) == pytest.approx(2 / 3)
    assert reciprocal_rank(RANKED, rel, 10) == 0.5 and reciprocal_rank(RANKED, rel, 1) == 0.0
    dcg = 1 / math.log2(3) + 1 / math.log2(6)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at(RANKED, rel, 10) == pytest.approx(dcg / idcg)
    assert ndcg_at(["d2"], {"d2"}, 10) == 1.0


def test_edge_cases():
    assert ranking_metrics([], {"d1"}) == {"Hit@1": 0, "Recall@3": 0, "Recall@5": 0, "Recall@10": 0, "MRR@10": 0, "nDCG@10": 0}
    assert recall_at(RANKED, set(), 5) == 0.0 and ndcg_at(RANKED, set(), 10) == 0.0


def _random_case(rng: random.Random):
    docs = [f"d{i}" for i in range(30)]
    qrels, run = {}, {}
    for q in range(40):
        qid = f"q{q}"
        qrels[qid] = set(rng.sample(docs, rng.randint(1, 4)))
        ranked = rng.sample(docs, rng.randint(1, 15))
        run[qid] = [(d, 100.0 - i) for i, d in enumerate(ranked)]  # distinct scores: trec_eval keeps our order
    return qrels, run


def test_agrees_with_ir_measures(tmp_path):
    ir_measures = pytest.importorskip("ir_measures")
    qrels, run = _random_case(random.Random(7))
    names = {"Hit@1": "Success@1", "Recall@3": "R@3", "Recall@5": "R@5", "Recall@10": "R@10",
             "MRR@10": "RR@10", "nDCG@10": "nDCG@10"}
    # through the TREC files this module writes, so the writers are checked too
    write_trec_run(tmp_path / "run", run, "test")
    write_trec_qrels(tmp_path / "qrels", qrels)
    theirs = {}
    for row in ir_measures.iter_calc([ir_measures.parse_measure(m) for m in names.values()],
                                     ir_measures.read_trec_qrels(str(tmp_path / "qrels")),
                                     ir_measures.read_trec_run(str(tmp_path / "run"))):
        theirs[(row.query_id, str(row.measure))] = row.value
    for qid, ranked in run.items():
        ours = ranking_metrics([d for d, _ in ranked], qrels[qid])
        for name, measure in names.items():
            assert ours[name] == pytest.approx(theirs[(qid, measure)], abs=1e-9), (qid, name)


def test_trec_run_format(tmp_path):
    write_trec_run(tmp_path / "r", {"q1": [("doc#a", 0.9), ("doc#b", 0.25)]}, "qa-dense")
    assert (tmp_path / "r").read_text().splitlines() == ["q1 Q0 doc#a 1 0.900000 qa-dense",
                                                         "q1 Q0 doc#b 2 0.250000 qa-dense"]

"""Ranking metrics for one question (binary relevance), and TREC run/qrels files.

Computed by hand so per-question values are at hand for per-type tables and failure lists;
tests/test_metrics.py checks every one against ir_measures (trec_eval) on the same runs. Definitions
follow trec_eval: Hit@k = success@k; Recall@k = relevant found in the top k / all relevant;
MRR@k = 1/rank of the first relevant within k (else 0); nDCG@k with gain 1 and discount log2(rank+1).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path

# The metrics of the evaluation table, in display order: name → (kind, cut-off).
RANKING_METRICS: dict[str, tuple[str, int]] = {
    "Hit@1": ("hit", 1),
    "Recall@3": ("recall", 3),
    "Recall@5": ("recall", 5),
    "Recall@10": ("recall", 10),
    "MRR@10": ("rr", 10),
    "nDCG@10": ("ndcg", 10),
}


def percentile(xs: list[float], q: float) -> float:
    """The nearest-rank percentile (q in 0..1) of a list of timings, for the p95 columns."""
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def timings(xs: Sequence[float], unit: str = "ms") -> dict:
    """The one summary of a list of timings every benchmark prints: count, median and p95 (keys
    `p50_<unit>`, `p95_<unit>`; None for no timings)."""
    if not xs:
        return {"n": 0, f"p50_{unit}": None, f"p95_{unit}": None}
    return {"n": len(xs), f"p50_{unit}": statistics.median(xs), f"p95_{unit}": percentile(list(xs), 0.95)}


def hit_at(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    return 1.0 if any(d in relevant for d in ranked[:k]) else 0.0


def recall_at(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def reciprocal_rank(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    for i, d in enumerate(ranked[:k], 1):
        if d in relevant:
            return 1.0 / i
    return 0.0


def ndcg_at(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    dcg = sum(1.0 / math.log2(i + 1) for i, d in enumerate(ranked[:k], 1) if d in relevant)
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(k, len(relevant)) + 1))
    return dcg / ideal if ideal else 0.0


_KINDS = {"hit": hit_at, "recall": recall_at, "rr": reciprocal_rank, "ndcg": ndcg_at}


def ranking_metrics(ranked: Sequence[str], relevant: set[str]) -> dict[str, float]:
    return {name: _KINDS[kind](ranked, relevant, k) for name, (kind, k) in RANKING_METRICS.items()}


def first_relevant_rank(ranked: Sequence[str], relevant: set[str]) -> int | None:
    return next((i for i, d in enumerate(ranked, 1) if d in relevant), None)


def mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None


def write_trec_run(path: Path, run: dict[str, Sequence[tuple[str, float]]], name: str) -> None:
    """`qid Q0 docid rank score name` per line, ranks from 1 in the given order."""
    with open(path, "w", encoding="utf-8") as f:
        for qid, ranked in run.items():
            for rank, (doc, score) in enumerate(ranked, 1):
                f.write(f"{qid} Q0 {doc} {rank} {score:.6f} {name}\n")


def write_trec_qrels(path: Path, qrels: dict[str, Iterable[str]]) -> None:
    """`qid 0 docid 1` per relevant passage."""
    with open(path, "w", encoding="utf-8") as f:
        for qid, docs in qrels.items():
            for doc in docs:
                f.write(f"{qid} 0 {doc} 1\n")

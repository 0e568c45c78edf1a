"""Same answers, two backends: every question of the sets asked of the local and the Milvus backend.

`python -m qa.bench.backends [--index DIR] [--milvus-uri URI] [--lean] [FILE.questions.jsonl …]` prints, per
question set and overall: the share of questions whose top passage is the same, Hit@1 of each backend,
and the per-question time of each (`ask` without the reader: retrieval, sentence evidence, judging).
The issue's target: same top passage for ≥ 99 % of questions, Hit@1 within 0.01. With `--lean` the Milvus
side is a lean replica (passages, units and vectors read from Milvus per question; docs/scaling.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from qa.eval.metrics import hit_at, mean, percentile
from qa.eval.questions import Question, load_questions


def _run(qa, questions: list[Question], k: int) -> tuple[list[list[str]], list[float]]:
    ranked, ms = [], []
    for q in questions:
        t0 = time.perf_counter()
        a = qa.ask(q.question, list(q.history), k=k, read=False)
        ms.append((time.perf_counter() - t0) * 1000)
        ranked.append([h.passage.id for h in a.hits])
    return ranked, ms


def compare(local, milvus, questions: list[Question], k: int = 10) -> dict:
    """Top-passage agreement, Hit@1 and per-question milliseconds of two `ReportQA`s on one question list."""
    _run(local, questions[:3], k)  # warm both (models, caches, the Milvus connection)
    _run(milvus, questions[:3], k)
    return summary(questions, *_run(local, questions, k), *_run(milvus, questions, k))


def summary(questions: list[Question], lr, lms, mr, mms) -> dict:
    same = [(a[:1] == b[:1]) for a, b in zip(lr, mr)]
    rel = [set(q.relevant) for q in questions]
    answerable = [i for i, r in enumerate(rel) if r]
    return {
        "questions": len(questions),
        "same_top": round(sum(same) / len(same), 4),
        "differ": [questions[i].id for i, s in enumerate(same) if not s],
        "hit1_local": round(mean(hit_at(lr[i], rel[i], 1) for i in answerable) or 0.0, 4),
        "hit1_milvus": round(mean(hit_at(mr[i], rel[i], 1) for i in answerable) or 0.0, 4),
        "ms_local": {"p50": round(percentile(lms, 0.5), 1), "p95": round(percentile(lms, 0.95), 1)},
        "ms_milvus": {"p50": round(percentile(mms, 0.5), 1), "p95": round(percentile(mms, 0.95), 1)},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="*", type=Path)
    p.add_argument("--corpus", type=Path, default=Path("corpus"))
    p.add_argument("--index", type=Path, default=Path("index"))
    p.add_argument("--milvus-uri", default=os.environ.get("QA_MILVUS_URI"))
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--lean", action="store_true", help="compare a lean Milvus replica with the local backend")
    args = p.parse_args(argv)
    from qa.answer.service import ReportQA
    from qa.index.embed import CrossLingualEmbedder
    from qa.index.onnx_encoder import default_embedder

    embedder, xling = default_embedder(), CrossLingualEmbedder()
    local = ReportQA.open(args.corpus, args.index, embedder, xling=xling)
    milvus = ReportQA.open(args.corpus, args.index, embedder, xling=xling, backend="milvus", milvus_uri=args.milvus_uri)
    if args.lean:
        milvus = ReportQA.open(args.corpus, args.index, embedder, xling=xling, backend="milvus", read_only=True,
                               store=milvus.store)
    files = args.files or sorted(args.corpus.glob("*.questions.jsonl"))
    out, every = {}, [[], [], [], [], []]
    local.retriever.translator.warm()  # load what a Chinese question needs before anything is timed
    local.retriever.xling.encode(["warm up"], query=True)
    _run(local, load_questions(files[0])[:3], args.k)  # warm both
    _run(milvus, load_questions(files[0])[:3], args.k)
    for f in files:
        qs = load_questions(f)
        runs = (*_run(local, qs, args.k), *_run(milvus, qs, args.k))
        out[f.name] = summary(qs, *runs)
        for acc, part in zip(every, (qs, *runs)):
            acc += part
    out["all"] = summary(*every)
    print(json.dumps(out, indent=2, ensure_ascii=False))
    milvus.retriever.backend.client.close()
    try:  # milvus-lite: stop its in-process server now rather than at exit
        from milvus_lite.server_manager import server_manager_instance
    except ImportError:
        return 0
    server_manager_instance.release_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())

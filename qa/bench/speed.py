"""`python -m qa bench`: speed figures for the README, measured in one run on this machine.

Index build time is shown next to the raw cost of `model.encode` on the same unit texts (the
baseline), so the pipeline's own overhead is visible. Query latency is warm (after one question),
median and 95th percentile, per retrieval mode, over the shipped question set.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from qa.eval.metrics import timings


def _questions(corpus: Path) -> list[dict]:
    rows = []
    for f in sorted(corpus.glob("*.questions.jsonl")):
        rows += [json.loads(line) for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not rows:
        rows = [{"question": "What poverty line did the Corps set?", "history": []}]
    return rows


def run_bench(corpus: Path, embedder, xling, *, repeats: int = 1) -> dict:
    from qa.answer.service import ReportQA
    from qa.index.build import open_index
    from qa.ingest.corpus import load_corpus
    from qa.ingest.units import build_units, embedding_text

    out: dict = {}
    t0 = time.perf_counter()
    embedder.encode(["warm up"])
    out["model_load_s"] = time.perf_counter() - t0
    if xling:
        t0 = time.perf_counter()
        xling.encode(["warm up"])
        out["xling_load_s"] = time.perf_counter() - t0

    passages = load_corpus(corpus).passages
    units = build_units(passages, embedder.max_words)
    texts = [embedding_text(passages[u.passage], u) for u in units]
    out["passages"], out["units"] = len(passages), len(units)
    t0 = time.perf_counter()
    embedder.encode(texts)
    out["raw_encode_s"] = time.perf_counter() - t0
    if xling:
        t0 = time.perf_counter()
        xling.encode([u.text for u in units])
        out["raw_xling_encode_s"] = time.perf_counter() - t0

    tmp = Path(tempfile.mkdtemp(prefix="qa-bench-"))
    try:
        out.update(build_times(corpus, tmp, embedder, xling))
        t0 = time.perf_counter()
        open_index(corpus, tmp / ("build_xling_s" if xling else "build_s"), embedder, xling=xling)
        out["index_load_s"] = time.perf_counter() - t0
        qa = ReportQA.open(corpus, tmp / ("build_xling_s" if xling else "build_s"), embedder, xling=xling or False)
        latency = _latency(qa, _questions(corpus), repeats)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out["latency"] = latency
    return out


def build_times(corpus: Path, tmp: Path, embedder, xling) -> dict[str, float]:
    """Seconds of a full index build (in `tmp`), English model only and with the cross-lingual vectors."""
    from qa.index.build import open_index

    out = {}
    for label, x in (("build_s", None), ("build_xling_s", xling)) if xling else (("build_s", None),):
        shutil.rmtree(tmp / label, ignore_errors=True)
        t0 = time.perf_counter()
        open_index(corpus, tmp / label, embedder, xling=x)
        out[label] = time.perf_counter() - t0
    return out


def _latency(qa, questions: list[dict], repeats: int, only: tuple[str, ...] | None = None) -> dict:
    """Warm per-question latency per mode; `only`: the labels of the modes to run (default all)."""
    from qa.search.lexical import has_cjk

    latency: dict[str, dict] = {}
    retriever = qa.retriever
    weights = retriever.weights
    # the default hybrid (e5's second opinion only where it can change the outcome: second_opinion_can_change),
    # then with the cross-lingual vectors the same with e5 on every question (before that rule) and without it
    runs = [("dense", "dense", weights, False), ("bm25", "bm25", weights, False), ("hybrid", "hybrid", weights, False)]
    if retriever.xling is not None:
        runs += [("hybrid, e5 on every question", "hybrid", weights, True),
                 ("hybrid without e5's second opinion", "hybrid", replace(weights, second_dense=0.0), False)]
    e5 = retriever._second[0] if retriever._second is not None else None
    onnx = e5.questions() if hasattr(e5, "questions") else None
    if onnx is not None:  # the same questions with e5's own C engine encoding them (before qa/index/e5_onnx.py)
        runs += [("hybrid, e5's questions by its C engine", "hybrid", weights, False)]
    runs = [r for r in runs if only is None or r[0] in only]
    try:
        for label, mode, w, always in runs:
            retriever.weights, retriever.second_always = w, always
            if onnx is not None:
                e5._questions = None if label == "hybrid, e5's questions by its C engine" else onnx
            qa.ask("warm up question", mode=mode)
            times: dict[str, list[float]] = {"english": [], "chinese": []}
            asked: dict[str, list[bool]] = {"english": [], "chinese": []}  # did e5 encode the question?
            for _ in range(repeats):
                for q in questions:
                    kind = "chinese" if has_cjk(q["question"]) else "english"
                    before = retriever.second_calls["encoded"]
                    t0 = time.perf_counter()
                    qa.ask(q["question"], q.get("history") or [], mode=mode)
                    times[kind].append((time.perf_counter() - t0) * 1000)
                    asked[kind].append(retriever.second_calls["encoded"] > before)
            latency[label] = {k: {**timings(v), "e5_share": sum(asked[k]) / len(v)} for k, v in times.items() if v}
    finally:
        retriever.weights, retriever.second_always = weights, False
        if onnx is not None:
            e5._questions = onnx
    return latency


def to_markdown(r: dict) -> str:
    lines = [
        f"Corpus: {r['passages']} passages, {r['units']} embedded units (sentences and sentence windows).",
        "",
        "| step | seconds |",
        "|---|---:|",
        f"| load all-MiniLM-L6-v2 (first encode) | {r['model_load_s']:.2f} |",
        f"| raw `model.encode` of all units (baseline) | {r['raw_encode_s']:.2f} |",
        f"| full index build, English model only (ingest + encode + FAISS + write) | {r['build_s']:.2f} |",
    ]
    if "build_xling_s" in r:
        lines += [
            f"| raw cross-lingual encode of all units (USE + e5) | {r['raw_xling_encode_s']:.2f} |",
            f"| full index build with the cross-lingual vectors (default; both encodes + FAISS + write) | {r['build_xling_s']:.2f} |",
        ]
    lines += [f"| load a built index (checksums verified) | {r['index_load_s']:.3f} |", "",
              "| mode | questions | warm latency p50 (ms) | p95 (ms) | e5 encodes it for a second opinion |",
              "|---|---|---:|---:|---:|"]
    for mode, kinds in r["latency"].items():
        for kind, v in kinds.items():
            lines.append(f"| {mode} | {kind} ({v['n']}) | {v['p50_ms']:.1f} | {v['p95_ms']:.1f} | "
                         f"{v.get('e5_share', 0):.0%} |")
    return "\n".join(lines)


_TOPICS = ("schools", "clinics", "roads", "wells", "farms", "housing", "markets", "bridges", "factories", "parks")
_PLACES = ("county", "district", "township", "prefecture", "valley", "corps division")


def synthetic_corpus(folder: Path, documents: int = 40, paragraphs: int = 10, *, edition: int = 0) -> Path:
    """`documents` yearbook-like reports of `paragraphs` sections each (3 sentences a paragraph, varied numbers)."""
    import random

    folder.mkdir(parents=True, exist_ok=True)
    for d in range(documents):
        rng = random.Random(d * 1000 + edition)
        year = 2000 + d % 20
        place = _PLACES[d % len(_PLACES)]
        paras = []
        for i in range(paragraphs):
            topic = _TOPICS[i % len(_TOPICS)]
            a, b, c = rng.randint(2, 900), rng.randint(10, 99), rng.randint(1, 40)
            paras.append(f"【{topic.title()} {i + 1}】 In {year} the {place} number {d} built {a} new {topic} "
                         f"with funds of {b} million yuan. Coverage of {topic} rose by {c} percent over the year "
                         f"in report {d}. Officials of the {place} said the work on {topic} would continue with "
                         f"{rng.randint(3, 70)} further projects planned.")
        (folder / f"yearbook-{d:02d}-{year}.txt").write_text(
            f"Yearbook {d} of the {place} ({year})\n\n" + "\n\n".join(paras) + "\n", encoding="utf-8")
    return folder


def incremental_bench(embedder, xling=None, *, documents: int = 40, paragraphs: int = 10) -> dict:
    """Full build of a synthetic corpus, then an update after one file changed: seconds and ratio."""
    from qa.index.build import open_index

    embedder.encode(["warm up"])
    if xling:
        xling.encode(["warm up"])
    tmp = Path(tempfile.mkdtemp(prefix="qa-bench-incr-"))
    try:
        corpus = synthetic_corpus(tmp / "corpus", documents, paragraphs)
        t0, c0 = time.perf_counter(), time.process_time()
        _, full = open_index(corpus, tmp / "index", embedder, xling=xling)
        full_s, full_cpu = time.perf_counter() - t0, time.process_time() - c0
        synthetic_corpus(tmp / "edit", 1, paragraphs, edition=1)  # document 0 with other figures
        changed = next(corpus.glob("yearbook-00-*.txt"))
        changed.write_text(next((tmp / "edit").glob("*.txt")).read_text(encoding="utf-8"), encoding="utf-8")
        t0, c0 = time.perf_counter(), time.process_time()
        _, incr = open_index(corpus, tmp / "index", embedder, xling=xling)
        incr_s, incr_cpu = time.perf_counter() - t0, time.process_time() - c0
        t0 = time.perf_counter()
        open_index(corpus, tmp / "index", embedder, xling=xling)
        load_s = time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"documents": documents, "paragraphs": documents * paragraphs, "units": full.units,
            "cross_lingual": bool(xling), "full_s": full_s, "incremental_s": incr_s, "ratio": incr_s / full_s,
            "full_cpu_s": full_cpu, "incremental_cpu_s": incr_cpu,
            "unchanged_load_s": load_s, "changed": list(incr.changed), "embedded": incr.embedded,
            "reused": incr.reused, "xling_embedded": incr.xling_embedded, "xling_reused": incr.xling_reused}


def incremental_markdown(r: dict) -> str:
    return "\n".join([
        f"Synthetic corpus: {r['documents']} reports, {r['paragraphs']} paragraphs, {r['units']} embedded units"
        + (" (+ cross-lingual vectors)" if r["cross_lingual"] else "") + "; then one report rewritten.",
        "",
        "| step | wall seconds | CPU seconds (all threads) |",
        "|---|---:|---:|",
        f"| full build | {r['full_s']:.2f} | {r['full_cpu_s']:.2f} |",
        f"| incremental update, 1 file changed ({r['embedded']} units embedded, {r['reused']} reused) "
        f"| {r['incremental_s']:.2f} | {r['incremental_cpu_s']:.2f} |",
        f"| open with nothing changed | {r['unchanged_load_s']:.2f} | |",
        "",
        f"Incremental / full: {r['ratio']:.1%} of the wall time, "
        f"{r['incremental_cpu_s'] / r['full_cpu_s']:.1%} of the CPU time.",
    ])

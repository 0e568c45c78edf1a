"""`python -m qa bench --scale-hybrid`: per-question time of the whole hybrid retrieval at 10^3…10^6 passages.

What is timed is `Retriever.search(question, k, mode="hybrid")` with the local backend: the candidate
legs (FAISS dense leg, bm25s lexical leg) plus everything after them (sentence evidence, the highlight,
the second-opinion and discount steps). Not timed: the reader, and query encoding — the question
vectors are looked up from a table filled beforehand (`LookupEmbedder`); one real ONNX MiniLM encode per
question is measured apart and reported on its own line.

The corpus is SYNTHETIC and report-like (`qa.bench.synthetic_text`): English passages of 1–3 sentences, each sentence either a real
sentence of the bundled report or 8–30 words drawn with a Zipf distribution from the report's own
words (most frequent first) followed by made-up proper names, with numbers (years, "3,500", "12.39
million Yuan") in about 40 % of sentences; section headings are the report's 【…】 headings; 50 passages
per report. Units are the passages' sentences (1–3 per passage, ~1.8 on average), and their vectors are
the clustered synthetic vectors of `qa.bench.scale` (no model runs), so the dense leg behaves as on real
embeddings and the lexical legs see real-looking term statistics. The index is built directly as a
`LoadedIndex` (FAISS index as `vectorstore.choose_index` picks it), not by `qa index`.

Questions: half the shipped question set's first questions, half generated from the same vocabulary
(some with numbers). Time per question is split into the dense leg (FAISS search and the best unit per
passage), the lexical legs (the rest of `backend.candidates`: BM25, top rows, normalisers) and the rest
(scoring every candidate: sentence evidence, highlight, the hybrid steps).
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

from qa.bench.scale import _peak_rss_mb, _rss_mb, synthetic
from qa.bench.synthetic_text import ROOT, Vocabulary, questions, synthetic_corpus
from qa.eval.metrics import percentile, timings
from qa.index import vectorstore as vs
from qa.index.folder import LoadedIndex
from qa.paths import cache_dir

DIM = 384
K = 10  # the evaluation's k (`qa eval`), deeper than `qa ask`'s 5


class LookupEmbedder:
    """Question vectors looked up from a table filled beforehand (the `Embedder` protocol, no model)."""

    model_id = "synthetic-lookup"
    max_words = 256

    def __init__(self, vectors: dict[str, np.ndarray]):
        self.vectors = vectors
        self.dim = len(next(iter(vectors.values())))

    def encode(self, texts: list[str], *, query: bool = False, progress: bool = False) -> np.ndarray:
        return np.stack([self.vectors[t] for t in texts])


class Stopwatch:
    """Seconds spent in wrapped calls, by label (reset per question)."""

    def __init__(self):
        self.spent: dict[str, float] = {}

    def wrap(self, fn, label: str):
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.spent[label] = self.spent.get(label, 0.0) + time.perf_counter() - t0
        return timed


def build(n: int, vocab: Vocabulary, qs: list[str]):
    """The synthetic index and its retriever at `n` passages, and the seconds each step took."""
    from qa.search.retrieve import Retriever

    t = {}
    t0 = time.perf_counter()
    passages, units = synthetic_corpus(n, vocab)
    t["text_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    vectors = synthetic(len(units), DIM, seed=1)
    t["vectors_s"] = time.perf_counter() - t0
    spec = vs.choose_index(len(units), DIM)
    t0 = time.perf_counter()
    faiss_index = vs.build(vectors, spec)
    t["faiss_s"] = time.perf_counter() - t0
    index = LoadedIndex(Path("synthetic"), {"synthetic": True}, [], passages, units, faiss_index, vectors)
    embedder = LookupEmbedder(dict(zip(qs, synthetic(len(qs), DIM, seed=2))))
    t0 = time.perf_counter()
    retriever = Retriever(index, embedder)
    t["retriever_s"] = time.perf_counter() - t0
    return retriever, spec, t


def check(retriever, hits, k: int) -> None:
    """What must hold of any hybrid result: at most k passages, best first, highlights inside them."""
    assert len(hits) <= k, len(hits)
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:])), "not sorted by score"
    unit = retriever.records.unit
    assert all(c.sentence < 0 or unit(c.sentence).passage == c.row for c in hits), "highlight outside its passage"


def time_questions(retriever, qs: list[str], k: int) -> dict:
    """Per-question wall and CPU time of `retriever.search(q, k, "hybrid")`, split into its parts (medians)."""
    backend, watch = retriever.backend, Stopwatch()
    backend._dense = watch.wrap(type(backend)._dense.__get__(backend), "dense")
    backend._cross_dense = watch.wrap(type(backend)._cross_dense.__get__(backend), "dense")
    backend.candidates = watch.wrap(type(backend).candidates.__get__(backend), "candidates")
    retriever.search(qs[0], k=k, mode="hybrid")  # warm
    total, cpu, dense, lexical, rest, full, found = [], [], [], [], [], [], 0
    for q in qs:
        watch.spent = {}
        t0, c0 = time.perf_counter(), time.thread_time()
        hits = retriever.search(q, k=k, mode="hybrid")
        spent = time.perf_counter() - t0
        cpu.append((time.thread_time() - c0) * 1000)
        check(retriever, hits, k)
        found += bool(hits)
        cand, d = watch.spent.get("candidates", 0.0), watch.spent.get("dense", 0.0)
        total.append(spent * 1000)
        dense.append(d * 1000)
        lexical.append((cand - d) * 1000)
        rest.append((spent - cand) * 1000)
        full.append(full_pass_ms(retriever, q, k) if hasattr(retriever.lexical, "scores") else float("nan"))
    for name in ("_dense", "_cross_dense", "candidates"):
        del backend.__dict__[name]
    return {"k": k, "p50_ms": statistics.median(total), "p95_ms": percentile(total, 0.95),
            "cpu_p50_ms": statistics.median(cpu), "dense_ms": statistics.median(dense),
            "lexical_ms": statistics.median(lexical), "rest_ms": statistics.median(rest),
            "full_pass_ms": statistics.median(full), "answered": found,
            "load_average": os.getloadavg()[0]}


def full_pass_ms(retriever, q: str, k: int) -> float:
    """What one pass over every passage costs on this question's BM25 scores (not part of the search any
    more): argpartition of all scores and the best score under a script mask, as the lexical leg did."""
    from qa.search.backend import depth
    from qa.search.lexical import tokenize

    scores = retriever.lexical.scores(tokenize(q))
    t0 = time.perf_counter()
    np.argpartition(-scores, depth(k) - 1)
    mask = retriever.records.passage_cjk == False  # noqa: E712 (an array comparison)
    float(scores[mask].max())
    return (time.perf_counter() - t0) * 1000


def profile_questions(retriever, qs: list[str], k: int, top: int = 14) -> str:
    """cProfile of the questions: the functions that spent the most time of their own."""
    import cProfile
    import io
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    for q in qs:
        retriever.search(q, k=k, mode="hybrid")
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue().replace(str(ROOT) + "/", "")


def measure(n: int, vocab: Vocabulary, qs: list[str], *, ks: tuple[int, ...] = (5, K), profile: bool = False,
            backend: str = "local") -> dict:
    """One size: build the index once, then time the questions at each k (see the module docstring).
    `backend="milvus"`: the index is also written to a milvus-lite file under .cache/ (timed) and the
    candidates come from there."""
    import faiss

    faiss.omp_set_num_threads(1)  # a single query runs on one thread (as in `qa.bench.scale`)
    retriever, spec, setup = build(n, vocab, qs)
    store = _to_milvus(retriever, n, setup) if backend in ("milvus", "lean") else None
    if backend == "lean":  # the local index is only the writer's here: the timed side is a lean process
        row = {"n": n, "units": len(retriever.index.units), "index": "Milvus (lean)", **setup,
               "setup_s": sum(setup.values()), "questions": len(qs), "local_rss_mb": _rss_mb()}
        store.close()
        del retriever
        gc.collect()
        row.update(_lean_child(n, ks))
        return row
    row = {"n": n, "units": len(retriever.index.units), "index": spec.describe(), **setup,
           "setup_s": sum(setup.values()), "questions": len(qs), "by_k": [time_questions(retriever, qs, k) for k in ks],
           "rss_mb": _rss_mb()}
    if profile:
        row["profile"] = profile_questions(retriever, qs, max(ks))
    if store is not None:
        store.close()
    del retriever
    gc.collect()
    return row


def _to_milvus(retriever, n: int, setup: dict):
    """Write the synthetic index to a fresh milvus-lite file in .cache/bench-milvus/ and search it there."""
    import shutil

    from qa.search.milvus_backend import MilvusBackend, open_store

    folder = cache_dir("bench-milvus", f"n{n}")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    t0 = time.perf_counter()
    store = open_store(folder, str(folder / "milvus.db"), "bench")
    store.write(retriever.index)
    setup["milvus_write_s"] = time.perf_counter() - t0
    retriever.backend = MilvusBackend(store.client, store.name, retriever.index)
    return store


def _lean_child(n: int, ks: tuple[int, ...]) -> dict:
    """Time the questions in a fresh process that reads Milvus as a lean replica does (records, term
    statistics and candidates all from Milvus), with the milvus-lite file served by a server process of its
    own (`qa.bench.milvus_server`): the child's RSS is what a lean replica holds, the server's the engine's."""
    import subprocess
    import sys

    from qa.bench.milvus_server import LiteServer

    with LiteServer(cache_dir("bench-milvus", f"n{n}", "milvus.db")) as server:
        code = (f"import json; from qa.bench.scale_hybrid import lean_side; "
                f"print(json.dumps(lean_side({n}, {tuple(ks)!r}, {server.uri!r})))")
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
        engine = server.rss_mb()
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "engine_rss_mb": engine}


def lean_side(n: int, ks: tuple[int, ...], uri: str) -> dict:
    """The child of `_lean_child`: open, time, and report this process's RSS before and after."""
    from qa.search.milvus_backend import MilvusBackend, open_store
    from qa.search.milvus_records import LeanPassages, MilvusRecords
    from qa.search.retrieve import Retriever

    vocab = Vocabulary()
    qs = questions(vocab)
    embedder = LookupEmbedder(dict(zip(qs, synthetic(len(qs), DIM, seed=2))))
    folder = cache_dir("bench-milvus", f"n{n}")
    before = _rss_mb()
    t0 = time.perf_counter()
    store = open_store(folder, uri, "bench")
    units = store.client.query(store.units, filter="", output_fields=["count(*)"])[0]["count(*)"]
    records = MilvusRecords(store.client, store.name, has_xling=False, units=units)
    index = LoadedIndex(folder, {"synthetic": True}, [], LeanPassages(records, n), [], None, None)
    retriever = Retriever(index, embedder, backend=MilvusBackend(store.client, store.name, index, records),
                          records=records, vocabulary=records.vocabulary())
    opened_s = time.perf_counter() - t0
    opened = _rss_mb()
    by_k = [time_questions(retriever, qs, k) for k in ks]
    store.close()
    return {"units": units, "open_s": opened_s, "rss_start_mb": before, "rss_opened_mb": opened,
            "rss_mb": _rss_mb(), "by_k": by_k}


def encode_cost(qs: list[str]) -> dict:
    """One real ONNX MiniLM encode per question (after a warm-up), the cost the table leaves out."""
    from qa.index.onnx_encoder import default_embedder

    t0 = time.perf_counter()
    embedder = default_embedder()
    embedder.encode([qs[0]], query=True)
    load_s = time.perf_counter() - t0
    ms = []
    for q in qs:
        t0 = time.perf_counter()
        embedder.encode([q], query=True)
        ms.append((time.perf_counter() - t0) * 1000)
    return {"model": embedder.model_id, "load_s": load_s, **{k: v for k, v in timings(ms).items() if k != "n"}}


def run(sizes: list[int], *, ks: tuple[int, ...] = (5, K), encode: bool = True, profile: bool = False,
        backend: str = "local") -> dict:
    """The table's rows at each size (and a cProfile of the largest with `profile`)."""
    vocab = Vocabulary()
    qs = questions(vocab)
    rows = [measure(n, vocab, qs, ks=ks, profile=profile and n == max(sizes), backend=backend) for n in sizes]
    return {"synthetic": True, "backend": backend, "ks": list(ks), "questions": len(qs), "vocabulary": len(vocab.words),
            "cpu_count": os.cpu_count(), "load_average": os.getloadavg(), "rows": rows,
            "peak_rss_mb": _peak_rss_mb(), "encode": encode_cost(qs) if encode else None}


def to_markdown(r: dict) -> str:
    lines = [
        f"Hybrid retrieval (`Retriever.search`, mode hybrid, {r.get('backend', 'local')} backend, no reader, "
        "question vectors looked up) "
        f"on a SYNTHETIC English report-like corpus ({r['vocabulary']:,}-word vocabulary) with synthetic "
        f"clustered vectors; {r['questions']} questions one at a time, FAISS on one thread. Times are per question; "
        "the parts are medians of each part, so they need not add up to the p50.",
        "",
        "| passages | units | FAISS index | setup (s): text / vectors / FAISS / retriever | k | p50 (ms) | p95 (ms) "
        "| CPU p50 (ms) | dense leg (ms) | lexical legs (ms) | evidence and rest (ms) | a full pass, no longer made (ms) "
        "| load avg | RSS (MB) |",
        "|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for x in r["rows"]:
        milvus = f" / Milvus write {x['milvus_write_s']:.1f}" if "milvus_write_s" in x else ""
        for t in x["by_k"]:
            lines.append(
                f"| {x['n']:,} | {x['units']:,} | {x['index']} | {x['text_s']:.1f} / {x['vectors_s']:.1f} / "
                f"{x['faiss_s']:.1f} / {x['retriever_s']:.1f}{milvus} | {t['k']} | {t['p50_ms']:.1f} | {t['p95_ms']:.1f} | "
                f"{t['cpu_p50_ms']:.1f} | {t['dense_ms']:.1f} | {t['lexical_ms']:.1f} | {t['rest_ms']:.1f} | "
                f"{t['full_pass_ms']:.1f} | "
                f"{t['load_average']:.1f} | {x['rss_mb']:,.0f}{_lean_rss(x)} |")
    load = ", ".join(f"{v:.2f}" for v in r["load_average"])
    lines += ["", f"Load average (1, 5, 15 min) when the run ended: {load} ({r['cpu_count']} CPUs, shared); "
              f"peak RSS {r['peak_rss_mb']:,.0f} MB."]
    if r["encode"]:
        e = r["encode"]
        lines.append(f"Not in the table: encoding the question, {e['model']} (ONNX), p50 {e['p50_ms']:.1f} ms, "
                     f"p95 {e['p95_ms']:.1f} ms per question (model load {e['load_s']:.1f} s, once).")
    for x in r["rows"]:
        if "profile" in x:
            lines += ["", f"cProfile at {x['n']:,} passages, k={max(r['ks'])} (own time):", "", "```",
                      x["profile"].strip(), "```"]
    return "\n".join(lines)


def _lean_rss(x: dict) -> str:
    """A lean row's RSS cell: the lean process (at its start, once open) against the local process."""
    if "local_rss_mb" not in x:
        return ""
    return (f" lean (start {x['rss_start_mb']:,.0f}, opened {x['rss_opened_mb']:,.0f}, opened in {x['open_s']:.1f} s;"
            f" Milvus server {x['engine_rss_mb']:,.0f}); {x['local_rss_mb']:,.0f} local")


def main(sizes: list[int], *, as_json: bool = False, encode: bool = True, profile: bool = False,
         backend: str = "local") -> str:
    r = run(sizes, encode=encode, profile=profile, backend=backend)
    return json.dumps(r, indent=2) if as_json else to_markdown(r)

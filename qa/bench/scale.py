"""`python -m qa bench --scale`: the vector-search scale curve on synthetic vectors.

The vectors are SYNTHETIC (no model runs): a clustered distribution, not uniform noise, because
uniform random vectors in 384 dimensions have no near neighbours and make approximate search look
unrealistically hard (or, with a loose recall definition, easy). Each vector is a topic direction plus
a sub-topic direction plus noise of varying strength, L2-normalised, so a vector's nearest neighbours
sit at cosine ~0.7–0.8 and unrelated ones near 0, as with sentence embeddings; queries are fresh draws
from the same distribution (not copies of indexed rows).

At each size: the index `qa.index.vectorstore.choose_index` picks, its build time, single-query latency
(median, p95; FAISS may use `THREADS` threads, a single query runs on one), recall@10 against exact search (`IndexFlatIP` in batches),
and the same single-query latency of exact search as the baseline (the `speed-up` column), the index
file size, and, in a fresh process per mode, load time and RSS with mmap against a full read.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from qa.eval.metrics import percentile
from qa.index import vectorstore as vs

DIM = 384
THREADS = 2
QUERIES = 200  # recall and latency queries per size
BASELINE_QUERIES = 50  # exact-search latency baseline (slow at 10^6)
K = 10
TOPICS, SUBTOPICS = 500, 40  # 20,000 sub-topic centres
SWEEP = (4, 8, 16, 32, 64, 128)  # nprobe values reported for IVF


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def synthetic(n: int, dim: int = DIM, *, seed: int = 0, chunk: int = 100_000) -> np.ndarray:
    """`n` clustered, L2-normalised float32 vectors; the same seed gives the same rows.

    A vector = its topic (weight 0.5–1) + a second, random topic (0–0.7: texts straddle topics, so
    clusters overlap and IVF list borders cut through neighbourhoods) + its sub-topic (0.3–0.8) + noise
    (0.4–0.9). On 10^5 vectors a query's nearest neighbour sits at cosine ≈0.66, its 10th at ≈0.50,
    the median vector at 0.00.
    """
    centres = np.random.default_rng(12345)  # the distribution is fixed; `seed` only draws points from it
    topics = _unit(centres.standard_normal((TOPICS, dim), dtype=np.float32))
    subs = _unit(centres.standard_normal((TOPICS * SUBTOPICS, dim), dtype=np.float32))
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        sub = rng.integers(0, TOPICS * SUBTOPICS, m)
        other = rng.integers(0, TOPICS, m)

        def w(lo, hi, m=m):
            return rng.uniform(lo, hi, (m, 1)).astype(np.float32)

        x = (w(0.5, 1.0) * topics[sub // SUBTOPICS] + w(0.0, 0.7) * topics[other] + w(0.3, 0.8) * subs[sub]
             + w(0.4, 0.9) * _unit(rng.standard_normal((m, dim), dtype=np.float32)))
        out[start:start + m] = _unit(x)
    return out


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _latencies(index, queries: np.ndarray) -> list[float]:
    vs.search(index, queries[:1], K)  # warm
    out = []
    for q in queries:
        t0 = time.perf_counter()
        vs.search(index, q[None, :], K)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def measure(n: int, workdir: Path, *, dim: int = DIM) -> dict:
    """One point of the curve (see the module docstring)."""
    import faiss

    faiss.omp_set_num_threads(THREADS)
    t0 = time.perf_counter()
    x = synthetic(n, dim, seed=1)
    queries = synthetic(QUERIES, dim, seed=2)
    gen_s = time.perf_counter() - t0
    spec = vs.choose_index(n, dim)
    t0 = time.perf_counter()
    index = vs.build(x, spec)
    build_s = time.perf_counter() - t0
    _, truth = vs.exact_search(x, queries, K)
    _, found = vs.search(index, queries, K)
    lat = _latencies(index, queries)
    row = {"n": n, "dim": dim, "index": spec.describe(), "kind": spec.kind, "build_s": build_s,
           "generate_s": gen_s, "p50_ms": statistics.median(lat), "p95_ms": percentile(lat, 0.95),
           "recall_at_10": vs.recall_at_k(found, truth, K)}
    if spec.kind == "ivf":
        ivf = faiss.extract_index_ivf(index)
        sweep = []
        for nprobe in SWEEP:
            ivf.nprobe = min(nprobe, spec.nlist)
            _, f = vs.search(index, queries, K)
            sweep.append({"nprobe": ivf.nprobe, "recall_at_10": vs.recall_at_k(f, truth, K),
                          "p50_ms": statistics.median(_latencies(index, queries[:60]))})
        ivf.nprobe = spec.nprobe
        row["nprobe_sweep"] = sweep
    if spec.exact:
        row["exact_p50_ms"] = row["p50_ms"]
    else:
        exact = faiss.IndexFlatIP(dim)
        exact.add(x)
        row["exact_p50_ms"] = statistics.median(_latencies(exact, queries[:BASELINE_QUERIES]))
        del exact
    row["speedup_vs_exact"] = row["exact_p50_ms"] / row["p50_ms"]

    path = workdir / f"scale-{n}.faiss"
    vs.save(index, path)
    np.save(workdir / "queries.npy", queries, allow_pickle=False)
    row["index_bytes"] = path.stat().st_size
    row["vectors_bytes"] = x.nbytes
    del index, x
    full, mapped = (_probe(path, workdir / "queries.npy", mode) for mode in ("full", "mmap"))
    row.update(load_full_s=full["load_s"], rss_full_mb=full["rss_queried_mb"], load_mmap_s=mapped["load_s"],
               rss_mmap_loaded_mb=mapped["rss_loaded_mb"], rss_mmap_mb=mapped["rss_queried_mb"],
               rss_process_base_mb=mapped["rss_base_mb"], mapped=mapped["mapped"] or spec.kind != "ivf",
               mmap_same_results=full["ids"] == mapped["ids"])
    path.unlink()
    row["peak_rss_mb"] = _peak_rss_mb()
    return row


_PROBE = """
import json, sys, time
import numpy as np
from qa.index import vectorstore as vs
from qa.bench.scale import _rss_mb
path, queries, mode = sys.argv[1:4]
base = _rss_mb()
t0 = time.perf_counter()
index = vs.load(path, mmap=mode == "mmap")
load_s = time.perf_counter() - t0
loaded = _rss_mb()
_, ids = vs.search(index, np.load(queries), 10)
print(json.dumps({"load_s": load_s, "rss_base_mb": base, "rss_loaded_mb": loaded, "rss_queried_mb": _rss_mb(),
                  "mapped": vs.is_mapped(index), "ids": ids.tolist()}))
"""


def _probe(path: Path, queries: Path, mode: str) -> dict:
    """Load the index in a fresh process (full read or mmap) and search the queries: load time and RSS
    there, undisturbed by this process's own allocations. The file is in the page cache either way."""
    out = subprocess.run([sys.executable, "-c", _PROBE, str(path), str(queries), mode],
                         capture_output=True, text=True, check=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_scale(sizes: list[int], *, plot: Path | None = None) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="qa-scale-"))
    try:
        rows = []
        for n in sizes:
            rows.append(measure(n, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = {"synthetic": True, "dim": DIM, "threads": THREADS, "queries": QUERIES, "k": K,
              "cpu_count": os.cpu_count(), "rows": rows}
    if plot:
        write_plot(result, plot)
        result["plot"] = str(plot)
    return result


def to_markdown(r: dict) -> str:
    lines = [
        f"Vector search only, on SYNTHETIC clustered vectors (dim {r['dim']}, L2-normalised, inner product); "
        f"{r['queries']} single queries per size, k={r['k']}; FAISS builds on {r['threads']} threads "
        f"({r['cpu_count']} CPUs), a single query runs on one (`qa.index.vectorstore.search`). Recall@10 is "
        "against exact search; speed-up is against exact search's median on the same vectors in the same run.",
        "",
        "| passages | index | build (s) | p50 (ms) | p95 (ms) | recall@10 | speed-up vs exact | index MB "
        "| load full (s) | load mmap (s) | RSS full read (MB) | RSS mmap: loaded / after queries (MB) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for x in r["rows"]:
        lines.append(
            f"| {x['n']:,} | {x['index']} | {x['build_s']:.2f} | {x['p50_ms']:.2f} | {x['p95_ms']:.2f} | "
            f"{x['recall_at_10']:.3f} | {x['speedup_vs_exact']:.1f}× | {x['index_bytes'] / 2**20:.0f} | "
            f"{x['load_full_s']:.3f} | {x['load_mmap_s']:.3f} | {x['rss_full_mb']:.0f} | "
            f"{x['rss_mmap_loaded_mb']:.0f} / {x['rss_mmap_mb']:.0f} |")
    sweeps = [x for x in r["rows"] if "nprobe_sweep" in x]
    for x in sweeps:
        lines += ["", f"IVF nprobe sweep at {x['n']:,} passages (recall@10 / p50 ms): " + ", ".join(
            f"{s['nprobe']}: {s['recall_at_10']:.3f} / {s['p50_ms']:.2f}" for s in x["nprobe_sweep"])]
    lines += ["", "Load and RSS are measured in a fresh process per mode, after searching the queries (RSS of "
              "that process with nothing loaded: " + f"{r['rows'][0]['rss_process_base_mb']:.0f} MB); the file "
              "is in the page cache. Mapped pages count in RSS once touched but are file-backed: the kernel can "
              "drop them, and processes mapping the same file share them."]
    if "plot" in r:
        lines += ["", f"Plot: {r['plot']}"]
    return "\n".join(lines)


def write_plot(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = r["rows"]
    n = [x["n"] for x in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(n, [x["p50_ms"] for x in rows], "o-", label="chosen index, p50")
    a.plot(n, [x["p95_ms"] for x in rows], "o--", label="chosen index, p95")
    a.plot(n, [x["exact_p50_ms"] for x in rows], "s:", label="exact (Flat), p50")
    a.axhline(20, color="grey", lw=0.8)
    a.set(xscale="log", yscale="log", xlabel="passages (synthetic vectors, dim 384)",
          ylabel="single-query latency (ms)", title="Vector search, one query at a time")
    a.legend(fontsize=8)
    b.plot(n, [x["index_bytes"] / 2**20 for x in rows], "o-", label="index file (MB)")
    b.plot(n, [x["rss_full_mb"] for x in rows], "s--", label="process RSS, index read in full (MB)")
    b.plot(n, [x["rss_mmap_loaded_mb"] for x in rows], "^:", label="process RSS, index mmapped, loaded (MB)")
    b.plot(n, [x["rss_mmap_mb"] for x in rows], "v:", label="… mmapped, after 200 queries (MB)")
    for x in rows:
        a.annotate(f"{x['recall_at_10']:.2f}", (x["n"], x["p50_ms"]), fontsize=7, xytext=(3, -10),
                   textcoords="offset points")
    b.set(xscale="log", yscale="log", xlabel="passages", ylabel="MB", title="Memory")
    b.legend(fontsize=8)
    fig.suptitle("Scale curve (labels: recall@10 vs exact)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def parse_sizes(text: str) -> list[int]:
    """"1e3,1e4,100000" → [1000, 10000, 100000]."""
    sizes = [int(float(s)) for s in text.split(",") if s.strip()]
    if not sizes or any(s < 1 for s in sizes):
        raise ValueError(f"sizes must be positive numbers, got {text!r}")
    return sizes


def main(sizes: list[int], *, as_json: bool = False, plot: Path | None = Path("docs/scale.png")) -> str:
    r = run_scale(sizes, plot=plot)
    return json.dumps(r, indent=2) if as_json else to_markdown(r)

"""`python -m qa bench --distributed`: the Ray build (qa/index/distributed.py) against one process.

The texts are the bundled report's embedding units, copied with a marker per copy (" (copy 7)") until
there are `units` distinct texts: report-like text of the real length mix. For each setting the bench
times `encode` over all of them — one process; then Ray with 1 and 2 workers, each on a fresh local
cluster, whose start is timed apart — and checks the vectors against the single-process ones with
`np.array_equal`. A Ray run includes starting its actors and loading the model in each (that is what a
build pays: the actors live for one `encode`). The cross-lingual pair (USE + e5)
is timed the same way on fewer texts (e5 embeds a few units a second). "After first batch" is the rate
once the first batch is back (its actor and model have started; another may still be starting).

Per-unit cost = wall seconds × cores / units of the single-process run: the core-seconds a unit takes
when the model has the machine to itself. From it, the cores a cluster needs to embed 10^6 and 10^7
passages in an hour, assuming workers scale linearly (this machine has only 2 cores to check that on).
"""

from __future__ import annotations

import os
import time
from functools import partial
from pathlib import Path

import numpy as np

HOUR = 3600.0


def synthetic_texts(corpus: Path, n: int, max_words: int, *, xling: bool = False) -> tuple[list[str], float]:
    """`n` distinct unit texts — the corpus's units (their embedding text, or the plain text that the
    cross-lingual vectors read) copied with a copy marker — and the corpus's units per passage."""
    from qa.ingest.corpus import load_corpus
    from qa.ingest.units import build_units, embedding_text

    passages = load_corpus(corpus).passages
    units = build_units(passages, max_words)
    base = [u.text if xling else embedding_text(passages[u.passage], u) for u in units]
    return [base[i % len(base)] + f" (copy {i // len(base)})" for i in range(n)], len(units) / len(passages)


def _timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def time_single(factory, texts: list[str]) -> dict:
    embedder = factory()
    _, load_s = _timed(embedder.encode, ["warm up"])
    vectors, seconds = _timed(embedder.encode, texts)
    cores = os.cpu_count() or 1
    return {"load_s": load_s, "encode_s": seconds, "units_per_s": len(texts) / seconds,
            "core_s_per_unit": seconds * cores / len(texts), "vectors": vectors}


def time_ray(factory, texts: list[str], workers: int, reference: np.ndarray) -> dict:
    """One fresh local cluster of `workers`: its start, then all texts (actors and models start inside)."""
    from qa.index.distributed import RayCluster, RayEmbedder

    with RayCluster(workers) as cluster:
        _, start_s = _timed(cluster.connect)
        embedder = RayEmbedder(factory, cluster)
        vectors, seconds = _timed(embedder.encode, texts)
    t = embedder.timings
    steady = (len(texts) - t["first_units"]) / max(t["total_s"] - t["first_s"], 1e-9)
    return {"workers": workers, "start_s": start_s, "first_batch_s": t["first_s"], "encode_s": seconds,
            "units_per_s": len(texts) / seconds, "steady_units_per_s": steady,
            "equal": bool(np.array_equal(vectors, reference)), "max_abs_diff": float(np.abs(vectors - reference).max())}


def _compare(label: str, factory, worker_factory, texts: list[str], workers: tuple[int, ...], repeats: int) -> dict:
    """One process with `factory`, then Ray with `worker_factory(workers)` for each worker count, in turn,
    `repeats` times; the fastest run of each setting is kept (the one least disturbed by other work on a
    shared machine), all encode times are listed."""
    singles, rays = [], {w: [] for w in workers}
    for _ in range(repeats):
        singles.append(time_single(factory, texts))
        reference = singles[-1].pop("vectors")
        for w in workers:
            rays[w].append(time_ray(worker_factory(w), texts, w, reference))
    best = [min(runs, key=lambda r: r["encode_s"]) | {"all_encode_s": [r["encode_s"] for r in runs],
                                                       "equal": all(r["equal"] for r in runs)}
            for runs in rays.values()]
    single = min(singles, key=lambda r: r["encode_s"]) | {"all_encode_s": [r["encode_s"] for r in singles]}
    return {"model": label, "units": len(texts), "repeats": repeats, "single": single, "ray": best}


def distributed_bench(corpus: Path, *, units: int = 2000, xling_units: int = 64,
                      workers: tuple[int, ...] = (1, 2), repeats: int = 2) -> dict:
    from qa.index.distributed import RayCluster
    from qa.index.embed import CrossLingualEmbedder, E5SmallEmbedder, MultilingualUSEEmbedder
    from qa.index.onnx_encoder import default_embedder

    texts, per_passage = synthetic_texts(corpus, units, default_embedder().max_words)
    # each worker count with the threads the CLI gives it (`ray_embedders`): the cores shared out
    minilm = _compare("all-MiniLM-L6-v2 (ONNX)", partial(default_embedder, None),
                      lambda w: partial(default_embedder, None, threads=RayCluster(w).threads_per_worker), texts,
                      workers, repeats)
    xtexts, _ = synthetic_texts(corpus, xling_units, CrossLingualEmbedder.max_words, xling=True)
    xling = _compare("cross-lingual pair (USE + e5)", CrossLingualEmbedder, lambda w: CrossLingualEmbedder, xtexts,
                     workers, repeats)
    parts = {p.model_id: time_single(type(p), xtexts) for p in (MultilingualUSEEmbedder(), E5SmallEmbedder())}
    for part in parts.values():
        del part["vectors"]
    return {"cores": os.cpu_count(), "units_per_passage": per_passage, "minilm": minilm, "xling": xling,
            "xling_parts": parts}


def _seconds(run: dict) -> str:
    return ", ".join(f"{s:.1f} s" for s in run["all_encode_s"])


def _cores_for(units: float, core_s_per_unit: float) -> float:
    return units * core_s_per_unit / HOUR


def distributed_markdown(r: dict) -> str:
    lines = [f"Distributed build on this machine ({r['cores']} cores): `encode` over synthetic report units "
             "(the bundled report's units, copied), one process against Ray Data with 1 and 2 model workers.", ""]
    for block in (r["minilm"], r["xling"]):
        s = block["single"]
        lines += [f"**{block['model']}**, {block['units']:,} units; fastest of {block['repeats']} runs each, "
                  "taken in turn", "",
                  "| run | cluster start s | first batch back s | all units s | units/s | after first batch units/s | "
                  "vectors equal (max abs diff) |", "|---|---:|---:|---:|---:|---:|---|",
                  f"| one process (all runs: {_seconds(s)}) | – | – | {s['encode_s']:.1f} | {s['units_per_s']:.1f} | – "
                  "| reference |"]
        for run in block["ray"]:
            steady = f"{run['steady_units_per_s']:.1f}" if run["encode_s"] - run["first_batch_s"] > 0.5 else "–"
            lines.append(f"| Ray, {run['workers']} worker{'s' if run['workers'] > 1 else ''} (all runs: {_seconds(run)}) "
                         f"| {run['start_s']:.1f} | {run['first_batch_s']:.1f} | {run['encode_s']:.1f} | "
                         f"{run['units_per_s']:.1f} | {steady} | {'yes' if run['equal'] else 'no'} "
                         f"({run['max_abs_diff']:.1e}) |")
        lines.append("")
    costs = {"all-MiniLM-L6-v2": r["minilm"]["single"]["core_s_per_unit"],
             **{k: v["core_s_per_unit"] for k, v in r["xling_parts"].items()},
             "cross-lingual pair": r["xling"]["single"]["core_s_per_unit"]}
    upp = r["units_per_passage"]
    lines += [f"Cores to embed in one hour, from the single-process cost per unit (linear scaling assumed; "
              f"the bundled report has {upp:.1f} units per passage, used for the passage columns):", "",
              "| model | core-seconds per unit | 10^6 units | 10^7 units | 10^6 passages | 10^7 passages |",
              "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {k} | {c:.4f} | {_cores_for(1e6, c):,.0f} | {_cores_for(1e7, c):,.0f} | "
              f"{_cores_for(1e6 * upp, c):,.0f} | {_cores_for(1e7 * upp, c):,.0f} |" for k, c in costs.items()]
    return "\n".join(lines)

"""`python -m qa bench`: the speed targets, every row in one run (issue "Fast from the first keystroke"; the
warm and many-user rows as raised by issue "Faster than a plain dense search when warm").

Each row is measured twice in the same run, on the same machine state: with the default embedding
runtime (all-MiniLM-L6-v2 through ONNX Runtime, qa/index/onnx_encoder.py) and with the earlier one
(sentence-transformers on torch, `QA_EMBED_RUNTIME=torch`), so a busy machine shows in both columns
and the comparison stays fair. Rows:

- one-off CLI question: wall seconds of `python -m qa ask --no-reader "…"` on a built index (median of 3),
  and of `python -m qa ask "…"` with the reader as it runs by default (printed under the table);
- `python app.py` → its first answer over the API (gradio_client), index built;
- warm hybrid p50, English and Chinese questions of the shipped question set;
- full index build with the cross-lingual vectors ÷ the English-only build;
- 20 concurrent users, 500 questions: q/s, p50, p95 (every answer checked), from light HTTP clients
  (`qa.bench.load.http_load_run`) once the app has finished loading in the background (its CPU idle:
  `qa.bench.cold.settle`; the gloss model alone takes both cores for seconds) and after 100 warm-up
  questions; the same 500 through 20 `gradio_client` threads are printed beside it (their own CPU competes
  with the app's on the same 2 cores).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNTIMES = ("onnx", "torch")
# row key → (label, target, how a value is shown, True if higher is better)
ROWS = {
    "cli_s": ("one-off CLI question, process start → answer (index built, `--no-reader`)", 2.0, "{:.2f} s", False),
    "app_s": ("`python app.py` → first answer over the API", 5.0, "{:.2f} s", False),
    "warm_en_ms": ("warm hybrid p50, English question", 10.0, "{:.1f} ms", False),
    "warm_zh_ms": ("warm hybrid p50, Chinese question", 30.0, "{:.1f} ms", False),
    "build_ratio": ("index build with the cross-lingual vectors ÷ English-only build", 2.0, "{:.1f}×", False),
    "load_qps": ("20 concurrent users, 500 questions: throughput", 50.0, "{:.1f} q/s", True),
    "load_p50_s": ("20 concurrent users, 500 questions: latency p50", None, "{:.2f} s", False),
    "load_p95_s": ("20 concurrent users, 500 questions: latency p95", 0.5, "{:.2f} s", False),
}


def cli_one_off(corpus: Path, index: Path, runtimes: tuple[str, ...], runs: int = 3) -> dict[str, float]:
    """Median wall seconds of `python -m qa ask --no-reader` in a fresh process (index built), per runtime;
    the runtimes take turns, so a change in the machine's load falls on each alike."""
    from qa.bench.cold import QUESTION, ROOT, child_env

    args = [sys.executable, "-m", "qa", "ask", "--no-reader", "-q", "--corpus", str(corpus), "--index", str(index),
            QUESTION]
    times: dict[str, list[float]] = {rt: [] for rt in runtimes}
    for _ in range(runs):
        for runtime in runtimes:
            t0 = time.perf_counter()
            subprocess.run(args, capture_output=True, text=True, env=child_env({"QA_EMBED_RUNTIME": runtime}), cwd=ROOT,
                           check=True)
            times[runtime].append(time.perf_counter() - t0)
    return {rt: statistics.median(v) for rt, v in times.items()}


def cli_with_reader(corpus: Path, index: Path, runs: int = 3) -> float:
    """Median wall seconds of `python -m qa ask` as it runs by default, the reader model loaded and read."""
    from qa.bench.cold import QUESTION, ROOT, child_env

    args = [sys.executable, "-m", "qa", "ask", "-q", "--corpus", str(corpus), "--index", str(index), QUESTION]
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(args, capture_output=True, text=True, env=child_env(), cwd=ROOT, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def warm_hybrid(corpus: Path, index: Path, embedder, xling, repeats: int = 1) -> dict[str, float]:
    """Warm p50 (ms) of the default (hybrid) mode, English and Chinese questions."""
    from qa.answer.service import ReportQA
    from qa.bench.speed import _latency, _questions

    qa = ReportQA.open(corpus, index, embedder, xling=xling or False)
    lat = _latency(qa, _questions(corpus), repeats, only=("hybrid",))["hybrid"]
    return {"warm_en_ms": lat["english"]["p50_ms"], "warm_zh_ms": lat["chinese"]["p50_ms"]}


def measure_targets(corpus: Path, index: Path, *, users: int = 20, total: int = 500, repeats: int = 1,
                    runtimes: tuple[str, ...] = RUNTIMES) -> dict[str, dict[str, float]]:
    """Every row for each runtime: {runtime: {row key: value}}. Builds `index` first if needed."""
    from qa.bench.cold import app_cold_start
    from qa.bench.load import http_load_run, load_run
    from qa.bench.speed import build_times
    from qa.index.build import open_index
    from qa.index.embed import CrossLingualEmbedder
    from qa.index.onnx_encoder import default_embedder

    open_index(corpus, index, default_embedder(), xling=CrossLingualEmbedder())  # later starts, not the build
    cli = cli_one_off(corpus, index, runtimes)
    cli_reader = cli_with_reader(corpus, index)
    out: dict[str, dict[str, float]] = {}
    for runtime in runtimes:
        embedder, xling = default_embedder(runtime=runtime), CrossLingualEmbedder()
        embedder.encode(["warm up"])
        xling.encode(["warm up"])
        row: dict[str, float] = {"cli_s": cli[runtime], "cli_reader_s": cli_reader, "load_average": os.getloadavg()[0]}
        row.update(warm_hybrid(corpus, index, embedder, xling, repeats))
        with tempfile.TemporaryDirectory(prefix="qa-bench-build-") as tmp:
            builds = build_times(corpus, Path(tmp), embedder, xling)
        row.update(builds, build_ratio=builds["build_xling_s"] / builds["build_s"])
        # last: the app in its own process, and the 20 clients' threads in this one
        app = app_cold_start(corpus, index, env={"QA_EMBED_RUNTIME": runtime},
                             then=lambda url: _loads(url, users, total, http_load_run, load_run))
        load, threads = app["then"]
        row.update(app_s=app["first_answer_s"], load_qps=load["qps"], load_p50_s=load["p50_s"],
                   load_p95_s=load["p95_s"], load_errors=len(load["errors"]) + len(threads["errors"]),
                   gradio_client_qps=threads["qps"], gradio_client_p95_s=threads["p95_s"],
                   settled_s=app.get("settled_s"))
        out[runtime] = row
    return out


def _settled(seconds: float | None) -> str:
    if seconds is None:
        return "the app was still busy loading when the load rows began"
    return f"the app's background loads ended {seconds:.0f} s after its first answer, before the load rows"


def _loads(url: str, users: int, total: int, http_run, client_run) -> tuple[dict, dict]:
    """The load rows: warm-up, light HTTP clients (the row), then `gradio_client` threads."""
    http_run(url, users, min(total, 100))
    return http_run(url, users, total), client_run(url, users, total)


def targets_markdown(r: dict[str, dict[str, float]]) -> str:
    runtimes = [rt for rt in RUNTIMES if rt in r]
    names = {"onnx": "now (ONNX Runtime)", "torch": "before (torch, same run)"}
    lines = [f"| what | {' | '.join(names[rt] for rt in runtimes)} | target | met |",
             "|---|" + "---:|" * len(runtimes) + "---:|:---:|"]
    for key, (label, target, fmt, higher) in ROWS.items():
        values = [fmt.format(r[rt][key]) for rt in runtimes]
        if target is None:
            shown, met = "", ""
        else:
            shown = ("≥ " if higher else "≤ ") + fmt.format(target)
            now = r[runtimes[0]][key]
            met = "yes" if (now >= target if higher else now <= target) else "no"
        lines.append(f"| {label} | {' | '.join(values)} | {shown} | {met} |")
    if "cli_reader_s" in r[runtimes[0]]:
        lines += ["", f"One-off CLI question with the reader (the default; model load and reading included): "
                      f"{r[runtimes[0]]['cli_reader_s']:.2f} s."]
    lines += [""] + [f"{names[rt]}: builds {r[rt]['build_s']:.2f} s English-only, {r[rt]['build_xling_s']:.2f} s with "
                     f"the cross-lingual vectors; the same load through `gradio_client` threads "
                     f"{r[rt]['gradio_client_qps']:.1f} q/s, p95 {r[rt]['gradio_client_p95_s']:.2f} s; load test errors "
                     f"{r[rt]['load_errors']}; machine load average {r[rt]['load_average']:.1f} on {os.cpu_count()} cores "
                     f"when its rows began; {_settled(r[rt].get('settled_s'))}." for rt in runtimes]
    return "\n".join(lines)

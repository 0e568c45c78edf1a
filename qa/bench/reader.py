"""`python -m qa bench` (reader part): what the reader costs, per reader model, measured in one run.

- load: from nothing to a reader that has read one passage (the GGUF parts joined and checked already);
- per question: the reader's verdicts on the top passages and the span, on top of retrieval, over the
  shipped question set (p50 / p95);
- batch: 100 questions through `python -m qa ask --json -` in a fresh process, wall clock from process
  start (model loads included).
Models: Qwen2.5-Coder 0.5B (default) and 1.5B, both run by llama.cpp
(xllamacpp) from their GGUF files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from qa.bench.speed import _questions
from qa.eval.metrics import timings
from qa.paths import ROOT


def reader_latency(qa, slot, questions: list[dict]) -> dict:
    """Per question: retrieval alone (passages on screen), then the reader's verdict and span."""
    retrieval, reading = [], []
    qa.ask("warm up question", read=False)
    for q in questions:
        t0 = time.perf_counter()
        a = qa.ask(q["question"], q.get("history") or [], read=False)
        t1 = time.perf_counter()
        slot.read(q["question"], list(a.hits))
        t2 = time.perf_counter()
        retrieval.append((t1 - t0) * 1000)
        reading.append((t2 - t1) * 1000)
    return {"retrieval": timings(retrieval), "reader": timings(reading)}


def model_bench(qa, questions: list[dict], model: str) -> dict:
    from qa.answer.reader_runtime import ReaderSlot, load_reader
    from qa.errors import ReaderUnavailable

    t0 = time.perf_counter()
    try:
        reader = load_reader(model=model)
    except ReaderUnavailable as e:
        return {"model": model, "error": str(e)}
    load_s = time.perf_counter() - t0
    slot = ReaderSlot(reader=reader)
    return {"model": model, "load_s": load_s, **reader_latency(qa, slot, questions)}


def batch_bench(corpus: Path, index: Path, questions: list[dict], n: int = 100) -> dict:
    """n questions (the shipped set, cycled) through one `python -m qa ask --json -` process."""
    lines = "".join(json.dumps({"question": questions[i % len(questions)]["question"],
                                "history": questions[i % len(questions)].get("history") or []}) + "\n"
                    for i in range(n))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "qa", "ask", "--json", "-q", "--reader", "--corpus", str(corpus),
                           "--index", str(index), "-"], input=lines, capture_output=True, text=True, env=env,
                          cwd=ROOT)
    wall = time.perf_counter() - t0
    answers = [json.loads(x) for x in proc.stdout.splitlines() if x.strip()]
    return {"questions": n, "answered": sum("error" not in a for a in answers), "wall_s": wall,
            "read": sum(a.get("reader") == "on" for a in answers), "returncode": proc.returncode}


def run_reader_bench(qa, corpus: Path, index: Path, models: list[str], limit: int = 20) -> dict:
    questions = _questions(corpus)[:limit]
    out = {"models": [model_bench(qa, questions, m) for m in models]}
    out["batch"] = batch_bench(corpus, index, _questions(corpus))
    return out


def reader_markdown(r: dict) -> str:
    lines = ["| reader model (llama.cpp) | load (s) | passages on screen p50 (ms) | reader verdict + span p50 (ms) | p95 (ms) |",
             "|---|---:|---:|---:|---:|"]
    for x in r["models"]:
        if "error" in x:
            lines.append(f"| {x['model']} | not available: {x['error']} | | | |")
            continue
        lines.append(f"| {x['model']} | {x['load_s']:.1f} | {x['retrieval']['p50_ms']:.0f} | "
                     f"{x['reader']['p50_ms']:.0f} | {x['reader']['p95_ms']:.0f} |")
    b = r["batch"]
    lines += ["", f"{b['questions']} questions through `python -m qa ask --json -` (fresh process, models loaded "
                  f"included): {b['wall_s']:.0f} s, {b['answered']} answered, {b['read']} checked by the reader."]
    return "\n".join(lines)

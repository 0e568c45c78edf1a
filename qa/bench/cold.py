"""`python -m qa bench --cold`: cold start, split into its parts, and peak memory, each in a new process.

Process start → first answer for the CLI's path (imports, model load, index load, first answer), and
process start → the chat app serving its page and answering its first API question. The index is built
beforehand, so these are the costs of every later start; peak memory is the answering process's
maximum resident set size.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from qa.bench.milvus_server import free_port
from qa.paths import ROOT

QUESTION = "What poverty line did the Corps set?"
_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
t = {"start": time.time()}
import faiss, numpy, qa.answer.service
t["imports_qa"] = time.time()
from qa.index.embed import CrossLingualEmbedder
from qa.index.onnx_encoder import OnnxEmbedder, default_embedder
e = default_embedder()
if isinstance(e, OnnxEmbedder): import onnxruntime, tokenizers
else: import sentence_transformers
t["imports_models"] = time.time()
e.encode(["warm up"])
x = CrossLingualEmbedder() if sys.argv[3] == "1" else None  # loads, as in the CLI, what the question needs
t["model_load"] = time.time()
qa_ = qa.answer.service.ReportQA.open(Path(sys.argv[1]), Path(sys.argv[2]), e, xling=x or False)
t["index_load"] = time.time()
qa_.ask(sys.argv[4])
t["first_answer"] = time.time()
t["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(t))
"""


def child_env(extra: dict | None = None) -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
            **(extra or {})}


def cli_cold_start(corpus: Path, index: Path, cross_lingual: bool = True) -> dict:
    """Seconds from process start to each step, measured in a fresh interpreter (the second of two runs,
    so the index already exists and the OS file cache is warm, as for any later start)."""
    args = [sys.executable, "-c", _CHILD, str(corpus), str(index), "1" if cross_lingual else "0", QUESTION]
    for _ in range(2):
        spawned = time.time()
        out = subprocess.run(args, capture_output=True, text=True, env=child_env(), cwd=ROOT, check=True).stdout
    t = json.loads(out.strip().splitlines()[-1])
    steps = ["start", "imports_qa", "imports_models", "model_load", "index_load", "first_answer"]
    split = {f"{b}_s": t[b] - t[a] for a, b in zip(steps, steps[1:])}
    return {"interpreter_s": t["start"] - spawned, **split, "total_s": t["first_answer"] - spawned,
            "peak_rss_mb": t["peak_rss_mb"]}


def settle(pid: int, *, below: float = 0.25, window: float = 2.0, timeout: float = 180) -> float | None:
    """Wait until process `pid` uses under `below` of one core over `window` seconds: the app has loaded what
    it loads in the background after its first answer (the cross-lingual models, then the gloss model, a
    few seconds of both cores). An idle app still takes 5–10 % of a core (Gradio's queue polls). Returns
    the seconds waited, None if it was still busy at `timeout`."""
    import psutil

    proc = psutil.Process(pid)
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        before = sum(proc.cpu_times()[:2])
        time.sleep(window)
        if sum(proc.cpu_times()[:2]) - before < below * window:
            return time.monotonic() - t0
    return None


def app_cold_start(corpus: Path, index: Path, timeout: float = 600, env: dict | None = None, then=None) -> dict:
    """Seconds from `python app.py` to its page being served, and to its first answer over the API.
    `env`: extra environment for the app; `then(url)`: run while the app is still up, once it has settled
    (`settle`: its background loads done; the seconds waited under "settled_s"), its result under "then"."""
    import urllib.request

    from gradio_client import Client

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    spawned = time.time()
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port), "--corpus", str(corpus),
                             "--index", str(index)], env=child_env(env), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out: dict = {}
    try:
        while time.time() - spawned < timeout and "page_s" not in out:
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        out["page_s"] = time.time() - spawned
            except OSError:
                time.sleep(0.2)
        client = Client(url, verbose=False)
        answer = client.predict(QUESTION, None, api_name="/ask")
        out["first_answer_s"] = time.time() - spawned
        out["answered"] = bool(answer.get("passages"))
        if then is not None:
            out["settled_s"] = settle(proc.pid)
            out["then"] = then(url)
    finally:
        stop_process(proc)
    return out


def stop_process(proc: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM (Gradio ignores SIGINT in non-interactive shells), then SIGKILL if it does not exit."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def cold_markdown(cli: dict, app: dict) -> str:
    rows = [("interpreter start", cli["interpreter_s"]), ("import qa, faiss, numpy", cli["imports_qa_s"]),
            ("import the embedding runtime (onnxruntime, tokenizers)", cli["imports_models_s"]),
            ("load all-MiniLM-L6-v2 (first encode)", cli["model_load_s"]),
            ("load the index (checksums verified)", cli["index_load_s"]),
            ("first answer (e5 loads for its second opinion)", cli["first_answer_s"]),
            ("**process start → first answer (CLI path)**", cli["total_s"])]
    lines = ["| cold start step | seconds |", "|---|---:|"] + [f"| {k} | {v:.2f} |" for k, v in rows]
    lines += [f"| `python app.py` → page served | {app['page_s']:.2f} |",
              f"| `python app.py` → first answer over the API (models loaded) | {app['first_answer_s']:.2f} |",
              "", f"Peak memory (max RSS) of the answering process on the bundled corpus: "
                  f"{cli['peak_rss_mb']:.0f} MB."]
    return "\n".join(lines)

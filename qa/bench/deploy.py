"""`python -m qa bench --deploy`: a deployment tried end to end on one machine, with real processes.

One `milvus-lite server` stands in for a Milvus cluster. A writer indexes in one folder; two lean replicas
(`app.py --replica --backend milvus`) serve from two other folders, each given only what a second machine
would have: a copy of `CURRENT`, the build's `manifest.json` and `documents.jsonl` (`ship`, the part an
rsync or a shared volume plays in a real deployment). The run then:

1. asks a question through both replicas' Gradio API;
2. adds a report through the writer, ships the new build, and waits until both replicas answer it;
3. stops Milvus (both must answer in plain words, `{"error": …}`), starts it again on the same port (both
   must answer again, without a restart);
4. kills the writer with SIGKILL mid-build (both keep answering from the last build, `CURRENT` unchanged);
5. with `load=True`, runs the 20-user load of `qa bench` through a lean replica and through a local
   replica of the writer's folder, side by side.

Each step is a row of the table it prints: what happened at each replica, and the time it took. The
scratch folders live under `.cache/bench-deploy/` and are removed at the end.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from qa.bench.cold import child_env, stop_process
from qa.bench.load import KNOWN, http_ask, http_load_run
from qa.bench.milvus_server import LiteServer, free_port
from qa.index.folder import current_folder
from qa.paths import ROOT, cache_dir

SEED = ROOT / "corpus" / "xpcc-poverty-alleviation-2011.txt"
ASKED, SECTION = KNOWN[0]
NEW_REPORT = ("Report on Orchard Irrigation in Hami, 2012\n\n      【Drip irrigation】 In 2012 the Hami orchards laid "
              "410 kilometres of drip irrigation pipe, which cut the water used per mu of apricot trees by a third.\n")
NEW_QUESTION = "How many kilometres of drip irrigation pipe did the Hami orchards lay?"
LATE_REPORT = ("Report on Greenhouses in Turpan, 2013\n\n      【Greenhouses】 In 2013 Turpan farms built 95 "
               "solar greenhouses for winter vegetables.\n")


def ask(url: str, question: str) -> dict:
    """One question through a replica's HTTP API (the reader skipped): the answer's JSON or {"error"}."""
    import httpx

    async def once() -> dict:
        async with httpx.AsyncClient(timeout=120) as client:
            return await http_ask(client, url.rstrip("/"), question)

    try:
        return asyncio.run(once())
    except Exception as e:  # the replica itself unreachable: reported as a row, not raised
        return {"error": f"{type(e).__name__}: {str(e)[:120]}"}


def top_doc(answer: dict) -> str | None:
    return answer["passages"][0]["doc"] if answer.get("passages") else None


def ship(writer_index: Path, replica_index: Path) -> None:
    """What a second machine receives of a build: `CURRENT` last, after the two files it names."""
    build = current_folder(writer_index)
    (replica_index / build.name).mkdir(parents=True, exist_ok=True)
    for name in ("manifest.json", "documents.jsonl"):
        shutil.copy(build / name, replica_index / build.name / name)
    shutil.copy(writer_index / "CURRENT", replica_index / "CURRENT.tmp")
    (replica_index / "CURRENT.tmp").replace(replica_index / "CURRENT")


class Deployment:
    """The engine, the writer's folders and the replicas' processes of one run."""

    def __init__(self, work: Path):
        self.work = work
        self.engine = LiteServer(work / "engine")
        self.uri = self.engine.uri
        self.corpus, self.index = work / "writer" / "corpus", work / "writer" / "index"
        self.replicas: list[tuple[str, subprocess.Popen]] = []

    def index_command(self) -> list[str]:
        return [sys.executable, "-m", "qa", "index", "--backend", "milvus", "--milvus-uri", self.uri,
                "--corpus", str(self.corpus), "--index", str(self.index)]

    def build(self) -> float:
        t0 = time.monotonic()
        subprocess.run(self.index_command(), env=child_env(), cwd=ROOT, check=True, capture_output=True, timeout=900)
        return time.monotonic() - t0

    def start_replica(self, folder: Path, *, lean: bool = True) -> str:
        port = free_port()
        backend = ["--backend", "milvus", "--milvus-uri", self.uri] if lean else []
        proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--replica", *backend, "--index", str(folder),
                                 "--corpus", str(folder.parent / "corpus"), "--port", str(port), "--follow-every", "1",
                                 "--no-reader", "--no-gloss"], env=child_env(), cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        self.replicas.append((url, proc))
        return url

    def stop(self) -> None:
        for _, proc in self.replicas:
            stop_process(proc)
        self.engine.__exit__()


def wait_for(check, timeout: float = 180, every: float = 0.5) -> float | None:
    """Seconds until `check()` holds, or None after `timeout`."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if check():
            return time.monotonic() - t0
        time.sleep(every)
    return None


def _served(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def run(load: bool = False, progress=print) -> list[dict]:
    """The whole run; a row per step: {"step", "replica 1", "replica 2", "s", "ok"}."""
    cache_dir("bench-deploy").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=cache_dir("bench-deploy")))
    d = Deployment(work)
    try:
        return _steps(d, load, progress)
    finally:
        d.stop()
        shutil.rmtree(work, ignore_errors=True)


def _row(step: str, answers: list, seconds: float | None, ok: bool) -> dict:
    cells = [a if isinstance(a, str) else _cell(a) for a in answers]
    return {"step": step, "replica 1": cells[0], "replica 2": cells[-1], "s": seconds, "ok": ok}


def _cell(answer: dict) -> str:
    if "error" in answer:
        return f"error: {answer['error'][:70]}"
    return f"{top_doc(answer)} › {answer['passages'][0]['section']}" if answer.get("passages") else "no passage"


def _steps(d: Deployment, load: bool, progress) -> list[dict]:
    rows: list[dict] = []

    def add(row: dict) -> None:
        rows.append(row)
        progress(f"deploy: {row['step']}: {'ok' if row['ok'] else 'FAILED'}")

    t0 = time.monotonic()
    d.engine.__enter__()
    d.corpus.mkdir(parents=True)
    shutil.copy(SEED, d.corpus / SEED.name)
    add(_row("Milvus server up; the writer builds the bundled report", ["–", "–"],
             time.monotonic() - t0 + d.build(), True))
    folders = [d.work / f"replica-{i}" / "index" for i in (1, 2)]
    for folder in folders:
        folder.mkdir(parents=True)
        ship(d.index, folder)
    t0 = time.monotonic()
    urls = [d.start_replica(f) for f in folders]
    ready = wait_for(lambda: all(_served(u) for u in urls), timeout=300)
    first = [ask(u, ASKED) for u in urls]
    add(_row("two lean replicas start in their own folders and answer", first, time.monotonic() - t0,
             ready is not None and all(a.get("passages") and a["passages"][0]["section"] == SECTION for a in first)))
    _add_report(d, urls, folders, add)
    _engine_restart(d, urls, add)
    _killed_writer(d, urls, add)
    if load:
        _load(d, urls[0], add)
    return rows


def _add_report(d: Deployment, urls: list[str], folders: list[Path], add) -> None:
    (d.corpus / "hami-2012.txt").write_text(NEW_REPORT, encoding="utf-8")
    seconds = d.build()
    for folder in folders:
        ship(d.index, folder)
    waited = wait_for(lambda: all(top_doc(ask(u, NEW_QUESTION)) == "hami-2012" for u in urls), timeout=120)
    answers = [ask(u, NEW_QUESTION) for u in urls]
    add(_row("the writer adds a report; both replicas switch to its build and answer it", answers,
             seconds + (waited or 0), waited is not None))


def _engine_restart(d: Deployment, urls: list[str], add) -> None:
    d.engine.__exit__()
    t0 = time.monotonic()
    down = [ask(u, ASKED) for u in urls]
    add(_row("Milvus stopped: both answer in plain words", down, (time.monotonic() - t0) / len(urls),
             all("cannot reach Milvus" in a.get("error", "") for a in down)))
    d.engine = LiteServer(d.work / "engine", port=d.engine.port).__enter__()
    back = wait_for(lambda: all(ask(u, ASKED).get("passages") for u in urls), timeout=120, every=1)
    answers = [ask(u, ASKED) for u in urls]
    add(_row("Milvus started again: both answer, without a restart", answers, back, back is not None))


def _killed_writer(d: Deployment, urls: list[str], add) -> None:
    before = (d.index / "CURRENT").read_text(encoding="utf-8")
    (d.corpus / "turpan-2013.txt").write_text(LATE_REPORT, encoding="utf-8")
    writer = subprocess.Popen(d.index_command(), env=child_env(), cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    live = before.strip()
    started = wait_for(lambda: any(p.name != live for p in (*d.index.glob(".tmp-build-*"), *d.index.glob("build-*")))
                       or writer.poll() is not None, timeout=300, every=0.05)  # files written, CURRENT not switched
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    answers = [ask(u, NEW_QUESTION) for u in urls]
    kept = (d.index / "CURRENT").read_text(encoding="utf-8") == before
    add(_row("the writer is killed mid-build: both keep answering from the last build", answers, started,
             kept and started is not None and all(top_doc(a) == "hami-2012" for a in answers)))


def _load(d: Deployment, lean_url: str, add) -> None:
    local = d.start_replica(d.index, lean=False)
    wait_for(lambda: _served(local), timeout=300)
    for url, name in ((lean_url, "lean replica, Milvus server"), (local, "local replica, same machine")):
        http_load_run(url, 20, 100)  # warm-up
        r = http_load_run(url, 20, 500)
        add({"step": f"20 users × 500 questions through a {name}", "replica 1":
             f"{r['qps']:.1f} q/s, p50 {r['p50_s'] * 1000:.0f} ms, p95 {r['p95_s'] * 1000:.0f} ms",
             "replica 2": f"{len(r['errors'])} errors", "s": r["wall_s"], "ok": not r["errors"]})


def markdown(rows: list[dict]) -> str:
    lines = ["| step | replica 1 | replica 2 | seconds | ok |", "|---|---|---|---:|:-:|"]
    for r in rows:
        s = "–" if r["s"] is None else f"{r['s']:.1f}"
        lines.append(f"| {r['step']} | {r['replica 1']} | {r['replica 2']} | {s} | {'✓' if r['ok'] else '✗'} |")
    return "\n".join(lines)

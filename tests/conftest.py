"""Shared fixtures. Heavy objects (the real model, the app server) are built once per session."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from qa.bench.milvus_server import free_port

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "corpus" / "xpcc-poverty-alleviation-2011.txt"
SEED_ID = "xpcc-poverty-alleviation-2011"

# ---------------------------------------------------------------------------------------------
# Tests own their state. The session writes its caches (the ONNX export, the joined reader model, BEIR
# indexes) under a temporary `$QA_CACHE`, never into the checkout's `.cache/`; the model files already
# there are shared read-only through links. A session run with `QA_CACHE` set (`QA_CACHE=.cache pytest -m
# slow`, to keep a BEIR index) uses that folder instead. At the end, the checkout's `.cache/`, `corpus/` and
# `index/` must be as they were, or the session fails (`pytest_sessionfinish`).

SHARED_MODELS = ("onnx", "reader")  # folders under .cache/ whose files a test session may read, not write
WATCHED = (".cache", "corpus", "index")


def _link_models(src: Path, dst: Path) -> None:
    """Mirror `src` under `dst` with a symlink per model file: a model found there is read from the
    checkout, and anything the session writes (a fresh export, a re-joined model: written aside, then
    renamed into place; the reader's saved prompt prefixes and the exports' `.lock` files, which are opened
    for writing, not linked) lands in `dst`."""
    for path in sorted(src.rglob("*")):
        target = dst / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif path.is_file() and not path.name.endswith(".part") and not path.name.startswith(("prefix-", ".")):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(path)


def _snapshot() -> dict[str, tuple[int, int]]:
    """(size, mtime) of every file in the checkout's watched folders (not `.cache/` when the session was
    told to use it)."""
    files = {}
    for name in WATCHED if _SESSION_CACHE else WATCHED[1:]:
        for path in (ROOT / name).rglob("*"):
            if path.is_file():
                st = path.stat()
                files[str(path.relative_to(ROOT))] = (st.st_size, st.st_mtime_ns)
    return files


_SESSION_CACHE: Path | None = None  # set by pytest_configure: in the pytest process only, not in a child
_BEFORE: dict[str, tuple[int, int]] = {}  # that imports this module (a Ray worker, a test's subprocess)


def pytest_configure(config):
    global _SESSION_CACHE, _BEFORE
    if not os.environ.get("QA_CACHE"):
        _SESSION_CACHE = Path(tempfile.mkdtemp(prefix="qa-test-cache-"))
        for name in SHARED_MODELS:
            if (ROOT / ".cache" / name).is_dir():
                _link_models(ROOT / ".cache" / name, _SESSION_CACHE / name)
        os.environ["QA_CACHE"] = str(_SESSION_CACHE)
    os.environ.pop("QA_READER_DIR", None)  # the reader's folder follows the session cache too
    _BEFORE = _snapshot()


def pytest_sessionfinish(session, exitstatus):
    changed = sorted(set(_BEFORE.items()) ^ set(_snapshot().items()))
    if changed:
        names = sorted({path for path, _ in changed})
        print(f"\nthe test session changed the checkout's own state ({len(names)} files): {', '.join(names[:10])}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config):
    if _SESSION_CACHE is not None:
        shutil.rmtree(_SESSION_CACHE, ignore_errors=True)


@pytest.fixture(scope="session")
def real_embedder():
    """The packaged all-MiniLM-L6-v2 as the app runs it (ONNX Runtime), loaded once for the whole session."""
    from qa.index.onnx_encoder import default_embedder

    e = default_embedder()
    e.encode(["warm up"])
    return e


@pytest.fixture(scope="session")
def seed_corpus(tmp_path_factory) -> Path:
    """A folder holding only the bundled report: what a user uploaded into corpus/ stays out of the tests."""
    folder = tmp_path_factory.mktemp("seed-corpus")
    shutil.copy(SEED, folder / SEED.name)
    return folder


@pytest.fixture(scope="session")
def seed_qa(real_embedder, tmp_path_factory):
    """ReportQA over the bundled report with the real model and real FAISS (index in a temp folder)."""
    from qa.answer.service import ReportQA
    from qa.index.embed import CrossLingualEmbedder

    base = tmp_path_factory.mktemp("seed")
    corpus = base / "corpus"
    corpus.mkdir()
    shutil.copy(SEED, corpus / SEED.name)
    return ReportQA.open(corpus, base / "index", real_embedder, xling=CrossLingualEmbedder())


@pytest.fixture
def fake_embedder():
    from qa.index.embed import HashEmbedder

    return HashEmbedder()


def hash_retriever(tmp_path: Path, text: str):
    """(index, Retriever) over one report `text`, with the deterministic fake embedder."""
    from qa.index.build import open_index
    from qa.index.embed import HashEmbedder
    from qa.search.retrieve import Retriever

    index, _ = open_index(write_corpus(tmp_path / "c", {"r.txt": text}), tmp_path / "i", HashEmbedder())
    return index, Retriever(index, HashEmbedder())


def write_corpus(folder: Path, files: dict[str, str | bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return folder


# ---------------------------------------------------------------------------------------------
# The chat app, launched once per session as a real server (`python app.py`) with the real model.

XSS_REPORT = """Security Test Report on Markup Handling

      【Markup payloads】 This paragraph about markup payloads holds hostile markup: <script>alert(1)</script> and <img src=x onerror=alert(1)> and <svg onload=alert(1)> and a link <a href="javascript:alert(1)">click me</a> that must all show as plain text.

      【Harmless section】 The committee reviewed the handling of markup payloads in reports during 2011 and found that escaping prevented every script from running.
"""


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """`python app.py` on a free port over a temp copy of the report plus an XSS report; yields info."""
    import subprocess
    import sys
    import time
    import urllib.request
    from types import SimpleNamespace

    base = tmp_path_factory.mktemp("app")
    shipped = (ROOT / "corpus" / "xpcc-poverty-alleviation-2011.questions.jsonl").read_text(encoding="utf-8")
    corpus = write_corpus(base / "corpus", {SEED.name: SEED.read_text(encoding="utf-8"),
                                            "xss-test-report.txt": XSS_REPORT,
                                            # a few shipped questions, for the Evaluation tab
                                            "seed.questions.jsonl": "".join(shipped.splitlines(True)[:4])})
    judgments = corpus / "user-questions.jsonl"
    port = free_port()
    log_path = base / "app.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           "QA_READER": "1"}  # the reader is off by default; the app's tests check it too
    for var in ("QA_AUTH", "QA_HOST", "QA_PORT", "QA_JUDGMENTS"):
        env.pop(var, None)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "--port", str(port), "--corpus", str(corpus),
             "--index", str(base / "index"), "--judgments", str(judgments)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    try:
        while True:  # up when the page answers, ready when the index is open and the model warm
            text = log_path.read_text(encoding="utf-8", errors="replace")
            if proc.poll() is not None:
                pytest.fail(f"app exited with {proc.returncode}:\n{text[-3000:]}")
            if "Report QA ready" in text:
                try:
                    urllib.request.urlopen(url, timeout=5).close()
                    break
                except OSError:
                    pass
            if time.monotonic() > deadline:
                pytest.fail(f"app not ready after 180 s:\n{text[-3000:]}")
            time.sleep(0.3)
        server = SimpleNamespace(url=url, corpus=corpus, judgments=judgments, log=log_path, proc=proc)
        # every test sees one state, the reader loaded: else it would load partway through the session, and
        # a label or an answer would depend on how fast the machine is (the tests that need it off say so)
        wait_for_reader(server)
        yield server
    finally:
        from qa.bench.cold import stop_process

        stop_process(proc)


def wait_for_reader(app_server, timeout: float = 300) -> None:
    """Block until the app's log says the reader model and then the gloss model have loaded (they load
    after the index)."""
    import time

    deadline = time.monotonic() + timeout
    while "gloss model (" not in app_server.log.read_text(encoding="utf-8", errors="replace"):
        text = app_server.log.read_text(encoding="utf-8", errors="replace")
        if "reader off" in text or "gloss model off" in text:
            pytest.fail(f"the app's reader or gloss model did not load:\n{text[-2000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"the app's reader did not load in {timeout:.0f} s:\n{text[-2000:]}")
        time.sleep(0.5)


@pytest.fixture(scope="session")
def app_client(app_server):
    """A gradio_client.Client connected to the session's app."""
    from gradio_client import Client

    return Client(app_server.url, verbose=False)


# ---------------------------------------------------------------------------------------------
# Uploads: a real two-page PDF (fpdf2) with a running header, for upload and browser tests.

GADGET_PAGES = (
    ("Overview", "The Lakeside Gadget Works reported steady growth in the year under review. "
                 "The works hired 85 new engineers for its design office."),
    ("Output", "In 2015 the Lakeside Gadget Works produced 7,450 solar lanterns. "
               "Most of the lanterns were shipped to rural cooperatives."),
)


def make_report_pdf(path: Path, pages=GADGET_PAGES, title: str = "Lakeside Gadget Works Annual Report 2015") -> Path:
    """A PDF with one heading and paragraph per page under a running header (fpdf2, test-only)."""
    import fpdf

    class Report(fpdf.FPDF):
        def header(self):
            self.set_font("Helvetica", size=9)
            self.cell(0, 8, "Lakeside Gadget Works - Annual Report", align="C")
            self.ln(12)

    pdf = Report()
    pdf.set_title(title)
    for heading, text in pages:
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 14)
        pdf.multi_cell(0, 8, heading)
        pdf.ln(3)
        pdf.set_font("Helvetica", size=11)
        pdf.multi_cell(0, 6, text)
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path

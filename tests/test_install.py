"""Nothing in `make run` or `make test` is compiled: every pinned requirement installs from a wheel.

pip resolves both requirement files against the package index with `--only-binary=:all:` (a dry run: nothing
is installed). The one exception is jieba, a pure-Python package published only as a source archive; it is
built with setuptools alone, no compiler. A requirement that would need a C or C++ build fails here.
"""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

PURE_PYTHON_SDISTS = ("jieba",)


def test_every_requirement_installs_from_a_wheel():
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-deps", "-q",
           "--disable-pip-version-check", "--only-binary=:all:", *(f"--no-binary={p}" for p in PURE_PYTHON_SDISTS),
           "-r", str(ROOT / "requirements-dev.txt")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR")]
    assert proc.returncode == 0, "\n".join(errors) or proc.stderr[-2000:]


def test_no_requirement_asks_for_a_compiler_or_build_flags():
    text = (ROOT / "requirements.txt").read_text() + (ROOT / "Makefile").read_text()
    assert "llama-cpp-python" not in text and "CMAKE_ARGS" not in text


def test_the_package_installs_the_qa_command():
    """`make run` and `make test` install the project itself (`pip install -e .`): a `qa` command beside the
    interpreter, the same CLI as `python -m qa`."""
    from pathlib import Path

    qa = Path(sys.executable).with_name("qa")
    assert qa.is_file(), "no qa command: run make setup (pip install -e .)"
    proc = subprocess.run([str(qa), "ask", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "--gloss" in proc.stdout

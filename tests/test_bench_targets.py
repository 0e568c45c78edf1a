"""`qa bench`'s speed-target table: every row of the issue, both runtimes, each next to its target.

The figures themselves are machine-dependent and never asserted; this checks the table they go in.
"""

from __future__ import annotations

import subprocess
import sys

from qa.bench.cold import settle
from qa.bench.targets import ROWS, targets_markdown


def _row(scale: float) -> dict[str, float]:
    return {"cli_s": 1.5 * scale, "app_s": 9.0 * scale, "warm_en_ms": 20.0 * scale, "warm_zh_ms": 30.0 * scale,
            "build_ratio": 3.0 * scale, "load_qps": 31.0 / scale, "load_p50_s": 0.5 * scale,
            "load_p95_s": 0.8 * scale, "build_s": 2.0, "build_xling_s": 6.0 * scale, "load_errors": 0,
            "load_average": 1.0, "gradio_client_qps": 12.0 / scale, "gradio_client_p95_s": 2.0 * scale}


def test_every_row_with_both_runtimes_its_target_and_whether_it_is_met():
    md = targets_markdown({"onnx": _row(1.0), "torch": _row(2.0)})
    lines = md.splitlines()
    assert lines[0] == "| what | now (ONNX Runtime) | before (torch, same run) | target | met |"
    table = [line for line in lines[2:] if line.startswith("| ")]
    assert len(table) == len(ROWS) == 8
    assert ("| one-off CLI question, process start → answer (index built, `--no-reader`) | 1.50 s | 3.00 s | ≤ 2.00 s "
            "| yes |") in md
    assert "with the reader" not in md  # not measured: not printed
    assert "| `python app.py` → first answer over the API | 9.00 s | 18.00 s | ≤ 5.00 s | no |" in md
    assert "| warm hybrid p50, Chinese question | 30.0 ms | 60.0 ms | ≤ 30.0 ms | yes |" in md
    assert "| 20 concurrent users, 500 questions: throughput | 31.0 q/s | 15.5 q/s | ≥ 50.0 q/s | no |" in md
    assert "| 20 concurrent users, 500 questions: latency p50 | 0.50 s | 1.00 s |  |  |" in md  # no target
    assert "load test errors 0" in md
    assert "through `gradio_client` threads 12.0 q/s, p95 2.00 s" in md  # the heavier client's figure beside it


def test_the_cli_question_with_the_reader_is_printed_under_the_table():
    md = targets_markdown({"onnx": {**_row(1.0), "cli_reader_s": 3.456}})
    assert "One-off CLI question with the reader (the default; model load and reading included): 3.46 s." in md


def test_one_runtime_alone():
    md = targets_markdown({"onnx": _row(1.0)})
    assert md.splitlines()[0] == "| what | now (ONNX Runtime) | target | met |"
    assert "| index build with the cross-lingual vectors ÷ English-only build | 3.0× | ≤ 2.0× | no |" in md


def test_the_peer_bench_says_how_to_install_the_peer_when_none_is_and_exits_2(monkeypatch, capsys):
    from qa.bench import peer
    from qa.cli import main

    monkeypatch.setattr(peer, "installed", lambda: None)
    assert main(["bench", "--peer"]) == 2
    assert "txtai is not installed (pip install --no-deps txtai==9.14.0)" in capsys.readouterr().out


def test_the_peer_table_puts_the_three_systems_side_by_side():
    from qa.bench.peer import markdown

    row = {"english": {"n": 60, "p50_ms": 20.34, "p95_ms": 38.0, "top1_right": 29},
           "chinese": {"n": 10, "p50_ms": 29.6, "p95_ms": 33.1, "top1_right": 5}}
    r = {"peer": "txtai 9.14.0", "rounds": 2, "questions": {"english": 30, "chinese": 5},
         "systems": {"this project": row, "peer hybrid": {**row, "english": {**row["english"], "top1_right": 20}}}}
    md = markdown(r)
    assert "| this project | 20.3 / 38.0 | 29.6 / 33.1 | 34/35 |" in md
    assert "| peer hybrid | 20.3 / 38.0 | 29.6 / 33.1 | 25/35 |" in md and "txtai 9.14.0; 2 alternating rounds" in md


def test_the_load_rows_wait_for_a_busy_app_to_go_quiet():
    """`settle` returns once the process is idle, and gives up (None) on one that keeps both hands busy."""
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    quiet = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert settle(busy.pid, window=0.5, timeout=1.5) is None
        waited = settle(quiet.pid, window=0.5, timeout=5)
        assert waited is not None and waited < 2
    finally:
        busy.kill()
        quiet.kill()

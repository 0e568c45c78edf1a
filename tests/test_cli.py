"""`python -m qa` as a user runs it: real model, real FAISS, the real report, subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT, SEED

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "QA_READER": "1"}


def run(args, tmp, stdin=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "qa", *args, "-q", "--no-cross-lingual", "--corpus", str(tmp / "corpus"),
                           "--index", str(tmp / "index")], input=stdin, capture_output=True, text=True,
                          env=ENV, cwd=ROOT, timeout=timeout)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    (tmp / "corpus").mkdir()
    shutil.copy(SEED, tmp / "corpus" / SEED.name)
    r = run(["index"], tmp)
    assert r.returncode == 0, r.stderr
    assert "passages: 15" in r.stdout and "dropped boilerplate lines: 3" in r.stdout
    return tmp


def test_ask_json_schema(seeded):
    r = run(["ask", "What poverty line did the Corps set?", "--json", "-k", "3"], seeded)
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["question"] == "What poverty line did the Corps set?" and j["abstained"] is False
    assert "[1]" in j["answer"] and len(j["passages"]) == 3
    p = j["passages"][0]
    assert p["section"] == "Poverty line" and "3500 Yuan" in p["highlight"]
    src = SEED.read_text(encoding="utf-8")
    assert src[p["start"]:p["end"]] == p["text"]
    # the reader's verdict per passage (null where not read) and the answer span, with offsets into the report
    assert j["reader"] == "on" and p["answers"] is True and 0.5 <= p["reader_score"] <= 1
    assert all(x["answers"] is None and x["reader_score"] is None for x in j["passages"][1:])
    assert "3500 Yuan" in j["answer_span"] and src[j["answer_start"]:j["answer_end"]] == j["answer_span"]


def test_no_reader_flag_and_environment_turn_the_reader_off(seeded):  # (ENV turns it on for this file)
    r = run(["ask", "What poverty line did the Corps set?", "--json", "-k", "2", "--no-reader"], seeded)
    j = json.loads(r.stdout)
    assert j["reader"] == "off" and j["answer_span"] is None and j["passages"][0]["answers"] is None
    env_off = subprocess.run([sys.executable, "-m", "qa", "ask", "What poverty line did the Corps set?", "--json", "-q",
                              "--no-cross-lingual", "--corpus", str(seeded / "corpus"), "--index", str(seeded / "index")],
                             capture_output=True, text=True, env={**ENV, "QA_READER": "0"}, cwd=ROOT, timeout=300)
    assert json.loads(env_off.stdout)["reader"] == "off"


def test_ask_text_output_with_history(seeded):
    r = run(["ask", "And how many people fell below it?", "--history", "What poverty line did the Corps set?"], seeded)
    assert r.returncode == 0, r.stderr
    assert "Searched for:" in r.stdout and "Poverty line ¶3" in r.stdout and "246,600" in r.stdout


def test_batch_mode_keeps_order_and_reports_bad_lines(seeded):
    lines = [
        json.dumps({"question": "What poverty line did the Corps set?"}),
        "{not json",
        json.dumps({"question": "   "}),
        json.dumps({"question": "And how many people fell below it?", "history": ["What poverty line did the Corps set?"]}),
        json.dumps({"question": "How much money was invested? " + "x" * 100_000}),
        json.dumps({"question": "What poverty line did the Corps set?", "k": None}),  # a bad field: that line only
        json.dumps({"question": "What poverty line did the Corps set?", "k": 2}),
    ]
    r = run(["ask", "--json", "-"], seeded, stdin="\n".join(lines) + "\n")
    out = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(out) == 7
    assert out[5] == {"line": 6, "error": '"k" must be a whole number'} and len(out[6]["passages"]) == 2
    assert out[0]["passages"][0]["section"] == "Poverty line"
    assert out[1] == {"line": 2, "error": out[1]["error"]} and "line 2" in r.stderr
    assert out[2]["line"] == 3 and "empty" in out[2]["error"]
    assert out[3]["searched"] != out[3]["question"]
    assert any("only the first" in n for n in out[4]["notices"])
    assert r.returncode == 1 and "Traceback" not in r.stderr


def test_a_chinese_question_gets_chinese_notices_and_labels_unless_lang_says_otherwise(seeded):
    r = run(["ask", "兵团的扶贫标准是多少？", "-k", "2"], seeded)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "问： 兵团的扶贫标准是多少？" and any(line.startswith("答： ") for line in lines)
    assert any(x in r.stdout for x in ("强匹配", "可能匹配", "弱匹配")) and "match," not in r.stdout
    assert all(not line.startswith(("Note:", "提示： The")) for line in lines)  # notices in Chinese too
    r = run(["ask", "兵团的扶贫标准是多少？", "-k", "2", "--lang", "en", "--no-gloss"], seeded)
    assert r.stdout.startswith("Q: 兵团的扶贫标准是多少？") and "Machine translation" not in r.stdout
    assert "match, score" in r.stdout


def test_empty_question_is_one_line_error(tmp_path):
    (tmp_path / "corpus").mkdir()
    r = run(["ask", "  \t "], tmp_path)
    assert r.returncode == 2 and r.stderr.strip() == "error: the question is empty"


@pytest.mark.parametrize("where", ["proc", "under a file", "read-only"])
def test_an_index_folder_that_cannot_be_used_is_one_line_not_a_traceback(seeded, tmp_path, where):
    if where == "read-only" and os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    if where == "proc":
        index = "/proc/qa-index"
    elif where == "under a file":
        (tmp_path / "a-file").write_text("x", encoding="utf-8")
        index = str(tmp_path / "a-file" / "index")
    else:
        (tmp_path / "ro").mkdir()
        (tmp_path / "ro").chmod(0o500)
        index = str(tmp_path / "ro" / "index")
    r = subprocess.run([sys.executable, "-m", "qa", "ask", "What poverty line?", "-q", "--no-reader",
                        "--no-cross-lingual", "--corpus", str(seeded / "corpus"), "--index", index],
                       capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_empty_corpus_folder(tmp_path):
    (tmp_path / "corpus").mkdir()
    r = run(["ask", "What poverty line?"], tmp_path)
    assert r.returncode == 2 and "no readable report" in r.stderr and "Traceback" not in r.stderr
    r = run(["index"], tmp_path / "missing")
    assert r.returncode == 2 and "does not exist" in r.stderr


def test_binary_and_invalid_utf8_files_are_skipped_with_a_warning(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "good.txt").write_text("Good report 2020\n\n【Water】 The town built 12 wells.\n", encoding="utf-8")
    (corpus / "binary.txt").write_bytes(b"\x00\x01\x02garbage\x00" * 50)
    (corpus / "latin1.txt").write_bytes("Caf\xe9 report\n\nSome text.".encode("latin-1"))
    r = run(["index"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "skipped binary.txt" in r.stdout and "skipped latin1.txt" in r.stdout and "UTF-8" in r.stdout
    assert "passages: 1" in r.stdout

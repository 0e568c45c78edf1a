"""The Milvus backend on milvus-lite: filters as expressions, incremental update and delete, a SIGKILL
mid-update, and the same answers as the local backend on the shipped question set.

milvus-lite runs one server process per .db file and one process at a time per file: each test that
needs its own file opens it and closes the client at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import ROOT, write_corpus

from qa.index.build import open_index
from qa.index.embed import HashEmbedder
from qa.search.backend import Query, Where
from qa.search.lexical import tokenize
from qa.search.milvus_backend import MilvusBackend, open_store, where_expression
from qa.search.retrieve import Retriever

pytest.importorskip("pymilvus")


def _report(title: str, topic: str, n: int = 4) -> str:
    return f"{title}\n" + "\n".join(f"【{topic.title()} part {i}】\nThe {topic} programme built {i + 3} new {topic} "
                                    f"sites and trained {10 * i + 5} staff for {topic} work." for i in range(n))


REPORTS = {
    "canals-2010.txt": _report("Canal Building Report 2010", "canal"),
    "schools-2012.txt": _report("School Building Report 2012", "school"),
}


@pytest.fixture(scope="module")
def two_reports(tmp_path_factory):
    """Two reports (2010, 2012) indexed with the fake embedder, written to one milvus-lite file."""
    base = tmp_path_factory.mktemp("two")
    corpus = write_corpus(base / "corpus", REPORTS)
    store = open_store(base / "index", collection="two")
    index, _ = open_index(corpus, base / "index", HashEmbedder(), sync=store)
    retriever = Retriever(index, HashEmbedder(), backend=MilvusBackend(store.client, store.name, index))
    yield index, retriever, store
    store.close()


def _query(retriever, text: str) -> Query:
    return Query(text, tuple(tokenize(text)), False, retriever.embedder.encode([text], query=True)[0])


def test_where_becomes_a_filter_expression():
    assert where_expression(None) == ""
    assert where_expression(Where(frozenset({1}), frozenset({"b", 'a"x'}))) == 'doc in ["a\\"x", "b"]'
    assert where_expression(Where(frozenset({1}), years=(2010, 2012)), cjk=True) == \
        "(year >= 2010 and year <= 2012) and cjk == true"


@pytest.mark.parametrize("where_of", [
    lambda index: ("doc", Where(frozenset(), frozenset({"schools-2012"}))),
    lambda index: ("year", Where(frozenset(), years=(2009, 2010))),
])
def test_filters_select_in_milvus(two_reports, where_of):
    """A doc filter and a year filter: every leg holds only the chosen report's passages, though the
    question's words are the other report's; the normaliser is still the best over all passages."""
    index, retriever, _ = two_reports
    kind, where = where_of(index)
    docs = {"schools-2012"} if kind == "doc" else {"canals-2010"}
    rows = frozenset(i for i, p in enumerate(index.passages) if p.doc in docs)
    where = Where(rows, where.docs, where.years)
    text = "canal sites" if kind == "doc" else "school staff"
    q = _query(retriever, text)
    legs = retriever.backend.candidates(q, k=2, where=where)
    everything = retriever.backend.candidates(q, k=2)
    assert legs.dense and legs.rows() <= rows
    assert legs.lexical_best == pytest.approx(everything.lexical_best)
    assert legs.lexical_best > 0
    local = retriever.lexical.scores(list(q.tokens))
    assert legs.lexical_best == pytest.approx(float(local.max()), rel=1e-5)
    assert {index.passages[c.row].doc for c in retriever.search(text, k=3, allowed=where)} == docs


def _milvus_ids(store) -> tuple[set[str], int, dict]:
    pids = set(store._existing(store.passages, "id"))
    units = len(store._existing(store.units, "key"))
    return pids, units, store._existing(store.terms, "term", "df")


def test_update_and_delete_follow_the_corpus(tmp_path):
    """Add a report, change one, remove one: Milvus holds exactly the new index's passages and units,
    and only the changed passages are written again."""
    corpus = write_corpus(tmp_path / "c", {**REPORTS, "roads-2011.txt": _report("Road Report 2011", "road")})
    store = open_store(tmp_path / "i", collection="upd")
    try:
        index, _ = open_index(corpus, tmp_path / "i", HashEmbedder(), sync=store)
        assert _milvus_ids(store)[:2] == ({p.id for p in index.passages}, len(index.units))
        (corpus / "roads-2011.txt").unlink()
        (corpus / "clinics-2011.txt").write_text(_report("Clinic Report 2011", "clinic"), encoding="utf-8")
        changed = REPORTS["canals-2010.txt"].replace("built 3 new", "built 33 new")
        (corpus / "canals-2010.txt").write_text(changed, encoding="utf-8")
        written = []
        store_write = store.write
        store.write = lambda ix, progress=False: written.append(store_write(ix, progress)) or written[-1]
        index2, report = open_index(corpus, tmp_path / "i", HashEmbedder(), sync=store)
        assert report.added == ("clinics-2011.txt",) and report.removed == ("roads-2011.txt",)
        pids, units, terms = _milvus_ids(store)
        assert pids == {p.id for p in index2.passages} and units == len(index2.units)
        assert written[0]["passages"] < len(index2.passages)  # unchanged passages are not written again
        assert "road" not in terms and "clinic" in terms
        assert store.synced_build() == index2.folder.name
    finally:
        store.close()


KILLER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from qa.index.build import open_index
    from qa.index.embed import HashEmbedder
    from qa.index.milvus_store import MilvusStore
    from qa.search.milvus_backend import open_store

    upsert = MilvusStore._upsert
    def dying(self, collection, rows, progress, label):
        upsert(self, collection, rows, progress, label)
        if label == "passages":  # the new passages are in Milvus; the units, stats and pointer are not
            os.killpg(os.getpgid(0), signal.SIGKILL)
    MilvusStore._upsert = dying
    corpus, index = Path(sys.argv[1]), Path(sys.argv[2])
    open_index(corpus, index, HashEmbedder(), sync=open_store(index, collection="kill"))
""")


def test_a_kill_mid_update_leaves_a_usable_index(tmp_path):
    corpus = write_corpus(tmp_path / "c", REPORTS)
    store = open_store(tmp_path / "i", collection="kill")
    old, _ = open_index(corpus, tmp_path / "i", HashEmbedder(), sync=store)
    store.close()
    (corpus / "roads-2011.txt").write_text(_report("Road Report 2011", "road"), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-c", KILLER, str(corpus), str(tmp_path / "i")], cwd=ROOT,
                          start_new_session=True, capture_output=True, timeout=300,
                          env=dict(os.environ))
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]

    # the old index is still the live one, and Milvus answers from it: the new passages are ignored
    store = open_store(tmp_path / "i", collection="kill")
    try:
        assert (tmp_path / "i" / "CURRENT").read_text().strip() == old.folder.name
        backend = MilvusBackend(store.client, store.name, old)
        retriever = Retriever(old, HashEmbedder(), backend=backend)
        legs = backend.candidates(_query(retriever, "road sites staff"), k=3)
        assert legs.rows() and max(legs.rows()) < len(old.passages)
        assert retriever.search("canal sites", k=1)[0].row in range(len(old.passages))
        # a re-run sees the stale index and completes the update
        new, report = open_index(corpus, tmp_path / "i", HashEmbedder(), sync=store)
        assert report is not None and "roads-2011.txt" in report.added
        pids, units, _ = _milvus_ids(store)
        assert pids == {p.id for p in new.passages} and units == len(new.units)
        assert store.synced_build() == new.folder.name
    finally:
        store.close()


def test_same_top_passage_as_the_local_backend(seed_qa, tmp_path_factory):
    """The shipped question set: the Milvus backend's top passage is the local backend's for ≥ 99 % of
    the questions, and Hit@1 is within 0.01 (qa/bench/backends.py measures every set)."""
    from qa.answer.service import ReportQA
    from qa.bench.backends import compare
    from qa.eval.questions import load_questions

    store = open_store(tmp_path_factory.mktemp("same"), collection="seed")
    try:
        store.write(seed_qa.index)
        milvus = ReportQA(seed_qa.index, seed_qa.embedder, xling=seed_qa.retriever.xling,
                          backend=MilvusBackend(store.client, store.name, seed_qa.index))
        questions = load_questions(ROOT / "corpus" / "xpcc-poverty-alleviation-2011.questions.jsonl")
        result = compare(seed_qa, milvus, questions)
    finally:
        store.close()
    assert result["same_top"] >= 0.99, result["differ"]
    assert abs(result["hit1_local"] - result["hit1_milvus"]) <= 0.01


def _lean_folder(index, dest: Path) -> Path:
    """An index folder holding only what a lean replica reads: `CURRENT`, the manifest, the documents."""
    build = dest / index.folder.name
    build.mkdir(parents=True)
    for name in ("manifest.json", "documents.jsonl"):
        shutil.copy(index.folder / name, build / name)
    (dest / "CURRENT").write_text(index.folder.name, encoding="utf-8")
    return dest


def test_a_lean_replica_answers_as_the_local_backend_without_a_copy_of_the_index(seed_qa, tmp_path_factory):
    """`ReportQA.open(backend="milvus", read_only=True)`: with only the build's manifest and document list
    on disk (no passages, units, vectors or FAISS file), every shipped question gets the local backend's
    answer: the same passages in the same order, the same highlight and label (≥ 99 %), and Hit@1
    within 0.01. The sources are read back whole, and neighbours are found by row."""
    from qa.answer.service import ReportQA
    from qa.bench.backends import compare
    from qa.eval.questions import load_questions
    from qa.search.milvus_records import MilvusRecords

    base = tmp_path_factory.mktemp("lean")
    store = open_store(base, collection="lean")
    try:
        store.write(seed_qa.index)
        store.mark(seed_qa.index.folder.name)  # as `qa index` does once Milvus holds the whole build
        index_dir = _lean_folder(seed_qa.index, base / "index")
        lean = ReportQA.open(base / "no-corpus", index_dir, seed_qa.embedder, xling=seed_qa.retriever.xling,
                             backend="milvus", read_only=True, store=store)
        assert lean.lean and isinstance(lean.retriever.records, MilvusRecords)
        assert lean.index.vectors is None and lean.index.faiss_index is None
        questions = load_questions(ROOT / "corpus" / "xpcc-poverty-alleviation-2011.questions.jsonl")
        result = compare(seed_qa, lean, questions)
        assert result["same_top"] >= 0.99, result["differ"]
        assert abs(result["hit1_local"] - result["hit1_milvus"]) <= 0.01
        same = 0
        for q in questions:
            a, b = (x.ask(q.question, list(q.history), read=False) for x in (seed_qa, lean))
            key = [(h.passage, h.highlight_start, h.highlight_end, h.confidence) for h in a.hits]
            same += key == [(h.passage, h.highlight_start, h.highlight_end, h.confidence) for h in b.hits]
            same -= (a.abstained, a.answer) != (b.abstained, b.answer)
        assert same >= 0.99 * len(questions)
        assert list(lean.passages) == list(seed_qa.passages)
        pid = seed_qa.passages[3].id
        assert lean.context(pid) == seed_qa.context(pid)
    finally:
        store.close()


def test_a_lean_replica_filters_in_milvus(two_reports, tmp_path, caplog):
    """Reports and years filter in Milvus (a lean replica lists no rows); an unknown report is a plain error.
    Reading the term statistics leaves no error in the log (milvus-lite's harmless AllocTimestamp noise)."""
    import logging

    from qa.answer.service import ReportQA
    from qa.search.filters import BadFilter

    index, _, store = two_reports
    with caplog.at_level(logging.INFO):
        lean = ReportQA.open(tmp_path / "c", _lean_folder(index, tmp_path / "i"), HashEmbedder(), xling=False,
                             backend="milvus", read_only=True, store=store)
    assert "Method not implemented" not in caplog.text and "mvccTs" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert {h.passage.doc for h in lean.ask("canal sites", docs=["schools-2012"]).hits} == {"schools-2012"}
    assert {h.passage.doc for h in lean.ask("school staff", years="2009-2010").hits} == {"canals-2010"}
    with pytest.raises(BadFilter, match="no report with id nope"):
        lean.ask("canal sites", docs=["nope"])


def test_a_store_written_in_an_older_layout_is_rewritten_and_lean_replicas_wait_for_it(tmp_path):
    """A Milvus index marked by an older version (no layout in its build mark) is not taken as up to date:
    a lean replica refuses it in plain words, and the next `qa index` rewrites it for the replica."""
    import json

    from qa.answer.service import ReportQA
    from qa.errors import IndexUnusable
    from qa.index.milvus_store import BUILD

    corpus = write_corpus(tmp_path / "c", REPORTS)
    store = open_store(tmp_path / "i", collection="old")
    try:
        index, _ = open_index(corpus, tmp_path / "i", HashEmbedder(), sync=store)
        store.client.upsert(store.terms, [{"term": BUILD, "df": 0, "info": json.dumps({"build": index.folder.name}),
                                           "dummy": [0.0, 0.0]}])  # as the previous version marked a build
        assert store.synced_build() is None
        with pytest.raises(IndexUnusable, match="python -m qa index --backend milvus"):
            ReportQA.open(corpus, tmp_path / "i", HashEmbedder(), xling=False, backend="milvus", read_only=True,
                          store=store)
        open_index(corpus, tmp_path / "i", HashEmbedder(), sync=store)
        assert store.synced_build() == index.folder.name
        lean = ReportQA.open(corpus, tmp_path / "i", HashEmbedder(), xling=False, backend="milvus", read_only=True,
                             store=store)
        assert lean.ask("canal sites").hits[0].passage.doc == "canals-2010"
    finally:
        store.close()


def test_unreachable_milvus_is_a_plain_error(tmp_path):
    from qa.errors import BackendUnavailable

    with pytest.raises(BackendUnavailable, match="ending in .db"):
        open_store(tmp_path, uri=str(tmp_path / "milvus.sqlite"))
    with pytest.raises(BackendUnavailable, match="cannot reach Milvus"):
        open_store(tmp_path, uri="http://127.0.0.1:9")


def test_cli_ask_with_the_milvus_backend(tmp_path):
    """`qa ask --backend milvus` answers from Milvus; the default path imports no pymilvus."""
    corpus = write_corpus(tmp_path / "c", REPORTS)
    env = {**os.environ, "QA_MODEL": ""}
    code = ("import sys, qa.cli as c; from qa.index.embed import HashEmbedder;"
            "c.embedders = lambda args: (HashEmbedder(), None);"
            "rc = c.main(sys.argv[1:]); print('pymilvus' in sys.modules); sys.exit(rc)")
    base = [sys.executable, "-c", code, "ask", "How many canal sites were built?", "--corpus", str(corpus),
            "--index", str(tmp_path / "i"), "-q"]
    milvus = subprocess.run([*base, "--backend", "milvus"], capture_output=True, text=True, env=env, timeout=300)
    assert milvus.returncode == 0, milvus.stderr[-2000:]
    assert "canals-2010" in milvus.stdout and milvus.stdout.strip().endswith("True")
    assert Path(tmp_path / "i" / "milvus.db").exists()
    local = subprocess.run(base, capture_output=True, text=True, env=env, timeout=300)
    assert local.returncode == 0 and local.stdout.strip().endswith("False")
    assert local.stdout.splitlines()[:3] == milvus.stdout.splitlines()[:3]


def test_a_lean_replica_reads_back_a_passage_whose_title_is_longer_than_4096_characters(tmp_path):
    """A Markdown report whose `#` heading runs on makes a long title. Its record once was cut at 4,096
    characters mid-JSON and could not be read back; now the record holds it whole (up to 64 KB)."""
    from qa.answer.service import ReportQA

    title = "Annual review of canal building " + " ".join(f"section{i} water works" for i in range(400))
    corpus = write_corpus(tmp_path / "c", {"long.md": f"# {title}\n\n【Canals】 The canal programme built 7 canal sites.\n"})
    store = open_store(tmp_path / "i", collection="long")
    try:
        index, _ = open_index(corpus, tmp_path / "i", HashEmbedder(), sync=store)
        assert len(index.passages[0].title) > 4096
        lean = ReportQA.open(corpus, tmp_path / "i", HashEmbedder(), xling=False, backend="milvus", read_only=True,
                             store=store)
        hit = lean.ask("How many canal sites were built?").hits[0]
        assert hit.passage.title == index.passages[0].title and hit.passage.section == "Canals"
    finally:
        store.close()

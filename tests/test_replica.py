"""A replica serves the shared index read-only and follows its writer (`app.py --replica`; docs/scaling.md,
"Deploying"): it never builds, whatever the corpus folder holds, and it swaps in each new build the writer
switches to, with the models it has loaded. Real model, real FAISS, the bundled report."""

from __future__ import annotations

import shutil
import threading
import time

import pytest

from qa.answer.service import ReportQA
from qa.app.state import QAHolder, follow_builds
from qa.errors import IndexUnusable
from tests.conftest import SEED

NEW_REPORT = """Report on Orchard Irrigation in Hami, 2012

      【Drip irrigation】 In 2012 the Hami orchards laid 410 kilometres of drip irrigation pipe,
which cut the water used per mu of apricot trees by a third.
"""
QUESTION = "How many kilometres of drip irrigation pipe did the Hami orchards lay?"


def _corpus(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SEED, corpus / SEED.name)
    return corpus, tmp_path / "index"


def _builds(index):
    return sorted(p.name for p in index.glob("build-*"))


def test_read_only_serves_the_writers_build_and_never_builds(real_embedder, tmp_path):
    corpus, index = _corpus(tmp_path)
    with pytest.raises(IndexUnusable, match="no index has been built yet"):
        ReportQA.open(corpus, index, real_embedder, xling=False, read_only=True)
    assert not (index / "CURRENT").exists()  # nothing written

    writer = ReportQA.open(corpus, index, real_embedder, xling=False)
    (corpus / "hami.txt").write_text(NEW_REPORT, encoding="utf-8")  # the writer has not indexed it yet
    before = _builds(index)
    replica = ReportQA.open(corpus, index, real_embedder, xling=False, read_only=True)
    assert _builds(index) == before  # the changed corpus did not make the replica build
    assert replica.index.folder == writer.index.folder
    assert {p.doc for p in replica.passages} == {SEED.stem}


def test_a_replica_swaps_in_the_writers_new_build_and_keeps_one_that_will_not_open(real_embedder, tmp_path, caplog):
    corpus, index = _corpus(tmp_path)
    ReportQA.open(corpus, index, real_embedder, xling=False)  # the writer's first build
    old = ReportQA.open(corpus, index, real_embedder, xling=False, read_only=True)
    holder = QAHolder(qa=old)
    reused = []

    def reopen(qa):
        reused.append(qa.embedder is real_embedder)
        return ReportQA.open(corpus, index, qa.embedder, xling=False, read_only=True)

    stop = threading.Event()
    follow_builds(holder, index, reopen, every=0.05, stop=stop)
    try:
        (corpus / "hami.txt").write_text(NEW_REPORT, encoding="utf-8")
        writer = ReportQA.open(corpus, index, real_embedder, xling=False)  # builds, then switches CURRENT
        deadline = time.monotonic() + 60
        while holder.get().index.folder != writer.index.folder and time.monotonic() < deadline:
            time.sleep(0.05)
        assert holder.get().index.folder == writer.index.folder, "the replica did not follow the new build"
        assert reused == [True]  # the loaded model, not a second copy
        assert holder.get().ask(QUESTION).hits[0].passage.doc == "hami"
        assert old.ask(QUESTION).hits[0].passage.doc == SEED.stem  # a question already running finishes on the old

        broken = index / "build-20990101-000000-broken"
        broken.mkdir()
        (broken / "manifest.json").write_text("{not json", encoding="utf-8")
        caplog.set_level("WARNING", logger="qa.app.state")
        (index / "CURRENT").write_text(broken.name + "\n", encoding="utf-8")
        deadline = time.monotonic() + 60  # until the follower has tried the broken build and said so
        while broken.name not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
        assert f"could not open {broken.name}" in caplog.text
        assert holder.get().index.folder == writer.index.folder  # kept, and still answering
        assert holder.get().ask(QUESTION).hits[0].passage.doc == "hami"
    finally:
        stop.set()


def test_the_writer_can_keep_the_build_it_replaces_until_the_next(real_embedder, tmp_path):
    """`qa index --keep-previous`: a replica on shared storage that has not switched yet can still read the
    build it serves; one generation is kept, not all."""
    from qa.index.build import open_index

    corpus, index = _corpus(tmp_path)
    first, _ = open_index(corpus, index, real_embedder)
    (corpus / "hami.txt").write_text(NEW_REPORT, encoding="utf-8")
    second, report = open_index(corpus, index, real_embedder, keep_previous=True)
    assert report is not None and _builds(index) == sorted([first.folder.name, second.folder.name])
    (corpus / "hami.txt").unlink()
    third, _ = open_index(corpus, index, real_embedder, keep_previous=True)
    assert _builds(index) == sorted([second.folder.name, third.folder.name])
    (corpus / "hami.txt").write_text(NEW_REPORT, encoding="utf-8")
    fourth, _ = open_index(corpus, index, real_embedder)  # the default: only the new build stays
    assert _builds(index) == [fourth.folder.name]


def test_a_milvus_replica_switches_builds_on_the_same_connection(real_embedder, tmp_path):
    """`--replica --backend milvus`: the writer's new build is served through the Milvus connection the
    replica already has (one per switch would pile up over a long run)."""
    corpus, index = _corpus(tmp_path)
    ReportQA.open(corpus, index, real_embedder, xling=False, backend="milvus")  # writes index/ and Milvus
    replica = ReportQA.open(corpus, index, real_embedder, xling=False, backend="milvus", read_only=True)
    (corpus / "hami.txt").write_text(NEW_REPORT, encoding="utf-8")
    ReportQA.open(corpus, index, real_embedder, xling=False, backend="milvus", store=replica.store)  # the writer
    switched = ReportQA.open(corpus, index, real_embedder, xling=False, backend="milvus", read_only=True,
                             store=replica.store)
    assert switched.store is replica.store and switched.retriever.backend.client is replica.store.client
    assert switched.ask(QUESTION).hits[0].passage.doc == "hami"
    # a Milvus replica is lean: it reads Milvus per question, so the replaced one sees the new rows too
    assert replica.lean and replica.ask(QUESTION).hits[0].passage.doc == "hami"


def test_lean_replicas_and_their_writer_share_one_milvus_server(real_embedder, tmp_path):
    """Milvus as a server (`milvus-lite server`: the protocol of a cluster, in a process of its own), a writer
    and two lean replicas, each on its own connection. The replicas hold no copy of the index (their index
    folder holds only what `CURRENT` names: the manifest and the document list are read), answer as the
    writer does, see the writer's new report at once, and answer it without doubt once they have switched
    to its build."""
    from qa.bench.milvus_server import LiteServer

    corpus, index = _corpus(tmp_path)
    with LiteServer(tmp_path / "engine" / "milvus.db") as server:
        writer = ReportQA.open(corpus, index, real_embedder, xling=False, backend="milvus", milvus_uri=server.uri)
        replicas = [ReportQA.open(tmp_path / "no-corpus", index, real_embedder, xling=False, backend="milvus",
                                  milvus_uri=server.uri, read_only=True) for _ in range(2)]
        try:
            assert all(r.lean for r in replicas) and replicas[0].store.client is not replicas[1].store.client
            asked = "What poverty line did the Corps set?"
            assert {r.ask(asked).hits[0].passage.id for r in replicas} == {writer.ask(asked).hits[0].passage.id}
            (corpus / "hami.txt").write_text(NEW_REPORT, encoding="utf-8")
            writer = ReportQA.open(corpus, index, real_embedder, xling=False, backend="milvus", store=writer.store)
            assert all(r.ask(QUESTION).hits[0].passage.doc == "hami" for r in replicas)  # Milvus is read live
            switched = [ReportQA.open(tmp_path / "no-corpus", index, real_embedder, xling=False, backend="milvus",
                                      read_only=True, store=r.store) for r in replicas]
            answers = [s.ask(QUESTION) for s in switched]
            assert all(not a.abstained and a.hits[0].passage.doc == "hami" and "410" in a.answer for a in answers)
        finally:
            for qa in (writer, *replicas):
                qa.store.close()


def test_the_follower_survives_an_engine_error_and_follows_the_next_build(tmp_path):
    """An engine's own exception (not a QAError: MilvusException is one) raised while opening a new
    build is logged, the old build kept, and the follower goes on: the build after it is swapped in."""
    from types import SimpleNamespace

    class EngineError(Exception):
        pass

    index = tmp_path / "index"

    def build(name):
        (index / name).mkdir(parents=True)
        (index / "CURRENT").write_text(name + "\n", encoding="utf-8")

    def served(name):
        return SimpleNamespace(index=SimpleNamespace(folder=index / name))

    build("build-1")
    holder = QAHolder(qa=served("build-1"))
    calls = []

    def reopen(qa):
        name = (index / "CURRENT").read_text(encoding="utf-8").strip()
        calls.append(name)
        if name == "build-2":
            raise EngineError("Fail connecting to server on 127.0.0.1:19777")
        return served(name)

    stop = threading.Event()
    thread = follow_builds(holder, index, reopen, every=0.02, stop=stop)
    try:
        build("build-2")
        deadline = time.monotonic() + 10
        while "build-2" not in calls and time.monotonic() < deadline:
            time.sleep(0.02)
        assert holder.get().index.folder.name == "build-1" and thread.is_alive()  # kept, still following
        build("build-3")
        while holder.get().index.folder.name != "build-3" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert holder.get().index.folder.name == "build-3" and calls == ["build-2", "build-3"]
    finally:
        stop.set()

"""Past one machine: a replica elsewhere finds its writer's Milvus collections through the build's manifest,
and an engine that goes down and comes back costs answers in plain words while it is down, not the app.

The engine is `milvus-lite server` (the gRPC protocol of a Milvus cluster, in a process of its own); the
embedder is the small fake one, so these tests are about the engine's plumbing, not retrieval quality."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest
from conftest import write_corpus

from qa.answer.service import ReportQA
from qa.bench.milvus_server import LiteServer
from qa.errors import BackendUnavailable, IndexUnusable
from qa.index.build import open_index
from qa.index.embed import HashEmbedder
from qa.index.folder import current_folder
from qa.index.milvus_client import Resilient
from qa.search.milvus_backend import open_store

pytest.importorskip("pymilvus")

REPORTS = {"canals-2010.txt": "Canal Building Report 2010\n【Canals】\nThe canal programme built 7 new canal "
                              "sites and trained 45 staff for canal work.\n【Wells】\nThe well programme dug 12 "
                              "wells in the south.\n"}
NEW = {"schools-2012.txt": "School Building Report 2012\n【Schools】\nThe school programme built 9 new schools.\n"}


def _writer(tmp_path, uri):
    corpus = write_corpus(tmp_path / "writer" / "corpus", REPORTS)
    store = open_store(tmp_path / "writer" / "index", uri)
    open_index(corpus, tmp_path / "writer" / "index", HashEmbedder(), sync=store)
    return corpus, store


def _second_machine(writer_index, folder):
    """What a second machine gets of the writer's index folder: `CURRENT`, the manifest and the documents."""
    build = current_folder(writer_index)
    (folder / build.name).mkdir(parents=True)
    shutil.copy(writer_index / "CURRENT", folder / "CURRENT")
    for name in ("manifest.json", "documents.jsonl"):
        shutil.copy(build / name, folder / build.name / name)
    return folder


def _replica(folder, uri):
    return ReportQA.open(folder.parent / "no-corpus", folder, HashEmbedder(), xling=False, backend="milvus",
                         milvus_uri=uri, read_only=True)


def test_a_replica_in_another_folder_finds_the_writers_collection_through_the_manifest(tmp_path):
    with LiteServer(tmp_path / "engine") as server:
        _, store = _writer(tmp_path, server.uri)
        replica = None
        try:
            folder = _second_machine(tmp_path / "writer" / "index", tmp_path / "elsewhere" / "index")
            replica = _replica(folder, server.uri)  # no --milvus-collection
            assert replica.lean and replica.store.name == store.name
            assert replica.ask("How many wells were dug?").hits[0].passage.section == "Wells"
            replica.store.close()

            manifest = next(folder.glob("build-*")) / "manifest.json"  # a build written before the manifest said
            manifest.write_text(manifest.read_text(encoding="utf-8").replace('"engine"', '"engine_"'), "utf-8")
            with pytest.raises(IndexUnusable) as e:
                replica = _replica(folder, server.uri)
            assert "no complete index named qa_index_" in str(e.value) and f"it holds: {store.name}" in str(e.value)
            assert "--milvus-collection" in str(e.value)
            replica = None
        finally:
            store.close()
            if replica is not None:
                replica.store.close()


def test_a_lean_replica_answers_in_words_while_milvus_is_down_and_again_after_it_restarts(tmp_path):
    server = LiteServer(tmp_path / "engine").__enter__()
    store = replica = None
    try:
        _, store = _writer(tmp_path, server.uri)
        replica = _replica(_second_machine(tmp_path / "writer" / "index", tmp_path / "r" / "index"), server.uri)
        asked = "How many wells were dug?"
        assert replica.ask(asked).hits[0].passage.section == "Wells"
        server.__exit__()  # the engine stops (an upgrade, a rescheduled pod)
        with pytest.raises(BackendUnavailable, match=f"cannot reach Milvus at {server.uri}"):
            replica.ask(asked)
        server = LiteServer(tmp_path / "engine", port=server.port).__enter__()  # back, its collections released
        restarted, answer = time.monotonic(), None
        while answer is None and time.monotonic() - restarted < 60:
            try:
                answer = replica.ask(asked)
            except BackendUnavailable:
                time.sleep(1)
        assert answer is not None and answer.hits[0].passage.section == "Wells"  # the same replica, no restart
    finally:
        for s in (store, replica and replica.store):
            if s is not None:
                s.client.close()
        server.__exit__()


def test_an_index_run_that_loses_milvus_leaves_current_and_the_previous_build(tmp_path):
    server = LiteServer(tmp_path / "engine").__enter__()
    try:
        corpus, store = _writer(tmp_path, server.uri)
        index = tmp_path / "writer" / "index"
        before = (index / "CURRENT").read_text(encoding="utf-8"), sorted(p.name for p in index.iterdir())
        write_corpus(corpus, NEW)
        server.__exit__()  # gone between connecting and writing
        with pytest.raises(BackendUnavailable):
            open_index(corpus, index, HashEmbedder(), sync=store)
        assert ((index / "CURRENT").read_text(encoding="utf-8"), sorted(p.name for p in index.iterdir())) == before
        store.client.close()
    finally:
        server.__exit__()

    env = dict(os.environ)
    code = ("import sys, qa.cli as c; from qa.index.embed import HashEmbedder;"
            "c.embedders = lambda args: (HashEmbedder(), None); sys.exit(c.main(sys.argv[1:]))")
    run = subprocess.run([sys.executable, "-c", code, "index", "--corpus", str(corpus), "--index", str(index),
                          "--backend", "milvus", "--milvus-uri", server.uri], capture_output=True, text=True,
                         env=env, timeout=300)
    assert run.returncode == 2 and "Traceback" not in run.stderr and f"cannot reach Milvus at {server.uri}" in run.stderr
    assert ((index / "CURRENT").read_text(encoding="utf-8"), sorted(p.name for p in index.iterdir())) == before


class _Fake:
    """A client whose `query` fails as a restarted engine's does, a given number of times."""

    def __init__(self, errors):
        self.errors, self.loaded, self.calls = list(errors), [], 0

    def query(self, collection_name, **kwargs):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return [{"id": 1}]

    def load_collection(self, name):
        self.loaded.append(name)


class _EngineError(Exception):
    def __init__(self, message, code=1):
        super().__init__(message)
        self.code = code


def test_a_released_collection_is_loaded_again_and_the_call_repeated():
    fake = _Fake([_EngineError("Collection 'x_units' is in state 'released'; call load() before search", 101)])
    assert Resilient(fake, "http://m:19530", waits=(0, 0)).query("x_units", filter="") == [{"id": 1}]
    assert fake.loaded == ["x_units"] and fake.calls == 2


def test_a_dropped_connection_is_tried_a_bounded_number_of_times_then_said_in_words():
    down = [_EngineError("Fail connecting to server on m:19530, illegal connection params or server unavailable", 2)]
    assert Resilient(_Fake(down * 2), "http://m:19530", waits=(0, 0, 0)).query("x") == [{"id": 1}]  # back in time
    fake = _Fake(down * 9)
    with pytest.raises(BackendUnavailable, match="cannot reach Milvus at http://m:19530"):
        Resilient(fake, "http://m:19530", waits=(0, 0, 0)).query("x")
    assert fake.calls == 4  # the first try and one a wait


def test_a_bad_request_is_not_retried():
    fake = _Fake([_EngineError("field 'nope' does not exist", 1100)])
    with pytest.raises(_EngineError):
        Resilient(fake, "http://m:19530", waits=(0, 0)).query("x")
    assert fake.calls == 1


def test_ship_gives_a_replica_only_what_a_second_machine_would_have(tmp_path):
    """`qa bench --deploy` ships a build as rsync would: the manifest and the document list, `CURRENT` last."""
    from qa.bench.deploy import ship

    writer = tmp_path / "w"
    (writer / "build-2").mkdir(parents=True)
    for name in ("manifest.json", "documents.jsonl", "units.faiss", "passages.jsonl"):
        (writer / "build-2" / name).write_text(name, encoding="utf-8")
    (writer / "CURRENT").write_text("build-2\n", encoding="utf-8")
    ship(writer, tmp_path / "r")
    assert sorted(str(p.relative_to(tmp_path / "r")) for p in (tmp_path / "r").rglob("*") if p.is_file()) == [
        "CURRENT", "build-2/documents.jsonl", "build-2/manifest.json"]
    assert current_folder(tmp_path / "r").name == "build-2"

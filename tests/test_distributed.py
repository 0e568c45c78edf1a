"""The distributed build (qa/index/distributed.py): a build on a local Ray cluster equals the single-process
build — same passages, units and vectors, bit for bit — with the packaged model; failures in plain words.

One local Ray cluster (2 CPUs) serves the whole module: starting one costs about 5 s.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import partial

import numpy as np
import pytest

from qa.errors import ClusterUnavailable, ModelUnavailable
from qa.index.build import open_index
from qa.index.distributed import RayCluster, RayEmbedder, batch_plan
from qa.index.embed import CrossLingualEmbedder, HashEmbedder
from qa.index.folder import current_folder
from qa.index.onnx_encoder import default_embedder
from qa.ingest.corpus import load_corpus
from qa.ingest.units import build_units, embedding_text
from tests.conftest import ROOT, SEED, write_corpus

XLING = partial(HashEmbedder, 64, "hash-xling-64")  # stands in for the slow cross-lingual pair in full builds


@pytest.fixture(scope="module")
def cluster():
    with RayCluster(2) as c:
        c.connect()
        yield c


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("corpus"), {SEED.name: SEED.read_text(encoding="utf-8")})


@pytest.fixture(scope="module")
def single(corpus, real_embedder, tmp_path_factory):
    """The single-process build of the bundled report: the packaged model (ONNX Runtime, default threads)."""
    index, _ = open_index(corpus, tmp_path_factory.mktemp("single"), real_embedder, xling=XLING())
    return index


def unit_texts(corpus, embedder) -> list[str]:
    passages = load_corpus(corpus).passages
    return [embedding_text(passages[u.passage], u) for u in build_units(passages, embedder.max_words)]


def assert_same_build(a, b):
    """Same passages, units and vectors (np.array_equal: not close, equal), and the same text keys."""
    for name in ("passages.jsonl", "documents.jsonl", "units.jsonl", "units.keys.npy", "units.xkeys.npy"):
        assert (a.folder / name).read_bytes() == (b.folder / name).read_bytes(), name
    assert np.array_equal(np.asarray(a.vectors), np.asarray(b.vectors))
    assert np.array_equal(a.xling_vectors, b.xling_vectors)
    assert a.faiss_index.ntotal == b.faiss_index.ntotal == len(a.units)
    for key in ("model_id", "dim", "xling_model_id", "counts", "corpus", "units"):
        assert a.manifest[key] == b.manifest[key], key


@pytest.mark.parametrize("workers", [1, 2])
def test_ray_build_equals_single_process_build(cluster, corpus, single, tmp_path, workers):
    """The real model on 1 and 2 actors (one thread each): every vector equal to the single-process one."""
    assert len(single.units) > 32  # more than one batch, so the batches' order and padding matter
    pool = RayCluster(workers)  # the module's cluster runs it (Ray is initialised already)
    embedder = RayEmbedder(partial(default_embedder, None, threads=1), pool)
    xling = RayEmbedder(XLING, pool)
    index, report = open_index(corpus, tmp_path / "ray", embedder, xling=xling)
    assert report.embedded == len(single.units) and report.reused == 0
    assert_same_build(single, index)


def test_cross_lingual_pair_equals_single_process(cluster, corpus):
    """The real cross-lingual pair (USE ⊕ e5, about 3 units/s) on 40 unit texts: two of its batches."""
    local = CrossLingualEmbedder()
    texts = [u.text for u in build_units(load_corpus(corpus).passages, local.max_words)][:40]
    assert [len(b) for b in batch_plan(local, texts)] == [32, 8]
    expected = local.encode(texts)
    got = RayEmbedder(CrossLingualEmbedder, RayCluster(2)).encode(texts)  # e5 on 1 OpenMP thread per worker
    assert np.array_equal(got, expected)


def test_batch_plan_is_the_encoders_own(corpus, real_embedder):
    """The contract RayEmbedder relies on: each planned batch encoded alone gives the rows of the whole."""
    texts = unit_texts(corpus, real_embedder)
    plan = batch_plan(real_embedder, texts)
    assert sorted(i for rows in plan for i in rows) == list(range(len(texts)))
    assert all(len(rows) <= real_embedder.batch_size for rows in plan)
    whole = real_embedder.encode(texts)
    for rows in plan:
        assert np.array_equal(real_embedder.encode([texts[i] for i in rows]), whole[rows])
    assert batch_plan(HashEmbedder(), ["a"] * 70) == [list(range(32)), list(range(32, 64)), list(range(64, 70))]


def test_cli_index_with_workers(cluster, corpus, single, tmp_path, capsys):
    """`qa index --workers 2`: a progress bar over batches, the workers named, the same vectors."""
    from qa.cli import main

    args = ["index", "--corpus", str(corpus), "--index", str(tmp_path / "cli"), "--no-cross-lingual", "--workers", "2"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "embedded by 2 model workers on a local Ray cluster" in out
    assert "Embedding on Ray (2 workers)" in err and "batch" in err
    manifest = json.loads((current_folder(tmp_path / "cli") / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["xling_model_id"] is None
    vectors = np.load(current_folder(tmp_path / "cli") / "units.npy")
    assert np.array_equal(vectors, np.asarray(single.vectors))
    assert main(args + ["-q"]) == 0  # up to date: nothing embedded, no bar
    out, err = capsys.readouterr()
    assert "up to date" in out and "Embedding on Ray" not in err


def test_worker_failures_in_plain_words(cluster):
    class Failing:  # defined here, so Ray ships it by value (workers cannot import the test module)
        model_id, max_words, dim = "failing", 40, 8

        def __init__(self, error: Exception):
            self.error = error

        def encode(self, texts, *, query=False, progress=False):
            raise self.error

    texts = [f"paragraph {i}" for i in range(40)]
    with pytest.raises(ModelUnavailable, match="^no model here$"):  # a domain error keeps its class
        RayEmbedder(partial(Failing, ModelUnavailable("no model here")), RayCluster(2)).encode(texts)
    with pytest.raises(ClusterUnavailable, match="a model worker failed: ZeroDivisionError: boom"):
        RayEmbedder(partial(Failing, ZeroDivisionError("boom")), RayCluster(2)).encode(texts)


def test_unreachable_address_fails_fast(cluster):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ClusterUnavailable, match=f"cannot reach a Ray cluster at 127.0.0.1:{port}"):
        RayCluster(2, f"127.0.0.1:{port}").connect()


def test_cli_errors(corpus, tmp_path, capsys, monkeypatch):
    from qa.cli import main

    base = ["index", "--corpus", str(corpus), "--index", str(tmp_path / "i"), "--no-cross-lingual", "-q"]
    assert main(base + ["--ray-address", "127.0.0.1:1"]) == 2  # no --workers
    assert "--workers must be at least 1" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    assert main(base + ["--workers", "2"]) == 2
    assert capsys.readouterr().err.strip() == ("error: the distributed build needs Ray, which is not installed "
                                               "(pip install 'ray[data]==2.60.0')")
    monkeypatch.setenv("QA_WORKERS", "3")
    monkeypatch.setenv("QA_RAY_ADDRESS", "head:6379")
    from qa.cli import build_parser

    args = build_parser().parse_args(["index"])
    assert (args.workers, args.ray_address) == (3, "head:6379")


def test_ray_stays_off_other_paths():
    """Importing the CLI and the distributed module does not import ray (it costs about half a second)."""
    code = "import sys, qa.cli, qa.index.distributed; sys.exit('ray' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_a_local_cluster_that_does_not_come_up_is_tried_once_more_then_said_plainly():
    """Ray raises a bare Exception when its node does not start in 30 s (seen once in CI): the local
    cluster is started once more, and if it fails again the error says so in plain words."""
    from qa.errors import ClusterUnavailable
    from qa.index.distributed import _start_local

    class FakeRay:
        def __init__(self, failures: int):
            self.failures, self.inits, self.shutdowns = failures, 0, 0

        def init(self, **kwargs):
            self.inits += 1
            if self.inits <= self.failures:
                raise Exception("The current node timed out during startup. This could happen because ...")

        def shutdown(self):
            self.shutdowns += 1

    once = FakeRay(failures=1)
    _start_local(once, num_cpus=2)
    assert (once.inits, once.shutdowns) == (2, 1)
    always = FakeRay(failures=5)
    with pytest.raises(ClusterUnavailable, match="did not start: The current node timed out"):
        _start_local(always, num_cpus=2)
    assert always.inits == 2

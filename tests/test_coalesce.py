"""Questions asked at the same moment share one encoder call (qa/search/coalesce.py), and each user still
gets the vector of their own question."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from qa.index.embed import HashEmbedder
from qa.search.coalesce import Coalescing


class GatedEncoder:
    """HashEmbedder whose first call blocks until `release` is set, so others queue up behind it."""

    def __init__(self, fail_on: str | None = None):
        self.inner = HashEmbedder()
        self.model_id, self.dim = self.inner.model_id, self.inner.dim
        self.entered, self.release = threading.Event(), threading.Event()
        self.batches: list[list[str]] = []
        self.fail_on = fail_on

    def encode(self, texts, *, query=False, progress=False):
        self.batches.append(list(texts))
        self.entered.set()
        self.release.wait(30)
        if self.fail_on in texts:
            raise RuntimeError("encoder failed")
        return self.inner.encode(texts, query=query)


def _ask_together(c: Coalescing, enc: GatedEncoder, questions: list[str]):
    with ThreadPoolExecutor(len(questions)) as pool:
        first = pool.submit(c.encode, [questions[0]], query=True)
        assert enc.entered.wait(30)
        rest = [pool.submit(c.encode, [q], query=True) for q in questions[1:]]
        while len(c._waiting) < len(questions) - 1:  # the others are queued behind the running call
            threading.Event().wait(0.01)
        enc.release.set()
        return [first, *rest]


def test_questions_arriving_together_share_one_call_and_get_their_own_vectors():
    enc = GatedEncoder()
    c = Coalescing(enc)
    questions = [f"question number {i} about poverty" for i in range(6)]
    futures = _ask_together(c, enc, questions)
    got = [f.result(30) for f in futures]
    assert enc.batches == [questions[:1], questions[1:]]  # the first alone (nobody to wait for), then the rest at once
    reference = HashEmbedder()
    for q, v in zip(questions, got):
        assert v.shape == (1, enc.dim)
        assert np.allclose(v[0], reference.encode([q], query=True)[0])


def test_a_failed_call_reaches_every_question_in_it_and_the_next_question_is_answered():
    enc = GatedEncoder(fail_on="bad question")
    c = Coalescing(enc)
    futures = _ask_together(c, enc, ["good question", "bad question", "other question"])
    assert futures[0].result(30).shape == (1, enc.dim)
    for f in futures[1:]:
        with pytest.raises(RuntimeError, match="encoder failed"):
            f.result(30)
    assert c.encode(["later question"], query=True).shape == (1, enc.dim)  # not stuck
    assert c.dim == enc.dim and c.model_id == enc.model_id  # the wrapped model's attributes show through


def test_real_minilm_batched_vectors_match_one_at_a_time(real_embedder):
    """The packaged MiniLM (ONNX Runtime): a question's vector in a batch with others equals its own to
    float rounding, so a loaded app ranks as a lone user's does."""
    questions = ["What poverty line did the Corps set?", "How were the anti-poverty funds managed?",
                 "兵团的扶贫标准是多少？", "How many households were moved?"]
    alone = np.vstack([real_embedder.encode([q], query=True) for q in questions])
    together = real_embedder.encode(questions, query=True)
    assert np.abs(alone - together).max() < 1e-6

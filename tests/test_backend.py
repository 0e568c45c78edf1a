"""Search backend contract (qa/search/backend.py): what every backend must return for the same index.

The local backend (FAISS + bm25s) runs on the bundled report with the packaged model; an engine backend
is held to the same fixtures and expected candidates.
"""

from __future__ import annotations

import numpy as np
import pytest

from qa.search.backend import LocalBackend, Query, Where, depth
from qa.search.lexical import tokenize

BACKENDS = ["local", "milvus", "milvus-lean"]


@pytest.fixture(scope="module")
def milvus_seed(seed_qa, tmp_path_factory):
    """The seed index written to milvus-lite: one server process for the module."""
    from qa.search.milvus_backend import open_store

    store = open_store(tmp_path_factory.mktemp("milvus"), collection="seed")
    store.write(seed_qa.index)
    store.prune(seed_qa.index)
    yield store
    store.close()


@pytest.fixture(params=BACKENDS)
def backend(request, seed_qa):
    r = seed_qa.retriever
    if request.param == "local":
        return LocalBackend(r.index, r.lexical)
    from qa.search.milvus_backend import MilvusBackend
    from qa.search.milvus_records import MilvusRecords

    store = request.getfixturevalue("milvus_seed")
    if request.param == "milvus":  # rows from the local index
        return MilvusBackend(store.client, store.name, seed_qa.index)
    if request.param == "milvus-lean":  # rows and passages from Milvus alone (a lean replica)
        records = MilvusRecords(store.client, store.name, has_xling=True, units=len(seed_qa.index.units))
        records.begin()
        return MilvusBackend(store.client, store.name, seed_qa.index, records)
    raise AssertionError(request.param)


def _query(seed_qa, text: str) -> Query:
    r = seed_qa.retriever
    return Query(text, tuple(tokenize(text)), False, r.embedder.encode([text], query=True)[0])


def _section(seed_qa, row: int) -> str:
    return seed_qa.index.passages[row].section or ""


def test_each_leg_finds_the_passage_that_answers(backend, seed_qa):
    legs = backend.candidates(_query(seed_qa, "What was the poverty line of the Corps in 2011?"), k=5)
    best_dense = max(legs.dense, key=legs.dense.get)
    best_lexical = max(legs.lexical, key=legs.lexical.get)
    assert "Poverty line" in _section(seed_qa, best_dense)
    assert "Poverty line" in _section(seed_qa, best_lexical)
    assert legs.lexical_best == pytest.approx(max(legs.lexical.values()))


def test_a_passage_found_by_its_vector_still_gets_its_bm25(backend, seed_qa):
    """The lexical leg scores every candidate of the question's script, so the hybrid score of a
    passage found only by the dense leg is not missing its BM25 part."""
    legs = backend.candidates(_query(seed_qa, "How were teachers and technicians trained?"), k=3)
    assert set(legs.dense) <= set(legs.lexical)
    expected = seed_qa.retriever.lexical.scores(tokenize("How were teachers and technicians trained?"))
    for row, score in legs.lexical.items():
        assert score == pytest.approx(float(expected[row]), rel=1e-5)


def test_filter_limits_every_leg_but_not_the_normaliser(backend, seed_qa):
    q = _query(seed_qa, "What was the poverty line of the Corps in 2011?")
    everything = backend.candidates(q, k=5)
    answer_row = max(everything.lexical, key=everything.lexical.get)
    others = frozenset(range(len(seed_qa.index.passages))) - {answer_row}
    legs = backend.candidates(q, k=5, where=Where(others))
    assert answer_row not in legs.rows() and legs.rows() <= others
    assert legs.lexical_best == pytest.approx(everything.lexical_best)  # BM25 still divides by the best overall


@pytest.mark.parametrize("name", BACKENDS)
def test_each_leg_returns_at_most_its_depth(tmp_path, name):
    """Per-question work is bounded by k: on 300 passages, a top-1 question gets depth(1) = 50 per leg."""
    from conftest import hash_retriever

    words = ["canal", "school", "cotton", "loan", "road", "clinic", "orchard", "cattle", "housing", "water"]
    rng = np.random.default_rng(7)
    text = "Report\n" + "\n".join(f"【Section {i}】\n" + " ".join(rng.choice(words, 30)) + f" item {i}."
                                  for i in range(300))
    index, retriever = hash_retriever(tmp_path, text)
    backend = retriever.backend
    if name == "milvus":
        from qa.search.milvus_backend import MilvusBackend, open_store

        store = open_store(tmp_path / "m", collection="depth")
        store.write(index)
        backend = MilvusBackend(store.client, store.name, index)
    q = Query("canal school loan", tuple(tokenize("canal school loan")), False,
              retriever.embedder.encode(["canal school loan"], query=True)[0])
    legs = backend.candidates(q, k=1)
    assert len(index.passages) >= 300
    assert len(legs.dense) <= depth(1)
    assert len(legs.lexical) <= 2 * depth(1)  # its own top, plus the dense leg's candidates
    assert sum(1 for s in legs.lexical.values() if s > 0) >= depth(1)  # many passages match; only the top come back
    expected = retriever.lexical.scores(list(q.tokens))
    assert legs.lexical_best == pytest.approx(float(expected.max()), rel=1e-5)
    if name == "milvus":
        store.close()


def test_lexical_top_and_normaliser_look_at_matched_rows_only_and_match_the_full_pass():
    """The BM25 leg's top rows and its per-script normaliser, from the matched rows alone, equal what a
    pass over every passage gives (argpartition over all scores, the max under a script mask), ties at
    the cut included."""
    from types import SimpleNamespace

    from qa.search.backend import _top

    rng = np.random.default_rng(7)
    for trial in range(200):
        n = int(rng.integers(1, 3000))
        scores = np.where(rng.random(n) < rng.uniform(0.01, 0.9), rng.integers(1, 6, n) * 0.5, 0.0).astype(np.float32)
        if trial % 2:  # continuous scores: no ties
            scores[scores > 0] += rng.random(int((scores > 0).sum())).astype(np.float32)
        matched = np.flatnonzero(scores > 0)
        want = int(rng.integers(1, 120))
        full = np.argpartition(-scores, want - 1)[:want] if n > want else np.arange(n)
        assert _top(scores, matched, want) == {int(i) for i in full if scores[i] > 0}
        cjk = rng.random(n) < rng.choice([0.0, 0.3, 1.0])
        fake = SimpleNamespace(passage_cjk=cjk)
        for script in (False, True):
            mask = cjk == script
            expected = max(float(scores[mask].max()), 0.0) if mask.any() else 0.0
            assert LocalBackend._best(fake, scores, matched, script) == expected
        assert LocalBackend._best(fake, None, None, False) == 0.0

"""`python -m qa bench --scale-hybrid` at a tiny size: it runs, checks its own results, and prints its table."""

import numpy as np

from qa.bench import scale_hybrid as sh
from qa.bench import synthetic_text as st
from qa.cli import main


def test_synthetic_corpus_is_report_like_and_positional():
    vocab = st.Vocabulary()
    passages, units = st.synthetic_corpus(300, vocab)
    assert len(passages) == 300 and 300 <= len(units) <= 900  # 1–3 sentences a passage
    assert len({p.id for p in passages}) == 300
    for u in units:  # a unit is a sentence of its passage, at its offsets
        assert u.kind == "sentence" and passages[u.passage].text[u.start:u.end] == u.text
    text = " ".join(p.text for p in passages)
    assert "poverty" in text and any(ch.isdigit() for ch in text)
    assert not st._CJK.search(text)
    again, _ = st.synthetic_corpus(300, vocab)
    assert again == passages  # the same seed gives the same corpus


def test_questions_mix_shipped_and_made():
    qs = st.questions(st.Vocabulary())
    assert len(qs) == st.QUESTIONS and len(set(qs)) == len(qs)
    assert qs[0].startswith("How much income per person")  # the shipped set's first question
    assert sum(any(ch.isdigit() for ch in q) for q in qs) >= 5


def test_lookup_embedder_returns_the_stored_vectors():
    vectors = {"a": np.ones(4, np.float32) / 2, "b": np.zeros(4, np.float32)}
    out = sh.LookupEmbedder(vectors).encode(["b", "a"], query=True)
    assert out.shape == (2, 4) and np.array_equal(out[1], vectors["a"])


def test_bench_runs_at_a_tiny_size_and_prints_its_table(capsys):
    assert main(["bench", "-q", "--scale-hybrid", "--sizes", "1e3"]) == 0
    out = capsys.readouterr().out
    assert "| passages | units | FAISS index |" in out
    rows = [line for line in out.splitlines() if line.startswith("| 1,000 |")]
    assert len(rows) == 2  # k = 5 and k = 10
    assert all("Flat (exact)" in r for r in rows)
    assert "all-MiniLM-L6-v2 (ONNX)" in out  # the question encode, measured apart


def test_each_question_finds_k_passages_best_first():
    vocab = st.Vocabulary()
    qs = st.questions(vocab)[:8]
    retriever, spec, setup = sh.build(500, vocab, qs)
    assert spec.kind == "flat" and set(setup) == {"text_s", "vectors_s", "faiss_s", "retriever_s"}
    timed = sh.time_questions(retriever, qs, 5)
    assert timed["answered"] == len(qs) and timed["p50_ms"] > 0
    assert "candidates" not in retriever.backend.__dict__  # the stopwatch is taken off again
    for q in qs:
        hits = retriever.search(q, k=5, mode="hybrid")
        assert len(hits) == 5
        sh.check(retriever, hits, 5)


def test_milvus_backend_gives_the_local_top_passages_at_a_tiny_size():
    """`--scale-hybrid --backend milvus` writes the synthetic index to milvus-lite and searches it there:
    the same top passage as the local backend for every question."""
    vocab = st.Vocabulary()
    qs = st.questions(vocab)[:10]
    retriever, _, setup = sh.build(300, vocab, qs)
    local = [[c.row for c in retriever.search(q, k=5, mode="hybrid")] for q in qs]
    store = sh._to_milvus(retriever, 300, setup)
    try:
        assert retriever.backend.name == "milvus" and setup["milvus_write_s"] > 0
        remote = [[c.row for c in retriever.search(q, k=5, mode="hybrid")] for q in qs]
    finally:
        store.close()
    assert [r[:1] for r in remote] == [r[:1] for r in local]

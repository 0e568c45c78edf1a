"""`qa.eval.evaluate` and `python -m qa eval`: scoring on hand-made answers, then end to end on a small set."""

from __future__ import annotations

import json

import pytest

from qa.eval.evaluate import (
    EvalReport,
    contains_answer,
    evaluate,
    load_report,
    plot,
    questions_digest,
    save_report,
    score_answer,
    write_runs,
)
from qa.eval.questions import Question, load_questions
from qa.search.retrieve import MODES
from qa.types import Answer, Hit, Passage
from tests.conftest import write_corpus

P = {i: Passage(f"r#{i}", "r", "Report", "Water", i, 0, 10, f"text {i}") for i in range(1, 5)}


def _answer(ids, highlight="", abstained=False, label="possible"):
    hits = tuple(Hit(P[i], 1.0 - r / 10, r + 1, highlight if r == 0 else "x", 0, 1, label if r == 0 else "weak")
                 for r, i in enumerate(ids))
    return Answer("q", "q", None if abstained else "a", abstained, hits)


def _report():
    qs = [
        (Question("a", "How many wells?", (), ("r#1",), "12 wells", True, "numeric"),
         _answer([1, 2], "It built 12 Wells.", label="strong")),
        (Question("b", "Roads?", (), ("r#2",), "30 km", True, "numeric"), _answer([3, 2, 1], "Other.")),
        (Question("c", "道路有多长？", (), ("r#3",), "30 km", True, "chinese"), _answer([4, 1], "none", abstained=True)),
        (Question("u", "Tibet?", (), (), "", False, "unanswerable"), _answer([1], abstained=True)),
        (Question("v", "2015?", (), (), "", False, "unanswerable"), _answer([2], label="strong")),
    ]
    results = [score_answer(q, a, "dense", ms) for (q, a), ms in zip(qs, [1, 2, 3, 4, 5])]
    return EvalReport(["dense"], {"dense": results}, {"k": 10, "questions": 5})


def test_summary_on_hand_made_answers():
    s = _report().summary("dense")
    assert s["questions"] == 5 and s["answerable"] == 3
    assert s["Hit@1"] == pytest.approx(1 / 3)
    assert s["Recall@3"] == pytest.approx(2 / 3)  # a at 1, b at 2, c not retrieved
    assert s["MRR@10"] == pytest.approx((1 + 1 / 2 + 0) / 3)
    assert s["answer in highlight"] == pytest.approx(1 / 3)  # case-insensitive match for a only
    assert s["abstained (answerable)"] == pytest.approx(1 / 3)
    assert s["abstention precision"] == pytest.approx(1 / 2)  # c (answerable) and u abstained
    assert s["abstention recall"] == pytest.approx(1 / 2)
    assert s["Hit@1 English"] == pytest.approx(1 / 2) and s["Hit@1 Chinese"] == 0.0
    assert s["strong matches right"] == pytest.approx(1 / 2)  # a (right) and v (should have abstained)
    assert s["median ms"] == 3


def test_counts_and_wilson_intervals():
    p = _report().proportions("dense")
    assert p["Hit@1 English"][:2] == (1, 2) and p["Hit@1 Chinese"][:2] == (0, 1)
    assert p["abstention recall"][:2] == (1, 2) and p["abstained (answerable)"][:2] == (1, 3)
    assert p["Hit@1 follow-ups"] is None  # no question with history
    assert p["strong matches right"][:2] == (1, 2)
    k, n, low, high = p["answer in highlight"]
    assert (k, n) == (1, 3) and low < 1 / 3 < high
    assert (round(low, 3), round(high, 3)) == (0.061, 0.792)  # Wilson 95 % for 1 of 3 (published tables)
    assert "| Hit@1 English          | 1/2 0.500 (0.09–0.91) |" in _report().to_markdown()


def test_failures_types_and_markdown():
    r = _report()
    assert [f.id for f in r.failures("dense")] == ["b", "c", "v"]
    assert r.types() == ["chinese", "numeric", "unanswerable"]
    assert r.by_type("dense")["numeric"]["Hit@1"] == 0.5
    md = r.to_markdown()
    assert "| Hit@1 " in md and "| abstention recall " in md and "numeric (2)" in md
    assert "**b** [numeric] Roads?" in md and "first came r#3 (Water ¶3)" in md
    assert "should abstain; answered from r#2" in md and "abstained although the report answers it" in md


def test_json_round_trip_and_cache(tmp_path):
    r = _report()
    again = EvalReport.from_json(json.loads(json.dumps(r.to_json())))
    assert again.results == r.results and again.summary("dense") == r.summary("dense")
    save_report(r, tmp_path / "eval" / "last.json")
    assert load_report(tmp_path / "eval" / "last.json").results == r.results
    assert load_report(tmp_path / "missing.json") is None


def test_contains_answer_normalises_space_and_case():
    assert contains_answer("a total of 261  million\nYuan", "261 million yuan")
    assert not contains_answer("anything", "")


REPORT = ("Annual report 2020\n\n【Water】 The town built 12 wells for the villages.\n\n"
          "【Roads】 The county paved 30 km of mountain road.\n\n【Schools】 Two schools opened in May.\n")


@pytest.fixture
def small(tmp_path, fake_embedder):
    from qa.answer.service import ReportQA

    corpus = write_corpus(tmp_path / "corpus", {"r.txt": REPORT})
    qa = ReportQA.open(corpus, tmp_path / "index", fake_embedder)
    ids = {p.section: p.id for p in qa.passages}
    rows = [
        {"id": "q1", "question": "How many wells did the town build?", "relevant": [ids["Water"]], "answer": "12 wells", "type": "numeric"},
        {"id": "q2", "question": "How long was the mountain road?", "relevant": [ids["Roads"]], "answer": "30 km", "type": "keyword"},
        {"id": "q3", "question": "And when?", "history": ["Which schools opened?"], "relevant": [ids["Schools"]],
         "answer": "in May", "type": "follow-up"},
        {"id": "q4", "question": "What did the Tibet bureau pay?", "relevant": [], "answerable": False, "type": "unanswerable"},
    ]
    qfile = corpus / "r.questions.jsonl"
    qfile.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return qa, qfile


def test_evaluate_every_mode_end_to_end(small, tmp_path):
    qa, qfile = small
    calls = []
    report = evaluate(qa, load_questions(qfile), list(MODES), progress=lambda d, t, m: calls.append((d, t)), k=5)
    assert report.modes == list(MODES) and calls[-1] == (4 * len(MODES), 4 * len(MODES))
    assert report.meta["k"] == 10 and report.meta["model"] == "hash-bow-256"
    for mode in MODES:
        results = report.results[mode]
        assert [r.id for r in results] == ["q1", "q2", "q3", "q4"]
        assert all(len(r.ranked) <= 3 for r in results) and all(r.ranked for r in results if r.answerable)
        assert report.summary(mode)["Recall@3"] == 1.0
    written = write_runs(report, tmp_path / "run.trec")
    assert len(written) == len(MODES)
    for mode, path in zip(MODES, written):
        assert path.name == f"run.{mode}.trec"
        assert path.read_text().count("\n") == sum(len(r.ranked) for r in report.results[mode])
    png = plot(report, tmp_path / "chart.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_chart_legend_covers_no_title_line_or_bar(small):
    """Drawn at the size the app shows it: the one legend lies below both charts, apart from their
    titles, axes and tick labels (inside the right chart it covered the "unanswerable" bars)."""
    import matplotlib.pyplot as plt

    from qa.eval.render import figure

    qa, qfile = small
    fig = figure(evaluate(qa, load_questions(qfile), list(MODES), k=5))
    fig.set_dpi(110)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert len(fig.legends) == 1 and all(ax.get_legend() is None for ax in fig.axes)
    legend = fig.legends[0].get_window_extent(renderer)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == list(MODES)
    left, right = (ax.get_tightbbox(renderer) for ax in fig.axes)
    assert not legend.overlaps(left) and not legend.overlaps(right)
    assert not left.overlaps(right)
    width, height = fig.get_size_inches() * fig.dpi
    assert 0 <= legend.x0 and legend.x1 <= width and 0 <= legend.y0  # inside the picture
    plt.close(fig)


def test_cli_eval_end_to_end(small, tmp_path, monkeypatch, capsys):
    import qa.index.onnx_encoder
    from qa.cli import main
    from qa.index.embed import HashEmbedder

    monkeypatch.setattr(qa.index.onnx_encoder, "default_embedder", lambda model=None, runtime=None: HashEmbedder())
    _, qfile = small
    corpus, index = qfile.parent, tmp_path / "index"
    args = ["eval", "--corpus", str(corpus), "--index", str(index), "-q", "--no-reader"]  # the reader: test_quality
    assert main(args + ["--mode", MODES[0], "--plot", str(tmp_path / "c.png"), "--run", str(tmp_path / "r.trec")]) == 0
    out = capsys.readouterr().out
    assert "| metric " in out and f"| {MODES[0]} |" in out.splitlines()[4] and "### Per question type" in out
    assert (tmp_path / "c.png").is_file() and (tmp_path / "r.trec").is_file()
    assert load_report(index / "eval" / "last.json").modes == [MODES[0]]  # the shipped-set cache

    assert main(args + ["--questions", str(qfile), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["modes"] == list(MODES) and set(data["summary"][MODES[0]]) >= {"Hit@1", "nDCG@10", "abstention recall"}

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n', encoding="utf-8")
    assert main(args + ["--questions", str(bad)]) == 2
    assert main(args + ["--mode", "no-such-mode"]) == 2
    err = capsys.readouterr().err
    assert f"{bad} line 1: " in err and "unknown mode no-such-mode" in err


def test_real_model_on_a_slice_of_the_shipped_set(seed_qa):
    """The real pipeline, dense mode, on the first three questions of each type (fast enough for every run)."""
    from tests.test_questions import SHIPPED

    questions, per_type = [], {}
    for q in load_questions(SHIPPED):
        if per_type.setdefault(q.type, 0) < 3:
            per_type[q.type] += 1
            questions.append(q)
    report = evaluate(seed_qa, questions, ["dense"])
    s = report.summary("dense")
    assert s["questions"] == 21 and s["Recall@10"] >= 0.5
    assert all(len(r.ranked) == 10 for r in report.results["dense"])


@pytest.mark.slow
def test_shipped_set_with_the_real_model(request, seed_qa):
    """The whole shipped set, dense mode: every question runs, and retrieval is far above chance."""
    from tests.test_beir import require_slow

    require_slow(request)
    from tests.test_questions import SHIPPED

    report = evaluate(seed_qa, load_questions(SHIPPED), ["dense"])
    s = report.summary("dense")
    assert s["answerable"] >= 85 and s["Recall@10"] >= 0.8 and s["Hit@1 English"] >= 0.6


def test_a_saved_evaluation_is_current_only_with_the_same_settings(small):
    """The Evaluation tab shows a saved report as current only when the index, the questions and the
    settings that decide its figures (code, weights, thresholds) are the ones it was made with."""
    from dataclasses import replace

    from qa.eval.evaluate import is_current

    qa, qfile = small
    report = evaluate(qa, load_questions(qfile), ["hybrid"], meta={"questions_sha256": questions_digest([qfile])})
    assert is_current(report, qa, [qfile])
    weights = qa.retriever.weights
    qa.retriever.weights = replace(weights, bm25=weights.bm25 + 0.1)
    try:
        assert not is_current(report, qa, [qfile])  # a re-tuned weight: the old figures are not current
    finally:
        qa.retriever.weights = weights
    qa.thresholds = {**qa.thresholds, "hybrid": replace(qa.thresholds["hybrid"], strong=0.99)}
    assert not is_current(report, qa, [qfile])

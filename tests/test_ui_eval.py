"""The app's Evaluation tab: cached results shown when they match the index, re-run with progress."""

from __future__ import annotations

import json

from qa.answer.service import ReportQA
from qa.app.eval_tab import cached_view, run_view
from qa.app.state import QAHolder
from qa.index.embed import HashEmbedder
from tests.conftest import write_corpus

REPORT = "Water report 2020\n\n【Wells】 The county drilled 417 wells for drinking water.\n\n【Roads】 The county paved 30 km of road.\n"


def _setup(tmp_path):
    corpus = write_corpus(tmp_path / "c", {"r.txt": REPORT})
    qa = ReportQA.open(corpus, tmp_path / "i", HashEmbedder())
    wells = next(p.id for p in qa.passages if p.section == "Wells")
    rows = [{"id": "w1", "question": "How many wells were drilled?", "relevant": [wells], "answer": "417 wells",
             "type": "numeric"},
            {"id": "u1", "question": "How many schools opened?", "relevant": [], "answerable": False,
             "type": "unanswerable"}]
    (corpus / "r.questions.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return corpus, tmp_path / "i", QAHolder(qa=qa)


def test_no_cached_result_then_run_then_cached(tmp_path):
    corpus, index, holder = _setup(tmp_path)
    text, chart = cached_view(holder, corpus, index)
    assert "No evaluation of this index yet" in text and chart is None
    seen = []
    text, chart = run_view(holder, corpus, index, lambda frac, desc="": seen.append(frac))
    assert "Hit@1" in text and "hybrid" in text and "dense" in text
    assert chart and chart.endswith(".png") and (index / "eval" / "last.png").is_file()
    assert seen and max(seen) == 1.0  # the progress bar reached the end
    cached, cached_chart = cached_view(holder, corpus, index)
    assert cached == text and cached_chart == chart


def test_cached_result_is_not_shown_after_the_questions_change(tmp_path):
    corpus, index, holder = _setup(tmp_path)
    run_view(holder, corpus, index, lambda *a, **k: None)
    with open(corpus / "r.questions.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps({"id": "w2", "question": "Roads?", "relevant": [], "answerable": False}) + "\n")
    text, chart = cached_view(holder, corpus, index)
    assert "No evaluation of this index yet" in text and chart is None

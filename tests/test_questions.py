"""The question-set format: parsing, clear errors with line numbers, and the shipped set's validity."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from qa.errors import QuestionFileInvalid
from qa.eval.questions import Question, append_question, check_against_passages, load_questions, question_files
from qa.ingest.corpus import load_corpus
from qa.ingest.sentences import split_sentences
from tests.conftest import ROOT

SHIPPED = ROOT / "corpus" / "xpcc-poverty-alleviation-2011.questions.jsonl"
HOLDOUT = ROOT / "tests" / "data" / "holdout.questions.jsonl"
UNSEEN = ROOT / "tests" / "data" / "unseen.questions.jsonl"
GLOSS = ROOT / "tests" / "data" / "gloss.questions.jsonl"  # blind: Chinese questions and follow-ups (bilingual.md)
GLOSS3 = ROOT / "tests" / "data" / "gloss3.questions.jsonl"  # blind, a second round of the same kinds
GLOSS4 = ROOT / "tests" / "data" / "gloss4.questions.jsonl"  # blind, a third
GLOSS5 = ROOT / "tests" / "data" / "gloss5.questions.jsonl"  # blind, a fourth (round 5: the 1.5B glosses)
EN_ZH = ROOT / "tests" / "data" / "en-about-zh.questions.jsonl"  # blind: English questions, Chinese edition
GLOSS6 = ROOT / "tests" / "data" / "gloss6.questions.jsonl"  # blind, round 6 (the termbase)
EN_ZH6 = ROOT / "tests" / "data" / "en-about-zh6.questions.jsonl"  # blind, round 6, into English
GLOSS7 = ROOT / "tests" / "data" / "gloss7.questions.jsonl"  # blind, round 7 (the termbase, again)
EN_ZH7 = ROOT / "tests" / "data" / "en-about-zh7.questions.jsonl"  # blind, round 7, into English
SPEED9 = ROOT / "tests" / "data" / "speed9.questions.jsonl"  # blind, English: e5's rule (docs/speed.md)
ZH = ROOT / "tests" / "data" / "zh.questions.jsonl"  # blind: questions about the Chinese edition below
ZH_REPORT = ROOT / "tests" / "data" / "zh-report"  # a Chinese edition of the bundled report, for tests
GOOD = {"id": "a1", "question": "How many wells?", "relevant": ["r#1"], "answer": "12 wells", "type": "numeric"}


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "set.questions.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_load_fills_defaults_and_skips_blank_lines(tmp_path):
    path = _write(tmp_path, [json.dumps(GOOD), "", json.dumps({"id": "u1", "question": "Tibet?", "relevant": []})])
    a, u = load_questions(path)
    assert a == Question("a1", "How many wells?", (), ("r#1",), "12 wells", True, "numeric")
    assert u.answerable is False and u.relevant == () and u.answer == "" and u.type == "user"


@pytest.mark.parametrize("line, reason", [
    ('{"id": "x", "question": "q", ', "not valid JSON"),
    ('["id", "question"]', "expected a JSON object"),
    ('{"id": "x", "relevant": ["r#1"]}', '"question" must be a non-empty string'),
    ('{"id": "", "question": "q", "relevant": ["r#1"]}', '"id" must be a non-empty string'),
    ('{"id": "x", "question": "q", "relevant": "r#1"}', '"relevant" must be a list'),
    ('{"id": "x", "question": "q", "relevant": ["r#1"], "history": "earlier"}', '"history" must be a list'),
    ('{"id": "x", "question": "q", "relevant": [], "answerable": true}', "needs at least one"),
    ('{"id": "x", "question": "q", "relevant": ["r#1"], "answerable": false}', "must have an empty"),
    ('{"id": "x", "question": "q", "relevant": ["r#1"], "answerable": "yes"}', "true or false"),
    ('{"id": "x", "question": "q", "relevant": ["r#1"], "answer": 12}', '"answer" must be a string'),
    ('{"id": "x", "question": "q", "relevant": ["r#1"], "colour": "red"}', "unknown field(s) colour"),
])
def test_bad_line_names_file_and_line(tmp_path, line, reason):
    path = _write(tmp_path, [json.dumps(GOOD), "", line])
    with pytest.raises(QuestionFileInvalid) as e:
        load_questions(path)
    assert f"{path} line 3: " in str(e.value) and reason in str(e.value)


def test_duplicate_id_names_both_lines(tmp_path):
    path = _write(tmp_path, [json.dumps(GOOD), json.dumps(GOOD)])
    with pytest.raises(QuestionFileInvalid, match=r"line 2: id 'a1' already used on line 1"):
        load_questions(path)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(QuestionFileInvalid, match="does not exist"):
        load_questions(tmp_path / "nope.jsonl")
    with pytest.raises(QuestionFileInvalid, match="holds no questions"):
        load_questions(_write(tmp_path, ["", "  "]))


def test_append_question_round_trips(tmp_path):
    path = tmp_path / "corpus" / "user.questions.jsonl"
    path.parent.mkdir()
    path.write_text(json.dumps(GOOD), encoding="utf-8")  # no trailing newline
    q = Question("u7", "贫困线是多少？", ("earlier?",), ("r#2",), "3500 Yuan", True, "user")
    append_question(path, q)
    assert load_questions(path)[1] == q
    with pytest.raises(ValueError):
        append_question(path, Question("u8", "q", (), (), "", True))


def test_check_against_passages_reports_unknown_ids_and_answers():
    class P:
        def __init__(self, id, text):
            self.id, self.text = id, text

    qs = [Question("a", "q", (), ("d#1",), "12 wells"), Question("b", "q", (), ("d#9",), "x"),
          Question("c", "q", (), ("d#1",), "13 wells")]
    problems = check_against_passages(qs, [P("d#1", "The town built 12 wells.")])
    assert problems == ["b: relevant passage d#9 is not in the index", "c: answer '13 wells' does not occur in d#1"]


# -- the shipped set --------------------------------------------------------------------------------

def test_shipped_set_is_found_beside_the_corpus():
    assert SHIPPED in question_files(ROOT / "corpus")


def test_shipped_set_size_and_types():
    qs = load_questions(SHIPPED)
    types = Counter(q.type for q in qs)
    assert len(qs) >= 100
    assert set(types) == {"numeric", "paraphrase", "long-paragraph-end", "chinese", "follow-up", "unanswerable", "keyword"}
    assert types["chinese"] >= 15 and types["follow-up"] >= 12 and types["unanswerable"] >= 15
    assert all(re.fullmatch(r"q\d{3}", q.id) for q in qs)
    for q in qs:
        assert (q.type == "unanswerable") == (not q.answerable)
        assert bool(q.history) == (q.type == "follow-up" or (q.type == "unanswerable" and bool(q.history)))
        if q.type == "chinese":
            assert re.search(r"[\u4e00-\u9fff]", q.question)
        if not q.answerable:
            assert q.relevant == () and q.answer == ""
    assert len({q.question for q in qs if not q.history}) == len([q for q in qs if not q.history])


@pytest.mark.parametrize("path", [SHIPPED, HOLDOUT, UNSEEN, GLOSS, GLOSS3, GLOSS4, GLOSS5, GLOSS6, GLOSS7, ZH, EN_ZH,
                                  EN_ZH6, EN_ZH7, SPEED9],
                         ids=["shipped", "held-out", "unseen", "gloss", "gloss3", "gloss4", "gloss5", "gloss6", "gloss7",
                              "zh", "en-about-zh", "en-about-zh6", "en-about-zh7", "speed9"])
def test_question_sets_match_the_current_ingest(path, seed_corpus):
    """Every relevant id exists, and every answer lies inside one sentence of its relevant passage
    (the highlight is a sentence, so an answer across a sentence boundary could never be shown)."""
    passages = {p.id: p for p in load_corpus(ZH_REPORT if path in (ZH, EN_ZH, EN_ZH6, EN_ZH7) else seed_corpus).passages}
    qs = load_questions(path)
    assert check_against_passages(qs, passages.values()) == []
    for q in qs:
        for pid in q.relevant:
            sentences = split_sentences(passages[pid].text)
            assert any(q.answer in s.text for s in sentences), (q.id, q.answer)

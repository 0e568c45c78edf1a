"""The launched app through the official gradio_client: the `ask` endpoint as a program would use it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from qa.types import Answer

POVERTY_Q = "What poverty line did the Corps set?"
ANSWER_KEYS = set(Answer("q", "q", None, True, ()).to_json())


def ask(client, question, history=None) -> dict:
    return client.predict(question, history, api_name="/ask")


def test_ask_cites_the_poverty_line_passage(app_client):
    r = ask(app_client, POVERTY_Q)
    assert set(r) == ANSWER_KEYS  # the same object as `python -m qa ask --json`
    assert not r["abstained"]
    top = r["passages"][0]
    assert top["section"] == "Poverty line" and top["rank"] == 1
    assert "3500" in top["highlight"]
    assert top["text"][top["highlight_start"]:top["highlight_end"]] == top["highlight"]
    assert top["citation"].endswith(f"Poverty line ¶{top['paragraph']}")
    assert top["confidence"] == "strong"
    assert "[1]" in r["answer"]


def test_follow_up_uses_the_earlier_question(app_client):
    r = ask(app_client, "And how many people fell below it?", [POVERTY_Q])
    assert r["searched"] != r["question"]
    assert "poverty line" in r["searched"].lower()
    assert r["passages"][0]["section"] == "Poverty line"
    assert "246,600" in r["passages"][0]["text"]


@pytest.mark.parametrize("question", ["", "   \n\t ", "\x00\x07\x1b", "🙂🙂 ‮‮"])
def test_unsearchable_question_gives_a_clear_error(app_client, question):
    r = ask(app_client, question)
    assert set(r) == {"error"}
    assert "question" in r["error"]


def test_odd_but_searchable_questions_still_answer(app_client):
    long = ask(app_client, "poverty line " * 8000)  # 104,000 characters
    assert any("only the first" in n for n in long["notices"])
    mixed = ask(app_client, "ما هو خط الفقر؟ 🙂 \u202epoverty\u202c line\x07 of the Corps")
    assert mixed["passages"] and mixed["passages"][0]["section"] == "Poverty line"
    bad_history = app_client.predict(POVERTY_Q, ["", "\x00"], api_name="/ask")
    assert bad_history["passages"][0]["section"] == "Poverty line"
    assert ask(app_client, POVERTY_Q)["passages"][0]["section"] == "Poverty line"  # still working


def test_unanswerable_question_abstains(app_client):
    r = ask(app_client, "What is the recipe for chocolate cake with strawberries?")
    assert r["abstained"] and r["answer"] is None
    assert all(p["confidence"] == "weak" for p in r["passages"])


def test_near_miss_is_refused_with_the_reason(app_client):
    r = ask(app_client, "How many poverty-stricken people were there in 2010?")
    assert r["abstained"]
    assert "The best-matching passage does not cover 2010 (it is about 2011)." in r["notices"]
    assert "246,600" in r["passages"][0]["highlight"]  # the nearest passage is still shown, marked weak


def test_ten_concurrent_users_all_get_answers(app_client):
    questions = [POVERTY_Q, "How were the anti-poverty funds managed?"] * 5
    jobs = [app_client.submit(q, None, api_name="/ask") for q in questions]
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda j: j.result(timeout=120), jobs))
    assert len(results) == 10
    for q, r in zip(questions, results):
        assert r["question"] == q and r["passages"] and "error" not in r


def test_ask_endpoint_filters_by_report_and_year(app_client):
    only_xss = app_client.predict(POVERTY_Q, None, ["xss-test-report"], None, api_name="/ask")
    assert only_xss["passages"] and {p["doc"] for p in only_xss["passages"]} == {"xss-test-report"}
    by_year = app_client.predict(POVERTY_Q, None, None, "2011", api_name="/ask")
    assert by_year["passages"][0]["section"] == "Poverty line"
    assert all(p["year"] == 2011 for p in by_year["passages"])
    assert app_client.predict(POVERTY_Q, None, None, "2030", api_name="/ask") == {"error": "no report from 2030"}
    assert "no report with id nope" in app_client.predict(POVERTY_Q, None, ["nope"], None, api_name="/ask")["error"]
    assert "year filter" in app_client.predict(POVERTY_Q, None, None, "soon", api_name="/ask")["error"]
    assert ask(app_client, POVERTY_Q)["passages"][0]["section"] == "Poverty line"  # two-argument calls still work


def test_the_reader_checks_answers_once_loaded_and_quotes_the_span(app_client, app_server):
    from tests.conftest import SEED, wait_for_reader

    wait_for_reader(app_server)
    r = ask(app_client, POVERTY_Q)
    assert r["reader"] == "on" and not r["abstained"]
    assert "3500 Yuan" in r["answer_span"] and len(r["answer_span"].split()) <= 15
    source = (app_server.corpus / SEED.name).read_text(encoding="utf-8")
    assert source[r["answer_start"]:r["answer_end"]] == r["answer_span"]  # offsets into the report's text
    assert r["answer"].startswith(r["answer_span"])
    top = r["passages"][0]
    assert top["answers"] is True and top["reader_score"] >= 0.5
    # only the first passage is read: the others carry null
    assert all(p["answers"] is None for p in r["passages"][1:])

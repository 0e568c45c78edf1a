"""Load: 20 concurrent gradio_client users send 200 questions in total to the launched app on loopback.

A correctness test, not a speed one: every request must succeed and be answered from the right section
(`passages[0]["section"]`), and the answer must be for the question that user sent (no crossed sessions).
The deadline only guards against a hang: 200 questions in 540 s is 0.4 questions a second, against the
15–30 the app does on 2 cores. Latency p50/p95 and q/s are printed (run with `-s` to see them), never
asserted; `qa bench` measures them (its throughput row runs the same client loop, qa/bench/load.py, with
500 questions).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from qa.bench.load import KNOWN, http_load_run, load_line, load_run

USERS = 20
TOTAL = 200
DEADLINE_S = 540  # a hang guard for the whole run, client start-up included; below pytest's 600 s timeout
# the bundled report's questions, and one about the app's XSS report
QUESTIONS = (*KNOWN, ("What hostile markup did the paragraph about markup payloads hold?", "Markup payloads"))


def test_twenty_users_two_hundred_questions_each_get_their_own_answer(app_server, app_client):
    assert app_client.predict(KNOWN[0][0], None, api_name="/ask")["passages"][0]["section"] == KNOWN[0][1]
    r = load_run(app_server.url, USERS, TOTAL, QUESTIONS, DEADLINE_S)
    print("\n" + load_line(r))
    errors, sent = r["errors"], r["sent"]
    assert not errors, f"{len(errors)} of {sent} failed; first: " + "; ".join(errors[:3])
    assert sent == TOTAL, f"deadline of {DEADLINE_S} s reached after {sent} of {TOTAL} questions"
    # the app still answers afterwards
    assert app_client.predict(KNOWN[1][0], None, api_name="/ask")["passages"][0]["section"] == KNOWN[1][1]


def test_light_http_users_get_checked_answers(app_server):
    """`qa bench`'s throughput row speaks Gradio's HTTP API itself: its answers are checked as strictly."""
    r = http_load_run(app_server.url, users=5, total=30, known=QUESTIONS)
    assert r["sent"] == 30 and not r["errors"], r["errors"][:3]
    # users without a session hash (a bare curl) are answered as well
    bare = http_load_run(app_server.url, users=3, total=9, known=QUESTIONS, sessions=False)
    assert bare["sent"] == 9 and not bare["errors"], bare["errors"][:3]
    # a wrong expectation is reported, not passed over; and a caller inside a running event loop (as
    # Playwright's, when the browser tests ran first) can use it too
    async def inside_a_loop():
        return http_load_run(app_server.url, users=2, total=4, known=((KNOWN[0][0], "Personnel training"),))

    with ThreadPoolExecutor(1) as pool:  # a thread of its own: this one may run Playwright's loop already
        wrong = pool.submit(asyncio.run, inside_a_loop()).result()
    assert len(wrong["errors"]) == 4 and "expected 'Personnel training'" in wrong["errors"][0]

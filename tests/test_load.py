"""Load: 20 concurrent gradio_client users send 500 questions in total to the launched app on loopback.

Every request must succeed and be answered from the right section (`passages[0]["section"]`), and the
answer must be for the question that user sent (no crossed sessions). A deadline bounds the run: past
it, the users stop sending and the test fails, saying how far it got. Latency p50/p95 is printed
(run with `-s` to see it). It takes 50–80 s of questions on 2 cores, against the session's one app server,
and is part of the default run.
"""

from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from qa.eval.metrics import percentile

USERS = 20
TOTAL = 500
DEADLINE_S = 480  # the whole run, client start-up included; below pytest's 600 s timeout
KNOWN = [  # question → section of the top passage (the bundled report and the app's XSS report)
    ("What poverty line did the Corps set?", "Poverty line"),
    ("How many university students were sent to the impoverished farms?", "Personnel training"),
    ("How were the anti-poverty funds managed?", "Management of anti-poverty funds"),
    ("How many households were moved in the off-site relocation?", "Off-site relocation for poverty alleviation"),
    ("How much money from the pairing assistance program went into aid projects?",
     "Pairing-off poverty alleviation for Xinjiang"),
    ("What hostile markup did the paragraph about markup payloads hold?", "Markup payloads"),
]


def test_twenty_users_five_hundred_questions(app_server, app_client):
    from gradio_client import Client

    assert app_client.predict(KNOWN[0][0], None, api_name="/ask")["passages"][0]["section"] == KNOWN[0][1]
    start = time.monotonic()
    deadline = start + DEADLINE_S
    stop = threading.Event()
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def user(u: int) -> int:
        client = Client(app_server.url, verbose=False)
        sent = 0
        for i in range(u, TOTAL, USERS):  # user u sends questions u, u+20, u+40, … (25 each)
            if stop.is_set() or time.monotonic() > deadline:
                stop.set()
                break
            question, section = KNOWN[i % len(KNOWN)]
            t0 = time.perf_counter()
            try:
                # retrieval under load: the reader (one model, one lock, ~2.5 s a question) is skipped
                r = client.predict(question, None, None, None, False, api_name="/ask")
                problem = None
                if "error" in r:
                    problem = f"error {r['error']!r}"
                elif r.get("question") != question:
                    problem = f"answer for another question {r.get('question')!r}"
                elif not r["passages"] or r["passages"][0]["section"] != section:
                    got = r["passages"][0]["section"] if r["passages"] else None
                    problem = f"top section {got!r}, expected {section!r}"
            except Exception as e:  # any transport or server failure counts as an error, and is reported
                problem = f"{type(e).__name__}: {str(e)[:200]}"
            elapsed = time.perf_counter() - t0
            with lock:
                latencies.append(elapsed)
                if problem:
                    errors.append(f"user {u} question {i} ({question!r}): {problem}")
            sent += 1
        return sent

    with ThreadPoolExecutor(USERS) as pool:
        sent = sum(pool.map(user, range(USERS)))
    wall = time.monotonic() - start
    p50, p95 = statistics.median(latencies), percentile(latencies, 0.95)
    print(f"\nload: {USERS} users, {sent} questions in {wall:.1f} s ({sent / wall:.1f} questions/s); "
          f"latency p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms; "
          f"errors {len(errors)}")
    assert not errors, f"{len(errors)} of {sent} failed; first: " + "; ".join(errors[:3])
    assert sent == TOTAL, f"deadline of {DEADLINE_S} s reached after {sent} of {TOTAL} questions"
    # the app still answers afterwards
    assert app_client.predict(KNOWN[1][0], None, api_name="/ask")["passages"][0]["section"] == KNOWN[1][1]

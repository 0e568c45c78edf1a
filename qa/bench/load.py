"""Many users at once: concurrent users send questions to a running app on loopback.

Two clients, the same checks and the same result fields:

- `load_run`: one `gradio_client.Client` per user, each in its own thread (tests/test_load.py, which
  asserts correctness only, never speed).
- `http_load_run`: the users as asyncio tasks speaking Gradio's documented HTTP API (POST
  `/gradio_api/call/ask`, then read the event stream), the way curl does. `qa bench` measures the
  throughput row with it: on one 2-core machine the 20 `gradio_client` threads took more CPU than the
  app they were measuring (1.1 cores against the app's 0.8, 91 ms of client CPU per question), while
  these tasks take ~5 ms per question, so the row measures the app rather than its clients.

Every answer is checked: no error, the answer is for the question that user sent (no crossed sessions),
and the top passage is from the expected section. A deadline bounds the run: past it the users stop
sending.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from qa.eval.metrics import timings

# question → section of the top passage, in the bundled report
KNOWN = (
    ("What poverty line did the Corps set?", "Poverty line"),
    ("How many university students were sent to the impoverished farms?", "Personnel training"),
    ("How were the anti-poverty funds managed?", "Management of anti-poverty funds"),
    ("How many households were moved in the off-site relocation?", "Off-site relocation for poverty alleviation"),
    ("How much money from the pairing assistance program went into aid projects?",
     "Pairing-off poverty alleviation for Xinjiang"),
)


def load_run(url: str, users: int = 20, total: int = 500, known=KNOWN, deadline_s: float = 480) -> dict:
    """`users` clients send `total` questions between them (user u sends questions u, u+users, …), each
    waiting for its answer before the next. Returns counts, q/s, latency p50/p95/max and the errors."""
    from gradio_client import Client

    start = time.monotonic()
    stop = threading.Event()
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def user(u: int) -> int:
        client = Client(url, verbose=False)
        sent = 0
        for i in range(u, total, users):
            if stop.is_set() or time.monotonic() > start + deadline_s:
                stop.set()
                break
            question, section = known[i % len(known)]
            t0 = time.perf_counter()
            try:
                # retrieval under load: the reader (one model, one lock, ~2.5 s a question) is skipped
                problem = _check(client.predict(question, None, None, None, False, api_name="/ask"), question, section)
            except Exception as e:  # any transport or server failure counts as an error, and is reported
                problem = f"{type(e).__name__}: {str(e)[:200]}"
            elapsed = time.perf_counter() - t0
            with lock:
                latencies.append(elapsed)
                if problem:
                    errors.append(f"user {u} question {i} ({question!r}): {problem}")
            sent += 1
        return sent

    with ThreadPoolExecutor(users) as pool:
        sent = sum(pool.map(user, range(users)))
    return _summary(users, sent, total, start, latencies, errors)


def http_load_run(url: str, users: int = 20, total: int = 500, known=KNOWN, deadline_s: float = 480, *,
                  sessions: bool = True) -> dict:
    """As `load_run`, with light HTTP clients (asyncio tasks on one connection pool) instead of
    `gradio_client` threads. `sessions`: each user sends its session hash (False: none, as a bare curl)."""
    import asyncio

    # its own thread, so its own event loop: the caller's thread may be running one (Playwright's, in tests)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _http_users(url.rstrip("/"), users, total, known, deadline_s, sessions)).result()


async def _http_users(url: str, users: int, total: int, known, deadline_s: float, sessions: bool) -> dict:
    import asyncio

    import httpx

    start = time.monotonic()
    latencies: list[float] = []
    errors: list[str] = []
    stopped = False

    async def user(client, u: int) -> int:
        nonlocal stopped
        sent = 0
        session = uuid.uuid4().hex if sessions else None  # one per user, as a browser tab or a gradio_client has
        for i in range(u, total, users):
            if stopped or time.monotonic() > start + deadline_s:
                stopped = True
                break
            question, section = known[i % len(known)]
            t0 = time.perf_counter()
            try:
                problem = _check(await http_ask(client, url, question, session), question, section)
            except Exception as e:  # any transport or server failure counts as an error, and is reported
                problem = f"{type(e).__name__}: {str(e)[:200]}"
            latencies.append(time.perf_counter() - t0)
            if problem:
                errors.append(f"user {u} question {i} ({question!r}): {problem}")
            sent += 1
        return sent

    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=2 * users)) as client:
        sent = sum(await asyncio.gather(*(user(client, u) for u in range(users))))
    return _summary(users, sent, total, start, latencies, errors)


async def http_ask(client, url: str, question: str, session: str | None = None) -> dict:
    """One question through Gradio's HTTP API, the reader skipped as in `load_run`: the answer's JSON.
    `session`: the caller's session hash. Without one, Gradio makes a session for the call, building the
    state of every component on the page: a fifth of the app's CPU under load."""
    import json

    body = {"data": [question, None, None, None, False, False], **({"session_hash": session} if session else {})}
    r = await client.post(f"{url}/gradio_api/call/ask", json=body)
    r.raise_for_status()
    event_id = r.json()["event_id"]
    event = None
    async with client.stream("GET", f"{url}/gradio_api/call/ask/{event_id}") as stream:
        async for line in stream.aiter_lines():
            if line.startswith("event:"):
                event = line[len("event:"):].strip()
            elif line.startswith("data:") and event == "complete":
                return json.loads(line[len("data:"):])[0]
            elif line.startswith("data:") and event == "error":
                return {"error": line[len("data:"):].strip()}
    return {"error": f"the event stream ended without an answer (last event {event!r})"}


def _summary(users: int, sent: int, total: int, start: float, latencies: list[float], errors: list[str]) -> dict:
    """What both clients return: counts, q/s, latency p50/p95/max (seconds) and the errors."""
    wall = time.monotonic() - start
    return {"users": users, "sent": sent, "total": total, "wall_s": wall, "qps": sent / wall,
            **{k: v for k, v in timings(latencies, "s").items() if k != "n"}, "max_s": max(latencies),
            "errors": errors}


def _check(r: dict, question: str, section: str) -> str | None:
    if "error" in r:
        return f"error {r['error']!r}"
    if r.get("question") != question:
        return f"answer for another question {r.get('question')!r}"
    if not r["passages"] or r["passages"][0]["section"] != section:
        got = r["passages"][0]["section"] if r["passages"] else None
        return f"top section {got!r}, expected {section!r}"
    return None


def load_line(r: dict) -> str:
    return (f"load: {r['users']} users, {r['sent']} questions in {r['wall_s']:.1f} s ({r['qps']:.1f} questions/s); "
            f"latency p50 {r['p50_s'] * 1000:.0f} ms, p95 {r['p95_s'] * 1000:.0f} ms, max {r['max_s'] * 1000:.0f} ms; "
            f"errors {len(r['errors'])}")

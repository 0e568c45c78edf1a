"""Security review of the app surface, one test per finding: HTML escaping everywhere report or user text
reaches markup, the default bind address, optional authentication, request size limits, and the
judgments file path confinement."""

from __future__ import annotations

import os
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa.app import render as r
from qa.app.judgments import JudgmentPathRefused, append_judgment, check_path

PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    '<a href="javascript:alert(1)">click</a>',
    "javascript:alert(1)",
    '"><script>alert(1)</script>',
    "' onmouseover='alert(1)",
    "</details><iframe src=//evil></iframe>",
    "<style>*{display:none}</style>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",  # already-escaped text must stay text, not become a tag
]
# Our own markup only: these tags, these attributes (see qa/app/render.py).
ALLOWED_TAGS = {"div", "p", "details", "summary", "b", "i", "span", "mark"}
ALLOWED_ATTRS = {"class", "data-passage", "id"}


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    handle_startendtag = handle_starttag


def assert_only_our_markup(markup: str) -> None:
    """Every tag and attribute in `markup` is one the renderer itself writes."""
    p = _Tags()
    p.feed(markup)
    p.close()
    for tag, attrs in p.tags:
        assert tag in ALLOWED_TAGS, f"foreign tag <{tag}> in {markup[:300]!r}"
        for name, _value in attrs:
            # none of the allowed attributes is a URL or an event handler, so a `javascript:` value
            # (a passage id may hold one) stays inert text
            assert name in ALLOWED_ATTRS, f"foreign attribute {name}= on <{tag}>"


def _hit(text: str, payload: str, rank: int = 1) -> dict:
    return {"rank": rank, "id": f"doc#{payload}", "doc": payload, "title": payload, "section": payload,
            "paragraph": 3, "citation": f"{payload}, {payload} ¶3", "confidence": payload, "text": text,
            "highlight": text[2:20], "highlight_start": 2, "highlight_end": 20, "page": None, "year": None}


def _answer(payload: str) -> dict:
    text = f"Before {payload} middle {payload} after."
    return {"question": payload, "searched": f"{payload} (topic)", "answer": f"{payload} [1]",
            "abstained": False, "notices": [payload], "mode": "hybrid",
            "passages": [_hit(text, payload), _hit(payload, payload, 2)]}


@pytest.mark.parametrize("payload", PAYLOADS)
def test_every_html_renderer_escapes_report_and_user_text(payload):
    a = _answer(payload)
    context = {h["id"]: [{"id": h["id"], "paragraph": 3, "section": payload, "text": h["text"]},
                         {"id": "other", "paragraph": 4, "section": payload, "text": payload}]
               for h in a["passages"]}
    doc = {"id": payload, "title": payload, "path": f"{payload}.html", "passages": 1}
    passages = [{"id": payload, "doc": payload, "section": payload, "paragraph": 1, "text": payload}]
    for markup in (r.cards_html(a, context), r.card_html(a["passages"][0], context[a["passages"][0]["id"]]),
                   r.sources_html([doc], passages), r.highlighted(payload, 0, 5), r.esc(payload),
                   r.cards_html({**a, "abstained": True, "answer": None}, {})):
        assert_only_our_markup(markup)
        assert "<script" not in markup.lower()


@pytest.mark.parametrize("payload", PAYLOADS)
def test_chat_markdown_shows_payloads_as_text(payload):
    a = _answer(payload)
    for md in (r.reply_markdown(a), r.error_markdown(payload), r.md_text(payload)):
        assert "<" not in md  # no raw tag reaches the Chatbot (which sanitises too)
        assert "](" not in md.replace("\\]\\(", "")  # no live Markdown link
        assert_only_our_markup(md)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200), start=st.integers(-5, 250), end=st.integers(-5, 250))
def test_any_text_renders_as_text(text, start, end):
    """Property: whatever the text and highlight offsets, only our tags come out, and the visible text is
    exactly the input (unescape round trip)."""
    import html
    import re

    out = r.highlighted(text, start, end)
    assert_only_our_markup(out)
    assert html.unescape(re.sub(r"</?mark>", "", out)) == text
    a = _answer(text or "x")
    assert_only_our_markup(r.cards_html(a, {}))


def test_default_bind_address_is_loopback(monkeypatch):
    import app

    for var in ("QA_HOST", "QA_AUTH", "QA_PORT"):
        monkeypatch.delenv(var, raising=False)
    args = app.parse_args([])
    assert args.host == "127.0.0.1" and args.auth is None


def test_optional_auth_from_flag_or_environment(monkeypatch, capsys):
    """Auth is off by default, on with --auth or QA_AUTH, and a value without `user:` is refused.
    (Checked at parse time: launching a second app server only for this would cost a model load.)"""
    import app

    monkeypatch.setenv("QA_AUTH", "alice:s3cret:with:colons")
    assert app.parse_args([]).auth == "alice:s3cret:with:colons"
    assert app.parse_args(["--auth", "bob:pw"]).auth == "bob:pw"
    with pytest.raises(SystemExit):
        app.parse_args(["--auth", "nopassword"])
    assert "user:password" in capsys.readouterr().err
    monkeypatch.delenv("QA_AUTH")
    assert app.parse_args([]).auth is None


def test_launched_app_binds_loopback_only(app_server):
    """The session's server (started without --host) listens on 127.0.0.1, not on every interface."""
    from urllib.parse import urlparse

    assert urlparse(app_server.url).hostname == "127.0.0.1"
    port = urlparse(app_server.url).port
    listening = open("/proc/net/tcp").read().splitlines()[1:]
    local = {line.split()[1] for line in listening if line.split()[3] == "0A"}  # 0A = LISTEN
    assert f"0100007F:{port:04X}" in local and f"00000000:{port:04X}" not in local


def test_oversized_question_and_history_get_a_notice_and_the_app_keeps_answering(app_client):
    huge = ("<script>alert(1)</script> poverty line " * 2600)[:100_000]
    assert len(huge) == 100_000
    out = app_client.predict(huge, ["x" * 100_000, "\x00" * 50_000], api_name="/ask")
    assert "error" not in out
    assert any("only the first" in n for n in out["notices"])
    assert len(out["question"]) <= 1_000  # the cut question, not the 100,000 characters, is echoed back
    nxt = app_client.predict("What poverty line did the Corps set?", None, api_name="/ask")
    assert nxt["passages"][0]["section"] == "Poverty line"


def test_judgment_paths_outside_the_allowed_folders_are_refused(tmp_path):
    root = tmp_path / "project"
    (root / "corpus").mkdir(parents=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    ok = check_path(root / "corpus" / "user-questions.jsonl", [root])
    assert ok == (root / "corpus" / "user-questions.jsonl").resolve()
    refused = [outside / "j.jsonl", root / ".." / "elsewhere" / "j.jsonl", "/etc/passwd",
               root / "corpus"]  # a folder, not a file
    link = root / "corpus" / "link.jsonl"
    os.symlink(outside / "target.jsonl", link)  # a link inside pointing outside
    refused.append(link)
    for path in refused:
        with pytest.raises(JudgmentPathRefused):
            check_path(path, [root])
    with pytest.raises(JudgmentPathRefused):
        append_judgment(outside / "j.jsonl", question="q", history=[], relevant=[], answerable=False,
                        answer=None, allowed_roots=[root])
    assert not (outside / "j.jsonl").exists() and not (outside / "target.jsonl").exists()
    with pytest.raises(JudgmentPathRefused):
        check_path(tmp_path / "x.jsonl")  # the default root is the project folder

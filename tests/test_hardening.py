"""Bad input at scale (hypothesis): generated questions at ReportQA.ask, generated corpus files at
ingest and index. Properties: no crash — an Answer (well-formed, JSON-serialisable, highlights that are
slices of their passages) or a BadQuestion with a message; a bad file is skipped with a reason while the
good files are still indexed. Plumbing runs use HashEmbedder; a smaller run uses the real model.
"""

from __future__ import annotations

import json
import string
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa.answer.service import ReportQA
from qa.errors import BadQuestion
from qa.index.build import open_index
from qa.index.embed import HashEmbedder
from qa.ingest.corpus import load_corpus
from qa.types import Answer
from tests.conftest import SEED, write_corpus

GOOD = "Water report 2020\n\n【Wells】 The town of Alder built 12 wells for clean water in 2020.\n"
PAYLOADS = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<svg onload=alert(1)>",
            '<a href="javascript:alert(1)">x</a>', "{{7*7}}", "${jndi:ldap://x}", "'; DROP TABLE q;--",
            "[x](javascript:alert(1))", "$$\\frac{1}{0}$$", "**bold** _it_ `code`"]
RTL = "\u202e\u202b\u200f\u061c"  # overrides and marks
SCRIPTS = st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Z"])


def _mixed() -> st.SearchStrategy[str]:
    ranges = [(0x41, 0x7A), (0x4E00, 0x4FFF), (0x0600, 0x06FF), (0x05D0, 0x05EA), (0x0400, 0x04FF),
              (0x0900, 0x097F), (0x1F300, 0x1F64F), (0x0E00, 0x0E7F)]
    alphabet = st.one_of(*[st.characters(min_codepoint=a, max_codepoint=b) for a, b in ranges],
                         st.sampled_from(list(RTL + " ?？")))
    return st.text(alphabet, max_size=80)


QUESTIONS = st.one_of(
    st.just(""),
    st.text(max_size=200),  # any Unicode except surrogates
    st.text(st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp"]), max_size=50),  # control and space only
    _mixed(),
    st.builds(lambda p, t: f"{t} {p} {t}", st.sampled_from(PAYLOADS), st.text(SCRIPTS, max_size=30)),
    st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=12), st.integers(500, 12_000)),  # huge
    st.builds(lambda t: "What poverty line " + t, st.text(max_size=40)),
    st.sampled_from(["What poverty line did the Corps set?", "🙂" * 50, "\x00" * 1000, "‮‮",
                     "a" * 200_000, "贫困线是多少？", "ما هو خط الفقر؟", "1" * 5000]),
)
HISTORY = st.lists(st.one_of(QUESTIONS, st.just("What poverty line did the Corps set?")), max_size=3)


def _check(qa: ReportQA, question: str, history: list[str], mode: str = "hybrid", k: int = 5) -> None:
    try:
        a = qa.ask(question, history, mode=mode, k=k)
    except BadQuestion as e:
        assert str(e).strip()
        return
    assert isinstance(a, Answer)
    out = json.loads(json.dumps(a.to_json(), ensure_ascii=False))
    assert len(out["passages"]) <= max(1, min(k, 50))
    assert out["abstained"] == (out["answer"] is None)
    for p in out["passages"]:
        assert p["text"][p["highlight_start"]:p["highlight_end"]] == p["highlight"]
    assert len(out["searched"]) <= 4_000  # a huge question is cut, not searched whole


@pytest.fixture(scope="module")
def hash_qa(tmp_path_factory) -> ReportQA:
    base = tmp_path_factory.mktemp("hard")
    corpus = write_corpus(base / "c", {SEED.name: SEED.read_text(encoding="utf-8"), "water.txt": GOOD})
    return ReportQA.open(corpus, base / "i", HashEmbedder(), xling=False)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(question=QUESTIONS, history=HISTORY, mode=st.sampled_from(["dense", "bm25", "hybrid"]),
       k=st.integers(-3, 80))
def test_generated_questions_never_crash(hash_qa, question, history, mode, k):
    _check(hash_qa, question, history, mode, k)


def _real(seed_qa, question, history):
    _check(seed_qa, question, history)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(question=QUESTIONS, history=HISTORY)
def test_generated_questions_real_model(seed_qa, question, history):
    _real(seed_qa, question, history)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(question=QUESTIONS, history=HISTORY)
def test_generated_questions_real_model_many(seed_qa, question, history):
    _real(seed_qa, question, history)


# --- corpus files --------------------------------------------------------------------------------

def _nested_html(depth: int, tag: str) -> bytes:
    return (f"<html><body>{f'<{tag}>' * depth}The nested text about wells{f'</{tag}>' * depth}"
            "</body></html>").encode()


BAD_FILES = st.one_of(
    st.builds(lambda b: ("binary.txt", b"\x00" + b), st.binary(max_size=2000)),
    st.builds(lambda t, b: ("latin1.txt", t.encode() + b"\n\xff\xfe\xc3\x28" + b),
              st.text(string.ascii_letters, max_size=50), st.binary(max_size=50)),
    st.builds(lambda n, w: ("oneline.txt", (w + " ") .encode() * n), st.integers(1, 40_000),
              st.sampled_from(["word", "贫困", "<b>x</b>", "🙂"])),
    st.builds(lambda d, t: ("nested.html", _nested_html(d, t)), st.integers(1, 5_000),
              st.sampled_from(["div", "p", "span", "table", "b"])),
    st.builds(lambda n: ("zeros.txt", b"\x00" * n), st.integers(0, 5_000)),
    st.just(("empty.md", b"")),
    st.just(("blank.txt", b" \n\t\r\n" * 50)),
    st.builds(lambda b: ("random.pdf", b), st.binary(max_size=3000)),
    st.builds(lambda b: ("random.docx", b), st.binary(max_size=3000)),
    st.builds(lambda b: ("fake.pdf", b"%PDF-1.4\n" + b), st.binary(max_size=3000)),
    st.builds(lambda b: ("fake.docx", b"PK\x03\x04" + b), st.binary(max_size=3000)),
    st.builds(lambda b: ("pdf-named.txt", b"%PDF-1.7\n" + b), st.binary(max_size=200)),
    st.builds(lambda t: ("markup.md", t.encode()), st.text(max_size=3000)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bad=st.lists(BAD_FILES, min_size=1, max_size=4, unique_by=lambda f: f[0]))
def test_generated_corpus_files_are_skipped_with_a_reason_and_good_files_indexed(bad):
    with tempfile.TemporaryDirectory() as tmp:
        corpus = write_corpus(Path(tmp) / "c", {"good.txt": GOOD, **dict(bad)})
        c = load_corpus(corpus)  # never raises while one good file is there
        docs = {d.path for d in c.documents}
        skipped = {s.path: s.reason for s in c.skipped}
        assert "good.txt" in docs
        assert docs | set(skipped) == {"good.txt", *dict(bad)} and not docs & set(skipped)  # nothing lost
        assert all(reason.strip() for reason in skipped.values())
        index, report = open_index(corpus, Path(tmp) / "i", HashEmbedder())
        assert report is not None
        assert any("12 wells" in p.text for p in index.passages)
        assert {s["path"] for s in index.manifest["skipped"]} == set(skipped)
        assert index.faiss_index.ntotal == len(index.units)
        assert open_index(corpus, Path(tmp) / "i", HashEmbedder())[1] is None  # loads back, no rebuild


@pytest.mark.parametrize("name,data", [
    ("binary.txt", bytes(range(256)) * 4),
    ("latin1.txt", "Caf\xe9 report".encode("latin-1")),
    ("zeros.txt", b"\x00" * 100),
    ("empty.txt", b""),
    ("random.pdf", b"\x13\x37" * 500),
    ("random.docx", b"\x13\x37" * 500),
    ("fake.pdf", b"%PDF-1.4\n" + b"\xde\xad" * 500),
    ("fake.docx", b"PK\x03\x04" + b"\xde\xad" * 500),
])
def test_each_bad_kind_is_skipped_with_a_plain_reason(tmp_path, name, data):
    corpus = write_corpus(tmp_path / "c", {"good.txt": GOOD, name: data})
    c = load_corpus(corpus)
    assert [d.path for d in c.documents] == ["good.txt"]
    (s,) = c.skipped
    assert s.path == name and s.reason and "Traceback" not in s.reason


def test_enormous_line_and_deep_html_are_read_not_crashed(tmp_path):
    corpus = write_corpus(tmp_path / "c", {"good.txt": GOOD, "big.txt": "wells and water " * 30_000,
                                           "deep.html": _nested_html(20_000, "div")})
    c = load_corpus(corpus)
    assert "good.txt" in {d.path for d in c.documents}
    assert {d.path for d in c.documents} | {s.path for s in c.skipped} == {"good.txt", "big.txt", "deep.html"}
    index, _ = open_index(corpus, tmp_path / "i", HashEmbedder())
    assert any("12 wells" in p.text for p in index.passages)

"""The reader stage: verdicts and spans through the service (fake reader), the model's checksum and
fallback, spans that never leave their passage (property test), and the real model on hand-made pairs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa.answer.judge import READER_REFUSAL
from qa.answer.reader import FakeReader, read
from qa.answer.reader_model import join_parts, prepare
from qa.answer.reader_runtime import ReaderSlot
from qa.errors import ReaderUnavailable
from tests.conftest import write_corpus

REPORT = """County Water Report 2014

【Wells】 The county drilled 417 new wells in 2014. The wells serve twelve villages in the hills.

【Roads】 The county built 30 km of gravel roads. Road work was paid for by the province.
"""


@pytest.fixture
def fake_qa(tmp_path):
    from qa.answer.service import ReportQA
    from qa.index.embed import HashEmbedder

    corpus = write_corpus(tmp_path / "c", {"water.txt": REPORT})
    return ReportQA.open(corpus, tmp_path / "i", HashEmbedder(), xling=False,
                         reader=ReaderSlot(reader=FakeReader()))


def test_an_answering_passage_leads_with_its_span_quoted_from_the_report(fake_qa):
    a = fake_qa.ask("How many wells did the county drill?")
    j = a.to_json()
    assert not a.abstained and j["reader"] == "on"
    # the fake reader answers with the bare figure; it is quoted with what it counts
    assert j["answer_span"] == "417 new wells" and a.answer.startswith("417 new wells — ")
    source = REPORT
    assert source[j["answer_start"]:j["answer_end"]] == "417 new wells"  # offsets into the report's own text
    top = j["passages"][0]
    assert top["answers"] is True and top["reader_score"] == 1.0
    assert top["text"][top["span_start"]:top["span_end"]] == "417 new wells"
    # the highlighted sentence is the one holding the span, and the span lies inside it
    assert top["highlight_start"] <= top["span_start"] < top["span_end"] <= top["highlight_end"]
    assert all(p["answers"] is None for p in j["passages"][3:])  # only the top few are read


def test_a_passage_the_reader_rejects_is_quoted_with_doubt_not_as_an_answer(fake_qa):
    from qa.types import DOUBT

    a = fake_qa.ask("Which bridges did the county drill wells under?")
    assert not a.abstained and a.answer.startswith(DOUBT)
    assert a.hits[0].answers is False and a.hits[0].confidence != "strong"


def test_with_the_reader_rule_on_a_rejected_passage_abstains_and_is_still_listed(fake_qa):
    fake_qa.rules = set(fake_qa.RULES) | {"reader"}
    a = fake_qa.ask("Which bridges did the county drill wells under?")
    j = a.to_json()
    assert a.abstained and a.answer is None and j["answer_span"] is None
    assert READER_REFUSAL in a.notices and "reader" in a.reasons
    assert j["passages"], "the nearest passages are still listed"
    assert all(p["confidence"] == "weak" for p in j["passages"])


def test_a_passage_the_reader_rejects_is_never_strong(fake_qa):
    import dataclasses

    from qa.answer.judge import apply_readings
    from qa.answer.reader import Reading

    hits = fake_qa.ask("How many wells did the county drill?", read=False).hits
    strong = [dataclasses.replace(h, confidence="strong") for h in hits]
    judged = apply_readings(list(strong), [Reading(0.1)] * len(strong), cutoff=0.5)
    assert all(h.confidence != "strong" and h.answers is False for h in judged)


def test_a_passage_the_reader_doubts_answers_but_is_not_strong(fake_qa):
    """Between the cut-off and `sure`, the passage still answers (no abstention) but is at most *possible*;
    from `sure` up a strong label stands."""
    import dataclasses

    from qa.answer.judge import apply_readings
    from qa.answer.reader import Reading

    hits = fake_qa.ask("How many wells did the county drill?", read=False).hits
    strong = [dataclasses.replace(h, confidence="strong") for h in hits]
    doubted = apply_readings(list(strong), [Reading(0.5)] * len(strong), cutoff=0.3, sure=0.7)
    assert all(h.answers is True and h.confidence == "possible" for h in doubted)
    sure = apply_readings(list(strong), [Reading(0.9)] * len(strong), cutoff=0.3, sure=0.7)
    assert all(h.answers is True and h.confidence == "strong" for h in sure)


def test_no_reader_and_read_false_leave_the_verdict_null(fake_qa):
    j = fake_qa.ask("How many wells did the county drill?", read=False).to_json()
    assert j["answer_span"] is None and all(p["answers"] is None for p in j["passages"])
    assert j["reader"] == "off"


def test_a_reader_that_is_still_loading_is_said_so_and_the_answer_comes_anyway(tmp_path):
    from qa.answer.service import ReportQA
    from qa.index.embed import HashEmbedder

    corpus = write_corpus(tmp_path / "c", {"water.txt": REPORT})
    qa = ReportQA.open(corpus, tmp_path / "i", HashEmbedder(), xling=False, reader=ReaderSlot(loader=FakeReader))
    a = qa.ask("How many wells did the county drill?")
    assert a.reader == "loading" and a.hits and a.to_json()["answer_span"] is None
    qa.reader.load()
    assert qa.ask("How many wells did the county drill?").reader == "on"


def test_a_checksum_mismatch_is_a_clear_error_and_nothing_is_left_behind(tmp_path):
    parts = []
    for i in range(3):
        p = tmp_path / f"part{i}.bin"
        p.write_bytes(bytes([i]) * 1000)
        parts.append(p)
    good = hashlib.sha256(b"".join(p.read_bytes() for p in parts)).hexdigest()
    assert join_parts(parts, tmp_path / "ok.gguf", good).stat().st_size == 3000
    folder = tmp_path / "reader"
    with pytest.raises(ReaderUnavailable, match="checksum does not match"):
        prepare(folder, parts=parts, expected="0" * 64)
    assert not folder.exists() and not list(tmp_path.glob("reader.tmp*"))


def test_a_broken_model_falls_back_to_answering_without_the_reader(tmp_path):
    from qa.answer.service import ReportQA
    from qa.index.embed import HashEmbedder

    def broken():
        raise ReaderUnavailable("the reader model's checksum does not match (got 00…, expected 1d…)")

    slot = ReaderSlot(loader=broken).load()
    assert slot.state.startswith("unavailable: the reader model's checksum")
    corpus = write_corpus(tmp_path / "c", {"water.txt": REPORT})
    qa = ReportQA.open(corpus, tmp_path / "i", HashEmbedder(), xling=False, reader=slot)
    j = qa.ask("How many wells did the county drill?").to_json()
    assert j["passages"] and j["reader"].startswith("unavailable") and j["answer_span"] is None


class _WildReader:
    """A reader that returns whatever offsets it is given: the pipeline must never quote outside."""

    name = "wild"

    def __init__(self, span):
        self._span = span

    def verdicts(self, question, contexts):
        return [0.9 for _ in contexts]

    def span(self, question, context, choices=None):
        return self._span


@settings(max_examples=100, deadline=None)
@given(sentences=st.lists(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)),
                                  min_size=1, max_size=40), min_size=1, max_size=6),
       span=st.one_of(st.none(), st.tuples(st.integers(-50, 300), st.integers(-50, 300))))
def test_no_quote_ever_falls_outside_its_passage(sentences, span):
    """Whatever offsets a reader returns, a quote is a non-empty slice of its passage."""
    from qa.types import Hit, Passage

    text = ". ".join(sentences)
    passage = Passage("d#1", "d", "T", None, 1, 100, 100 + len(text), text)
    hit = Hit(passage, 1.0, 1, text, 0, len(text))
    (reading,) = read(_WildReader(span), "q?", [hit])
    if reading.span_start is not None:
        assert 0 <= reading.span_start < reading.span_end <= len(text)
        assert text[reading.span_start:reading.span_end].strip()


# -- the real model ---------------------------------------------------------------------------------

PAIRS = [
    ("How many wells did the county drill in 2014?",
     "The county drilled 417 new wells in 2014. The wells serve twelve villages in the hills.", True, "417"),
    ("Who paid for the road work?",
     "The county built 30 km of gravel roads. Road work was paid for by the province.", True, "province"),
    ("How much did the road work cost?",
     "The county built 30 km of gravel roads. Road work was paid for by the province.", False, None),
    ("Who was the county's water engineer?",
     "The county drilled 417 new wells in 2014. The wells serve twelve villages in the hills.", False, None),
]


@pytest.fixture(scope="module")
def real_reader():
    from qa.answer.reader_runtime import load_reader

    try:
        return load_reader()
    except ReaderUnavailable as e:  # `make test` installs it; say plainly what is missing
        pytest.fail(f"the reader model is not usable: {e}")


def test_the_real_reader_tells_answering_passages_from_near_misses(real_reader):
    scores = {q: real_reader.verdicts(q, [c])[0] for q, c, _, _ in PAIRS}
    answering = [scores[q] for q, _, ok, _ in PAIRS if ok]
    missing = [scores[q] for q, _, ok, _ in PAIRS if not ok]
    assert min(answering) > max(missing), json.dumps(scores)


def test_the_real_readers_span_is_a_slice_of_the_passage_with_the_answer(real_reader):
    for q, c, ok, expected in PAIRS:
        if not ok:
            continue
        s, e = real_reader.span(q, c)
        assert 0 <= s < e <= len(c)
        assert expected in c[s:e] and len(c[s:e].split()) <= 6, c[s:e]


def test_the_model_is_the_published_one(real_reader):
    from qa.answer.reader_model import SHA256, default_dir

    meta = json.loads((Path(default_dir()) / "reader.json").read_text())
    assert meta["sha256"] == SHA256


@pytest.mark.parametrize("text, figure, quoted", [
    ("It sent 64 university students to the farms.", "64", "64 university students"),
    ("It relocated 500 households to Zaozi.", "500", "500 households"),
    ("It trained 300 junior and senior middle school graduates from needy families.", "300",
     "300 junior and senior middle school graduates"),
    ("They built 72 aid projects and 38 roads.", "72", "72 aid projects"),
    ("The line was 3500 Yuan of income.", "3500 Yuan", "3500 Yuan"),  # not a bare number: kept as it is
    ("The total was 72.", "72", "72"),
])
def test_a_bare_figure_is_quoted_with_what_it_counts(text, figure, quoted):
    from qa.answer.reader import with_what_it_counts

    s = text.index(figure)
    a, b = with_what_it_counts(text, s, s + len(figure))
    assert text[a:b] == quoted


# -- typed answers, labels and doubt (fake reader) ------------------------------------------------------

def test_a_question_asking_for_a_kind_the_passage_lacks_abstains_in_plain_words(fake_qa):
    a = fake_qa.ask("How many kilometres of wells did the county drill?")
    assert a.abstained and "type" in a.reasons
    assert any("gives no length" in n for n in a.notices), a.notices
    assert fake_qa.ask("How many kilometres of gravel roads did the county build?").abstained is False


def test_only_the_passage_the_reader_accepted_can_be_strong(fake_qa):
    import dataclasses

    from qa.answer.judge import only_read_strong

    hits = fake_qa.ask("How many wells did the county drill?", read=False).hits
    strong = [dataclasses.replace(h, confidence="strong") for h in hits]
    strong[0] = dataclasses.replace(strong[0], answers=True, span_start=0, span_end=3)
    judged = only_read_strong(strong)
    assert judged[0].confidence == "strong"
    assert all(h.confidence == "possible" for h in judged[1:]), "never strong because the first one is"


def test_a_reply_from_a_passage_that_is_only_possible_says_so_in_words(fake_qa):
    import dataclasses

    from qa.answer.compose import compose
    from qa.answer.judge import THRESHOLDS
    from qa.types import DOUBT

    hits = fake_qa.ask("How many wells did the county drill?", read=False).hits
    strong = [dataclasses.replace(hits[0], confidence="strong")]
    possible = [dataclasses.replace(hits[0], confidence="possible")]
    sure = compose("q?", "q?", strong, THRESHOLDS["hybrid"], mode="hybrid")
    doubtful = compose("q?", "q?", possible, THRESHOLDS["hybrid"], mode="hybrid")
    assert not sure.answer.startswith(DOUBT)
    assert doubtful.answer.startswith(DOUBT) and doubtful.answer.endswith("[1]")


class _ChoosingReader:
    """Accepts everything; returns whichever of the offered typed candidates `pick` names, else offsets."""

    name = "choosing"

    def __init__(self, pick, offsets):
        self.pick, self.offsets = pick, offsets

    def verdicts(self, question, contexts):
        return [0.9 for _ in contexts]

    def span(self, question, context, choices=None):
        if choices:
            return choices[self.pick % len(choices)]
        return self.offsets


@settings(max_examples=60, deadline=None)
@given(pick=st.integers(0, 5), offsets=st.tuples(st.integers(-5, 200), st.integers(-5, 200)),
       question=st.sampled_from(["How many kilometres of roads were built?", "How many wells were drilled?",
                                 "What did the province pay for?", "铺设了多少公里道路？"]))
def test_a_typed_question_is_answered_with_one_of_its_candidates(pick, offsets, question):
    from qa.answer import typed
    from qa.types import Hit, Passage

    text = "The county built 30 km of gravel roads and drilled 417 new wells. Road work was paid for by the province."
    passage = Passage("d#1", "d", "T", None, 1, 0, len(text), text)
    sent_end = text.index(".") + 1
    hit = Hit(passage, 1.0, 1, text[:sent_end], 0, sent_end)
    (reading,) = read(_ChoosingReader(pick, offsets), question, [hit])
    want = typed.asked(question)
    cands = typed.candidates(text[:sent_end], want, question)
    if reading.span_start is not None:
        assert 0 <= reading.span_start < reading.span_end <= len(text)
        if cands:
            quoted = text[reading.span_start:reading.span_end]
            assert any(text[s:e] in quoted for s, e in cands), (quoted, cands)


def test_the_real_reader_picks_a_typed_candidate_or_refuses(real_reader):
    from qa.answer import typed

    c = "The county built 30 km of gravel roads and 12 bridges, and planted 2,000 hectares of trees in 2014."
    q = "How many kilometres of roads did the county build?"
    choices = typed.candidates(c, typed.asked(q), q)
    assert [c[s:e] for s, e in choices] == ["30 km"]
    assert c[slice(*real_reader.span(q, c, choices))] == "30 km"
    # a free answer is a verbatim slice of the passage too
    s, e = real_reader.span("What did the county plant?", c)
    assert 0 <= s < e <= len(c) and "trees" in c[s:e]


def test_the_prompt_cache_restored_from_disk_reads_as_the_evaluated_prompt(tmp_path):
    """The prompt prefix's KV cache is saved beside the model at the first load and restored at the next
    (3 ms instead of seconds): the restored reader must give the same verdicts and spans."""
    from qa.answer.reader_model import gguf_path
    from qa.answer.reader_runtime import LlamaReader

    (tmp_path / "model.gguf").symlink_to(gguf_path())
    c = "The county built 30 km of gravel roads and 12 bridges, and planted 2,000 hectares of trees in 2014."
    questions = ["How many bridges did the county build?", "Who paid for the roads?"]
    first = LlamaReader(tmp_path / "model.gguf")
    saved = list(tmp_path.glob("prefix-*.bin"))
    assert len(saved) == 1 and saved[0].stat().st_size > 0
    before = [(first.verdicts(q, [c]), first.span(q, c)) for q in questions]
    del first
    again = LlamaReader(tmp_path / "model.gguf")
    after = [(again.verdicts(q, [c]), again.span(q, c)) for q in questions]
    assert [s for _, s in after] == [s for _, s in before]
    for (v1, _), (v2, _) in zip(before, after):
        assert abs(v1[0] - v2[0]) < 1e-3

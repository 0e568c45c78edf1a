"""Pure pieces of the chat app, no server: escaping, <mark> placement, Markdown export, judgments."""

from __future__ import annotations

import json
import re

import pytest

from qa.app.judgments import JudgmentPathRefused, append_judgment, check_path
from qa.app.render import (
    NOTHING_FOUND,
    card_html,
    cards_html,
    conversation_markdown,
    esc,
    highlighted,
    md_text,
    reply_markdown,
    sources_html,
)
from qa.app.state import ProgressEmbedder, QAHolder
from qa.index.embed import HashEmbedder
from qa.types import Answer, Hit, Passage

XSS = '<script>alert(1)</script> <img src=x onerror=alert(1)> <svg onload=alert(1)> <a href="javascript:alert(1)">x</a>'
RAW_TAG = re.compile(r"<(script|img|svg|a)\b", re.I)


def passage(text: str, *, pid="doc#1", section="Poverty line", paragraph=3, title="Report <b>2011</b>") -> Passage:
    return Passage(pid, "doc", title, section, paragraph, 0, len(text), text)


def answer_json(text: str, hs: int, he: int, *, abstained=False, question="What line?", searched=None,
                section="Poverty line") -> dict:
    p = passage(text, section=section)
    hit = Hit(p, 0.8, 1, text[hs:he], hs, he, "weak" if abstained else "strong")
    return Answer(question, searched or question, None if abstained else f"{text[hs:he]} [1]", abstained,
                  (hit,), ("a notice",) if abstained else ()).to_json()


def test_highlight_wraps_exactly_the_sentence_and_escapes_every_part():
    text = "First <b>bold</b>. The line was 3500 & more. Last <i>one</i>."
    s = text.index("The line")
    e = text.index(" Last")
    out = highlighted(text, s, e)
    assert out == (esc(text[:s]) + "<mark>" + esc(text[s:e]) + "</mark>" + esc(text[e:]))
    assert "<mark>The line was 3500 &amp; more.</mark>" in out
    assert "<b>" not in out and "&lt;b&gt;bold&lt;/b&gt;" in out


@pytest.mark.parametrize("start,end", [(0, 0), (5, 2), (-4, 3), (90, 200)])
def test_highlight_offsets_out_of_range_are_clamped(start, end):
    text = "short <text>"
    out = highlighted(text, start, end)
    assert out.replace("<mark>", "").replace("</mark>", "") == esc(text)


def test_card_escapes_passage_title_and_context_and_marks_the_highlight():
    text = f"Intro. {XSS} The poverty line was 3500 Yuan."
    hs = text.index("The poverty")
    a = answer_json(text, hs, len(text))
    hit = a["passages"][0]
    before = passage(f"Before {XSS}", pid="doc#0", paragraph=2, section='<svg onload=alert(1)>').to_dict()
    html = card_html(hit, [before, passage(text).to_dict()])
    assert not RAW_TAG.search(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Report &lt;b&gt;2011&lt;/b&gt;" in html
    assert html.count("<mark>The poverty line was 3500 Yuan.</mark>") == 2  # card and its context
    assert "[1]" in html and "strong match" in html and "Open in context" in html
    assert 'data-passage="doc#1"' in html


def test_cards_for_an_abstention_say_weak_matches_and_escape_the_question():
    a = answer_json("Nothing relevant here.", 0, 7, abstained=True, question=XSS)
    html = cards_html(a)
    assert "weak matches" in html and "weak match" in html
    assert not RAW_TAG.search(html)


def test_md_text_renders_as_literal_text():
    out = md_text("*bold* [link](javascript:alert(1)) <img src=x> $x$ `code` # h")
    assert "<img" not in out and "&lt;img src=x&gt;" in out
    for ch in "*[]()`$#":
        assert f"\\{ch}" in out


def test_reply_shows_searched_for_notices_and_sources():
    text = "The poverty line was 3500 Yuan."
    a = answer_json(text, 0, len(text), question="And it?", searched="And it? (poverty line)")
    reply = reply_markdown(a)
    assert reply.startswith("*Searched for:* And it? \\(poverty line\\)")
    assert "The poverty line was 3500 Yuan. \\[1\\]" in reply
    # one line of sources; the report's title and the labels are in the cards, not repeated in the bubble
    assert reply.endswith("*Sources:* \\[1\\] Poverty line ¶3")
    assert "Report" not in reply and "match" not in reply
    same = reply_markdown(answer_json(text, 0, len(text)))
    assert "Searched for" not in same


def test_reply_for_an_abstention_says_so_plainly():
    reply = reply_markdown(answer_json("Unrelated text.", 0, 9, abstained=True))
    assert NOTHING_FOUND in reply and "weak match" in reply
    assert "*Note:* a notice" in reply
    assert "Sources" not in reply  # nothing is cited as an answer


def test_a_doubtful_reply_says_so_in_words_before_the_quote():
    from qa.types import DOUBT

    text = "The Corps trained 120 teachers in 2011."
    a = answer_json(text, 0, len(text))
    a = {**a, "answer": f"{DOUBT}120 teachers — {text} [1]", "answer_span": "120 teachers"}
    reply = reply_markdown(a)
    assert reply.startswith("*The closest passage may answer this:* **120 teachers** — The Corps")


LONG = ("According to the new national poverty line set by the central work conference on poverty alleviation, "
        "to achieve the synchronous development with the country, explore the establishment of a new mechanism "
        "to support poor farms and impoverished rural households, determine the targets and scale of the poor, "
        "after careful study and demonstration, the Corps determined the poverty line of 3500 Yuan of per capita "
        "net income of rural families, and the number of poverty-stricken people in the Corps was 246,600.")


@pytest.mark.parametrize("span,shown", [
    ("246,600", "…and the number of poverty-stricken people in the Corps was 246,600."),
    ("3500 Yuan", "…the Corps determined the poverty line of 3500 Yuan of per capita net income of rural families…"),
    ("central work conference", "According to the new national poverty line set by the central work conference "
                                "on poverty alleviation…"),
])
def test_a_long_sentence_is_cut_to_the_clause_around_the_answer(span, shown):
    from qa.app.render import around

    assert around(LONG, span) == shown
    assert around("Short: 3500 Yuan, set in 2011.", "3500 Yuan") == "Short: 3500 Yuan, set in 2011."
    assert around(LONG, "not in it") == LONG
    zh = ("根据中央扶贫开发工作会议确定的新的国家扶贫标准，为实现与全国同步扶贫开发，探索建立新的扶贫机制，支持贫困农场和贫困农户"
          "相结合，确定贫困对象和规模，确保覆盖所有扶贫对象，经过认真研究和论证，兵团确定农村家庭人均纯收入3500元的贫困线，兵团贫困人口为24.66万人。")
    assert around(zh, "3500元") == "…兵团确定农村家庭人均纯收入3500元的贫困线…"


def test_the_reply_bubble_cuts_a_long_sentence_but_the_download_keeps_it_whole():
    a = answer_json(LONG, 0, len(LONG))
    a = {**a, "answer": f"246,600 — {LONG} [1]", "answer_span": "246,600"}
    reply = reply_markdown(a)
    assert "**246,600** — …and the number of poverty-stricken people in the Corps was 246,600. \\[1\\]" in reply
    assert "central work conference" not in reply
    assert "central work conference" in conversation_markdown([a])


def test_an_error_replaces_the_cards_with_the_reason():
    from qa.app.render import error_cards_html

    html_ = error_cards_html("<b>q</b>", "no report from 1999")
    assert "qa-card" not in html_.replace("qa-cards", "") and "no report from 1999" in html_
    assert "&lt;b&gt;q&lt;/b&gt;" in html_ and "<b>q" not in html_


def test_conversation_markdown_has_report_section_paragraph_and_quote():
    text = "Before. The poverty line was 3500 Yuan."
    hs = text.index("The")
    turns = [answer_json(text, hs, len(text)),
             {"question": "", "error": "the question is empty"},
             answer_json("Unrelated.", 0, 10, abstained=True, question="Cake?")]
    md = conversation_markdown(turns)
    assert "## 1. What line?" in md
    assert "**Answer:** The poverty line was 3500 Yuan. [1]" in md
    assert "[1] Report <b>2011</b>, section “Poverty line”, paragraph 3 (strong match; passage `doc#1`)" in md
    assert "> The poverty line was 3500 Yuan." in md
    assert "Cannot search this question: the question is empty." in md
    assert "## 3. Cake?" in md and NOTHING_FOUND in md


def test_sources_lists_documents_sections_and_paragraphs_escaped():
    ps = [passage("Intro text.", pid="d#0", section=None, paragraph=1),
          passage(XSS, pid="d#1", section="Markup", paragraph=2),
          passage("More markup.", pid="d#2", section="Markup", paragraph=3)]
    docs = [{"id": "doc", "path": "doc.txt", "title": "T <i>", "passages": 3, "dropped": ()}]
    html = sources_html(docs, [p.to_dict() for p in ps])
    assert not RAW_TAG.search(html) and "<i>" not in html
    assert "T &lt;i&gt;" in html and "(before the first section)" in html
    assert html.count('class="qa-src-section"') == 2 and "¶3" in html
    assert "doc.txt · 3 paragraphs" in html


def test_one_paragraph_is_not_plural():
    docs = [{"id": "doc", "path": "one.txt", "title": "T", "passages": 1, "dropped": ()}]
    html = sources_html(docs, [passage("Only text.", pid="d#0", section=None, paragraph=1).to_dict()])
    assert "one.txt · 1 paragraph<" in html and "1 paragraphs" not in html


def test_append_judgment_writes_one_json_line_each(tmp_path):
    path = tmp_path / "sub" / "user-questions.jsonl"
    r1, new1 = append_judgment(path, question="What line?", history=[], relevant=["doc#1"], answerable=True,
                               answer="The line.", allowed_roots=[tmp_path])
    r2, new2 = append_judgment(path, question="Cake?", history=["What line?"], relevant=[], answerable=False,
                               answer=None, allowed_roots=[tmp_path])
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    assert lines == [r1, r2] and new1 and new2
    assert set(r1) == {"id", "question", "history", "relevant", "answer", "answerable", "type"}
    assert re.fullmatch(r"user-\d{8}T\d{12}Z-[0-9a-f]{8}", r1["id"]) and r1["id"] != r2["id"]
    assert r1["type"] == "user" and r1["relevant"] == ["doc#1"] and r1["answerable"] is True
    assert r2["answer"] == "" and r2["history"] == ["What line?"] and r2["answerable"] is False


def test_a_judgment_that_would_not_load_as_a_question_is_refused_before_it_is_written(tmp_path):
    """Saved judgments are a question file (`python -m qa eval` reads them): a line it would refuse on load
    is refused when saved, and nothing is written."""
    path = tmp_path / "user-questions.jsonl"
    with pytest.raises(ValueError, match="needs at least one"):
        append_judgment(path, question="What line?", history=[], relevant=[], answerable=True, answer="x",
                        allowed_roots=[tmp_path])
    with pytest.raises(ValueError, match='"question" must be a non-empty string'):
        append_judgment(path, question="  ", history=[], relevant=[], answerable=False, answer=None,
                        allowed_roots=[tmp_path])
    assert not path.exists()


def test_the_same_judgment_is_saved_once_even_from_threads_at_once(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    path = tmp_path / "user-questions.jsonl"

    def judge(relevant):
        return append_judgment(path, question="What line?", history=[], relevant=relevant, answerable=True,
                               answer="The line.", allowed_roots=[tmp_path])

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(judge, [["doc#1"]] * 8))
    assert sum(new for _, new in results) == 1 and len({r["id"] for r, _ in results}) == 1
    _, new = judge(["doc#2"])  # another choice for the same question is a new judgment
    assert new
    assert len(path.read_text(encoding="utf-8").splitlines()) == 2


@pytest.mark.parametrize("bad", ["/etc/qa-judgments.jsonl", "../../outside.jsonl", "link/x.jsonl"])
def test_judgment_path_outside_the_allowed_folders_is_refused(tmp_path, bad):
    root = tmp_path / "project"
    root.mkdir()
    (root / "link").symlink_to(tmp_path)  # a link pointing out of the project
    with pytest.raises(JudgmentPathRefused):
        append_judgment(root / bad if not bad.startswith("/") else bad, question="q", history=[], relevant=[],
                        answerable=False, answer=None, allowed_roots=[root])
    assert check_path(root / "corpus" / "user-questions.jsonl", [root]).is_relative_to(root.resolve())


def test_judgments_default_to_the_project_folder(tmp_path):
    with pytest.raises(JudgmentPathRefused):
        check_path(tmp_path / "x.jsonl")


def test_holder_reports_index_build_progress_then_ready(tmp_path):
    from conftest import SEED, write_corpus

    from qa.answer.service import ReportQA

    corpus = write_corpus(tmp_path / "corpus", {SEED.name: SEED.read_text(encoding="utf-8")})
    seen = []

    def factory(report):
        def record(message, fraction):
            seen.append((message, fraction))
            report(message, fraction)
        return ReportQA.open(corpus, tmp_path / "index", ProgressEmbedder(HashEmbedder(), record, chunk=8),
                             progress=True)

    holder = QAHolder(factory)
    assert not holder.status().ready and not holder.wait(0) and holder.last_event() == ""
    qa = holder.start().get(timeout=60)
    assert holder.status().ready and qa.passages
    assert re.fullmatch(r"Index rebuilt at start \(no index has been built yet\) in \d+ s at \d\d:\d\d \S+, "
                        r"\d{4}-\d\d-\d\d\.", holder.last_event()), holder.last_event()
    holder.replace(qa, "added", names="a.pdf")  # an upload: the status says so, not the start's rebuild
    assert holder.last_event().startswith("Added a.pdf at ")
    fractions = [f for m, f in seen if m.startswith("Building the index")]
    assert len(fractions) > 2 and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert qa.ask("poverty line").hits  # the wrapper embeds queries too


def test_holder_shows_a_failure_instead_of_hanging():
    def factory(report):
        raise RuntimeError("corpus folder missing")

    holder = QAHolder(factory).start()
    assert holder.wait(10)
    assert "corpus folder missing" in holder.status().message and holder.status().error
    with pytest.raises(RuntimeError, match="could not be opened"):
        holder.get(timeout=1)


def test_app_flags_and_environment(monkeypatch):
    import app

    for var in ("QA_HOST", "QA_PORT", "QA_AUTH", "QA_JUDGMENTS", "QA_CORPUS"):
        monkeypatch.delenv(var, raising=False)
    a = app.parse_args([])
    assert (a.host, a.port, a.auth) == ("127.0.0.1", 7860, None)
    assert a.judgments == a.corpus / "user-questions.jsonl"
    monkeypatch.setenv("QA_HOST", "0.0.0.0")
    monkeypatch.setenv("QA_PORT", "9000")
    monkeypatch.setenv("QA_AUTH", "ann:secret")
    a = app.parse_args(["--port", "9001"])
    assert (a.host, a.port, a.auth) == ("0.0.0.0", 9001, "ann:secret")
    with pytest.raises(SystemExit):
        app.parse_args(["--auth", "no-colon"])
    assert app.main(["--judgments", "/etc/judgments.jsonl"]) == 2  # refused before anything loads


def test_started_app_loads_what_the_first_chinese_question_needs_once_the_reports_are_open(monkeypatch, tmp_path):
    """The app opens the reports with what English questions need, then loads jieba's word list and the
    dictionary in the background (`warm_other_script`), so the first Chinese question does not wait for
    them (it took 3.2 s in a fresh app, later ones 0.1 s) and the first English one waits for neither: the
    loading begins after the app's first answer (or a grace period), not while the server starts."""
    import shutil
    import threading

    import jieba

    import app
    import qa.index.embed
    import qa.index.onnx_encoder
    from qa.search import translate
    from tests.conftest import SEED

    fresh = jieba.Tokenizer()  # as in a new process: the word list is not loaded yet
    for name, value in (("dt", fresh), ("cut", fresh.cut), ("initialize", fresh.initialize)):
        monkeypatch.setattr(jieba, name, value)
    translate._dictionary.cache_clear()
    monkeypatch.setattr(qa.index.onnx_encoder, "default_embedder", lambda model=None: HashEmbedder())
    monkeypatch.setattr(qa.index.embed, "CrossLingualEmbedder", lambda: HashEmbedder(model_id="hash-xling"))
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SEED, corpus / SEED.name)
    args = app.parse_args(["--corpus", str(corpus), "--index", str(tmp_path / "index")])
    holder = QAHolder(lambda report: app.open_report_qa(args, report)).start()
    assert holder.get(timeout=120).ask("What poverty line did the Corps set?").hits
    class Answered(threading.Event):  # app.py passes holder.answered: nothing loads before the first answer
        waiting = threading.Event()  # set when the loader has reached its wait: anything before it has run

        def wait(self, timeout=None):
            self.waiting.set()
            return super().wait(timeout)

    answered = Answered()
    app.warm_other_script(holder, after=answered, grace=120)
    assert answered.waiting.wait(60), "the loader never waited for the first answer"
    assert not fresh.initialized and translate._dictionary.cache_info().currsize == 0
    answered.set()
    for t in threading.enumerate():
        if t.name == "warm-other-script":
            t.join(timeout=120)
    assert fresh.initialized and translate._dictionary.cache_info().currsize == 1
    assert holder.get().ask("兵团的贫困线是多少？").hits


def test_no_uploads_leaves_the_upload_box_out_for_replicas(monkeypatch, tmp_path):
    """`--no-uploads` / QA_UPLOADS=0: a replica reading a shared index shows no upload box (an upload would
    rebuild the index in that replica); the default keeps it."""
    import app
    from qa.app.ui import build_ui

    monkeypatch.delenv("QA_UPLOADS", raising=False)
    assert app.parse_args([]).uploads is True
    assert app.parse_args(["--no-uploads"]).uploads is False
    monkeypatch.setenv("QA_UPLOADS", "0")
    assert app.parse_args([]).uploads is False
    monkeypatch.delenv("QA_UPLOADS")
    replica = app.parse_args(["--replica"])  # a replica never writes the index: no upload box either
    assert replica.replica and replica.uploads is False and replica.follow_every == 5.0

    holder = QAHolder(lambda report: None)  # never started: the page is only built
    ids = lambda demo: {getattr(b, "elem_id", None) for b in demo.blocks.values()}  # noqa: E731
    with_box = build_ui(holder, corpus_dir=tmp_path / "c", index_dir=tmp_path / "i")
    without = build_ui(holder, corpus_dir=tmp_path / "c", index_dir=tmp_path / "i", uploads=False)
    assert "upload" in ids(with_box) and "upload" not in ids(without)
    assert "question" in ids(without)  # asking still works

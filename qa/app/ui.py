"""The Gradio chat app: ask, read cited passages, follow up, judge, browse the sources.

`build_ui(qa)` takes a `ReportQA` (or a `QAHolder` still opening one) and returns the Blocks; `app.py`
launches it. Rendering lives in `qa.app.render` (pure functions, escaped), so this module is wiring.
Session state: `asked` (earlier questions, for follow-ups) and `turns` (answer dicts, for the cards,
the judgments and the Markdown download).
"""

from __future__ import annotations

import logging
import tempfile
import time
import uuid
from functools import partial
from pathlib import Path

import gradio as gr

from qa.app.judgments import append_judgment
from qa.app.render import (
    cards_html,
    conversation_markdown,
    count,
    error_cards_html,
    error_markdown,
    md_text,
    reply_markdown,
    report_choices,
    sources_html,
    upload_markdown,
)
from qa.app.state import QAHolder
from qa.errors import QAError
from qa.ingest.uploads import UPLOAD_SUFFIXES

log = logging.getLogger(__name__)

MAX_SHOWN_QUESTION = 1000  # longer questions are shortened in the chat bubble (the search cuts them too)
JUDGE_BUTTONS = 5
_DOWNLOADS = Path(tempfile.gettempdir()) / "report-qa-downloads"

# When a reply lands (or the reader's check replaces it), show its first line: the whole newest exchange
# when it fits in the chat, else the reply from its top. Gradio's own autoscroll (off) showed the bottom of
# a long reply. On a phone the page is also scrolled so that the chat is in view.
CHAT_JS = """
() => {
  let seen = "";
  const fit = () => {
    const chat = document.querySelector("#chat");
    const wrap = chat && chat.querySelector(".bubble-wrap");
    const bots = chat ? chat.querySelectorAll(".message-row.bot-row") : [];
    if (!wrap || !bots.length) { seen = ""; return; }
    const bot = bots[bots.length - 1];
    const key = bots.length + ":" + bot.textContent.length;
    if (key === seen) return;
    seen = key;
    const base = wrap.getBoundingClientRect().top - wrap.scrollTop;
    const top = bot.getBoundingClientRect().top - base, bottom = bot.getBoundingClientRect().bottom - base;
    wrap.scrollTop = bottom - top + 16 <= wrap.clientHeight ? wrap.scrollHeight : top - 8;
    const box = chat.getBoundingClientRect(), input = document.querySelector("#question");
    const below = input ? input.getBoundingClientRect().bottom + 8 - window.innerHeight : 0;
    if (box.top < 0) window.scrollBy(0, box.top - 8);  // the chat's top, then as much as fits
    else if (below > 0) window.scrollBy(0, Math.min(below, box.top - 8));  // the input in view
  };
  const watch = () => {
    const chat = document.querySelector("#chat");
    if (!chat) return setTimeout(watch, 200);
    new MutationObserver(() => requestAnimationFrame(fit)).observe(chat, {childList: true, subtree: true,
                                                                        characterData: true});
  };
  watch();
}
"""
# The system's sans-serif: Gradio's bundled Source Sans Pro has a stub semibold face, so bold capitals
# fell back to another font mid-word.
FONTS = ("ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Noto Sans", "DejaVu Sans", "sans-serif")


def _strings(x) -> bool:
    return isinstance(x, list) and all(isinstance(h, str) for h in x)


def ask_json(holder: QAHolder, question: str, history: list[str] | None = None, k: int = 5,
             docs: list[str] | None = None, years: str | None = None, read: bool | None = None) -> dict:
    """`Answer.to_json()` for the question, or {"error": "..."} when it cannot be searched."""
    if history is not None and not _strings(history):
        return {"error": "history must be a list of earlier questions (strings)"}
    if docs is not None and not _strings(docs):
        return {"error": "docs must be a list of report ids (strings)"}
    if years is not None and not isinstance(years, (str, int)):
        return {"error": 'years must be a year or a range like "2010-2012"'}
    try:
        answer = holder.get().ask(question, history or [], k=k, docs=docs, years=None if years is None else str(years),
                                  read=read is not False).to_json()
        holder.answered.set()
        return answer
    except (QAError, RuntimeError) as e:  # a bad question, an engine fault, reports that could not be opened
        return {"error": str(e)}
    except Exception as e:  # anything else is still said in words, not raised at the API's caller
        log.exception("question failed")
        return {"error": f"the search failed ({e.__class__.__name__}: {e})"}


def _shown_question(question: str) -> str:
    q = question if len(question) <= MAX_SHOWN_QUESTION else (
        question[:MAX_SHOWN_QUESTION] + f"… ({len(question):,} characters)")
    return md_text(q) if q.strip() else "*(empty question)*"


def _download(turns: list[dict]) -> str | None:
    if not turns:
        return None
    _DOWNLOADS.mkdir(parents=True, exist_ok=True)
    for old in _DOWNLOADS.glob("report-qa-conversation-*.md"):  # gradio serves its own copy; keep ours brief
        if time.time() - old.stat().st_mtime > 3600:
            old.unlink(missing_ok=True)
    path = _DOWNLOADS / f"report-qa-conversation-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}.md"
    path.write_text(conversation_markdown(turns), encoding="utf-8")
    return str(path)


def reader_status(slot) -> str:
    """The reader's state in words, for the status line."""
    if slot is None:
        return "Reader: off (start the app with --reader to check answers and quote the span)."
    if slot.state == "loading":
        return "Reader: loading — answers are not checked by it yet."
    if slot.state == "on":
        took = f" (loaded in {slot.seconds:.0f} s)" if slot.seconds else ""
        return f"Reader: on{took} — answers are checked and the answer span quoted."
    return f"Reader: off — {md_text(slot.state.removeprefix('unavailable: '))}. Answers are not checked by it."


def status_line(holder: QAHolder) -> str:
    """"Ready: 2 reports, 17 paragraphs. Added a.pdf at 14:02 UTC, 2026-12-07. Reader: on …" — what is
    served, what last changed it and when, and the reader's state."""
    qa_ = holder.get()
    ready = f"Ready: {count(len(qa_.index.documents), 'report')}, {count(len(qa_.passages), 'paragraph')}."
    return " ".join(x for x in (ready, md_text(holder.last_event()), reader_status(qa_.reader)) if x)


def _judge_updates(answer: dict | None) -> list:
    n = len(answer["passages"]) if answer and "error" not in answer else 0
    return [gr.update(visible=i < n) for i in range(JUDGE_BUTTONS)] + [gr.update(visible=n > 0)]


def _filter_updates(qa_) -> tuple[dict, str]:
    docs = [d.__dict__ for d in qa_.index.documents]
    # a lean replica holds no passage: the filter and the Sources tab list the reports only
    passages = [] if getattr(qa_, "lean", False) else [p.to_dict() for p in qa_.passages]
    return gr.update(choices=report_choices(docs, passages)), sources_html(docs, passages)


class _Handlers:
    """What the page's events do, for one app (the service in `holder`); Gradio calls the bound methods."""

    def __init__(self, holder: QAHolder, *, k: int, judgments_path: Path | None, judgments_roots: list[Path] | None,
                 corpus_dir: Path | None, index_dir: Path | None):
        self.holder, self.k = holder, k
        self.judgments_path, self.judgments_roots = judgments_path, judgments_roots
        self.corpus_dir, self.index_dir = corpus_dir, index_dir

    def respond(self, question: str, chat: list, asked: list[str], turns: list[dict], docs: list[str] | None = None,
                years: str | None = None):
        """Two steps: the passages at once (retrieval only), then the reader's verdict and span when
        the reader is on (it replaces the first reply)."""
        question = question or ""
        chat = list(chat or []) + [{"role": "user", "content": _shown_question(question)}]
        try:
            qa_ = self.holder.get()
            ask = partial(qa_.ask, question, list(asked or []), k=self.k, docs=docs or None, years=years or None)
            first = ask(read=False).to_json()
            self.holder.answered.set()
        except (QAError, RuntimeError) as e:  # a bad question, an engine fault; RuntimeError: reports not open
            yield self._failed(question, str(e), chat, asked, turns)
            return
        except Exception as e:  # an engine fault: said in words, the app keeps serving
            log.exception("question failed")
            yield self._failed(question, f"the search failed ({e.__class__.__name__}: {e})", chat, asked, turns)
            return
        reading = qa_.reader is not None and qa_.reader.state == "on"
        contexts = {h["id"]: [p.to_dict() for p in qa_.context(h["id"])] for h in first["passages"]}
        asked = list(asked or []) + [first["question"]]
        if reading:
            draft = reply_markdown(first) + "\n\n*Reading the top passages to check that they answer…*"
            yield ("", chat + [{"role": "assistant", "content": draft}], asked, list(turns or []),
                   cards_html(first, contexts), *_judge_updates(None), "", gr.update())
            try:
                answer = ask(read=True).to_json()
            except Exception:  # the reader failed on this one: the passages stand, unchecked
                log.exception("reading failed")
                answer = {**first, "reader": "unavailable: the reader failed on this question"}
            contexts.update({h["id"]: [p.to_dict() for p in qa_.context(h["id"])] for h in answer["passages"]
                             if h["id"] not in contexts})
        else:
            answer = first if qa_.reader is None else {**first, "reader": qa_.reader.state}
        chat.append({"role": "assistant", "content": reply_markdown(answer)})
        turns = list(turns or []) + [answer]
        yield ("", chat, asked, turns, cards_html(answer, contexts), *_judge_updates(answer), "",
               _download(turns))

    @staticmethod
    def _failed(question: str, message: str, chat: list, asked: list[str], turns: list[dict]) -> tuple:
        """The outputs for a question that could not be searched: the reason in the chat, and the passages
        panel says so too (no cards of an earlier question left beside it)."""
        answer = {"question": question, "error": message}
        chat = chat + [{"role": "assistant", "content": error_markdown(message)}]
        turns = list(turns or []) + [answer]
        return ("", chat, asked, turns, error_cards_html(question, message), *_judge_updates(None), "",
                _download(turns))

    def judge(self, choice: int | None, turns: list[dict]) -> str:
        answered = [t for t in turns or [] if "error" not in t]
        if not answered:
            return "Ask a question first."
        last = answered[-1]
        earlier = [t["question"] for t in answered[:-1]]
        if choice is None:
            relevant, answer, answerable = [], "", False
        else:
            hit = last["passages"][choice]
            relevant, answer, answerable = [hit["id"]], hit["highlight"], True
        try:
            _, new = append_judgment(self.judgments_path, question=last["question"], history=earlier,
                                     relevant=relevant, answerable=answerable, answer=answer,
                                     allowed_roots=self.judgments_roots)
        except (OSError, ValueError) as e:
            log.warning("judgment not saved: %s", e)
            return f"Not saved: {md_text(e)}"
        what = f"[{choice + 1}] answered it" if choice is not None else "none of the passages answered it"
        return f"Thank you, saved: {what}." if new else f"Already saved: {what}."

    @staticmethod
    def clear():
        return ([], [], [], "", *_judge_updates(None), "", None)

    def wait_ready(self, progress=gr.Progress()):
        """The page's status line: progress while the index opens, then "Ready", then the reader's
        state once it has loaded (answers come meanwhile, marked as not checked by it)."""
        holder = self.holder
        while not holder.wait(0.3):
            s = holder.status()
            progress(s.fraction, desc=s.message)
        s = holder.status()
        if s.error:
            yield f"**{md_text(s.message)}**", "", gr.update()
            return
        qa_ = holder.get()
        choices, sources_ = _filter_updates(qa_)
        yield status_line(holder), sources_, choices
        if qa_.reader is not None and not qa_.reader.wait(0):
            while not qa_.reader.wait(0.5):
                pass
            yield status_line(holder), gr.update(), gr.update()

    def upload(self, files: list[str] | None, progress=gr.Progress()):
        from qa.app.uploads import add_reports

        pairs = [(Path(f), Path(f).name) for f in files or []]
        try:
            lines, changed = add_reports(self.holder, pairs, self.corpus_dir, self.index_dir,
                                         lambda msg, frac: progress(frac, desc=msg))
        except Exception as e:  # the files were removed again; the previous index is still in use
            log.exception("upload failed")
            lines, changed = [f"The reports could not be indexed ({e}); nothing was added."], False
        if not changed:
            return upload_markdown(lines), None, gr.update(), gr.update(), gr.update()
        return (upload_markdown(lines), None, *_filter_updates(self.holder.get()), status_line(self.holder))


class _Page:
    """The page's components, filled in by the layout steps below and wired by `_wire`."""

    def __init__(self) -> None:
        self.uploader = self.upload_status = None  # no upload box without a corpus folder to write to
        self.example_btns: list = []


def _tools_panel(page: _Page, uploads: bool) -> None:
    """Filters (reports, years) and, when the app may write to the corpus, the upload box."""
    with gr.Accordion("Filters and uploads", open=False, elem_id="tools"):
        with gr.Row():
            page.doc_filter = gr.Dropdown([], value=[], multiselect=True, label="Only these reports (none = all)",
                                          elem_id="doc-filter", scale=3)
            page.year_filter = gr.Textbox(label="Years", placeholder="e.g. 2011 or 2010-2012",
                                          elem_id="year-filter", max_lines=1, scale=1)
        if uploads:
            page.uploader = gr.File(file_count="multiple", type="filepath", elem_id="upload",
                                    label=f"Add reports ({' '.join(UPLOAD_SUFFIXES)}, up to 20 MB each)")
            page.upload_status = gr.Markdown("", elem_id="upload-status")


def _ask_tab(page: _Page, examples) -> None:
    """The conversation (left) and the citation cards with the judgment buttons (right)."""
    with gr.Row():
        with gr.Column(scale=3):
            page.chat = gr.Chatbot(elem_id="chat", label="Conversation", show_label=False, autoscroll=False,
                                   height="min(560px, 60vh)",
                                   buttons=["copy", "copy_all"], latex_delimiters=[],
                                   feedback_options=None, placeholder="Ask a question about the reports.")
            page.question = gr.Textbox(elem_id="question", show_label=False, lines=1, max_lines=4,
                                       placeholder="Ask a question and press Enter", autofocus=True)
            with gr.Row():
                page.ask_btn = gr.Button("Ask", variant="primary", elem_id="ask-btn")
                page.clear_btn = gr.Button("Clear", elem_id="clear-btn")
                page.download = gr.DownloadButton("Download conversation (.md)", elem_id="download", value=None)
            if examples:
                gr.Markdown("**Examples** (click to ask):")
                with gr.Row():
                    page.example_btns = [gr.Button(e, size="sm", elem_classes=["qa-example"]) for e in examples]
        with gr.Column(scale=2):
            page.citations = gr.HTML("", elem_id="citations", label="Citations")
            with gr.Row():
                page.judge_btns = [gr.Button(f"[{i + 1}] answered it", size="sm", visible=False,
                                             elem_id=f"judge-{i + 1}") for i in range(JUDGE_BUTTONS)]
                page.judge_none = gr.Button("None answered it", size="sm", visible=False, elem_id="judge-none")
            page.judge_status = gr.Markdown("", elem_id="judge-status")


def _wire(demo: gr.Blocks, page: _Page, on: _Handlers) -> None:
    """The events: asking (Enter, the button, an example), clearing, judging, the status line, uploads."""
    p = page
    answer_outputs = [p.question, p.chat, p.asked, p.turns, p.citations, *p.judge_btns, p.judge_none,
                      p.judge_status, p.download]
    common = dict(outputs=answer_outputs, api_visibility="private")
    filters = [p.doc_filter, p.year_filter]
    # a question asked while the reader is still checking the previous answer waits for it, not lost
    asking = dict(common, trigger_mode="always_last")
    p.question.submit(on.respond, [p.question, p.chat, p.asked, p.turns, *filters], **asking)
    p.ask_btn.click(on.respond, [p.question, p.chat, p.asked, p.turns, *filters], **asking)
    for b in p.example_btns:
        b.click(on.respond, [b, p.chat, p.asked, p.turns, *filters], **asking)
    cleared = [p.chat, p.asked, p.turns, p.citations, *p.judge_btns, p.judge_none, p.judge_status, p.download]
    p.clear_btn.click(on.clear, None, cleared, api_visibility="private")
    p.chat.clear(on.clear, None, cleared, api_visibility="private")  # the chat's own trash button
    # one judgment at a time, in click order: a double click then says "Already saved" last
    judging = dict(api_visibility="private", concurrency_limit=1, concurrency_id="judge")
    for i, b in enumerate(p.judge_btns):
        b.click(partial(on.judge, i), [p.turns], [p.judge_status], **judging)
    p.judge_none.click(partial(on.judge, None), [p.turns], [p.judge_status], **judging)
    demo.load(on.wait_ready, None, [p.status, p.sources, p.doc_filter], concurrency_limit=None,
              api_visibility="private")
    if p.uploader is not None:  # one update at a time, in its own queue slot: questions keep being answered
        p.uploader.upload(on.upload, [p.uploader], [p.upload_status, p.uploader, p.doc_filter, p.sources, p.status],
                          concurrency_limit=1, concurrency_id="upload", api_visibility="private")


def _add_api(holder: QAHolder, k: int) -> None:
    def ask(question: str, history: list[str] | None = None, docs: list[str] | None = None,
            years: str | None = None, read: bool | None = None) -> dict:
        """Answer a question, with optional earlier questions of the conversation (oldest first), optionally
        only from some reports (`docs`: report ids) or years (`years`: "2011" or "2010-2012"). `read`: false
        skips the reader (when the app runs it) for a fast answer without the span.
        Returns the JSON object of `python -m qa ask --json`, or {"error": "..."} if it cannot be searched."""
        return ask_json(holder, question, history, k=k, docs=docs, years=years, read=read)

    gr.api(ask, api_name="ask")


def page_assets() -> dict:
    """What `launch()` takes for the page's look: the theme (system fonts), the CSS, the chat's scrolling."""
    from qa.app.render import CSS, PHONE_CSS

    return {"theme": gr.themes.Default(font=FONTS), "css": CSS, "js": CHAT_JS, "head": f"<style>{PHONE_CSS}</style>"}


def build_ui(qa, *, examples: list[str] | tuple[str, ...] = (), judgments_path: Path | None = None,
             judgments_roots: list[Path] | None = None, k: int = 5, title: str = "Report QA",
             corpus_dir: Path | None = None, index_dir: Path | None = None, uploads: bool = True) -> gr.Blocks:
    """`corpus_dir` and `index_dir` enable uploads (files are saved into `corpus_dir`) and the evaluation
    tab; `uploads=False` leaves the upload box out (an app replica that must not rebuild a shared index)."""
    holder = QAHolder.of(qa)
    handlers = _Handlers(holder, k=k, judgments_path=judgments_path, judgments_roots=judgments_roots,
                         corpus_dir=corpus_dir, index_dir=index_dir)
    writable = corpus_dir is not None and index_dir is not None
    uploads = uploads and writable
    page = _Page()
    with gr.Blocks(title=title) as demo:
        gr.Markdown(f"## {md_text(title)}\nAsk about the reports. Every answer is quoted from a report: "
                    "a short answer, then its sentence, with numbered citations you can open.")
        page.status = gr.Markdown("Opening the reports…", elem_id="status")
        _tools_panel(page, uploads)
        page.asked = gr.State([])
        page.turns = gr.State([])
        with gr.Tabs():
            with gr.Tab("Ask", id="ask"):
                _ask_tab(page, examples)
            with gr.Tab("Sources", id="sources"):
                page.sources = gr.HTML("", elem_id="sources")
            if writable:
                from qa.app.eval_tab import add_evaluation_tab

                add_evaluation_tab(demo, holder, Path(corpus_dir), Path(index_dir))
        _wire(demo, page, handlers)
        _add_api(holder, k)
    return demo

"""The Gradio chat app: ask, read cited passages, follow up, judge, browse the sources.

`build_ui(qa)` takes a `ReportQA` (or a `QAHolder` still opening one) and returns the Blocks; `app.py`
launches it. Rendering lives in `qa.ui_render` (pure functions, escaped), so this module is wiring.
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

from qa.errors import BadQuestion
from qa.judgments import append_judgment
from qa.ui_render import cards_html, conversation_markdown, error_markdown, md_text, reply_markdown, sources_html
from qa.ui_state import QAHolder

log = logging.getLogger(__name__)

MAX_SHOWN_QUESTION = 1000  # longer questions are shortened in the chat bubble (the search cuts them too)
JUDGE_BUTTONS = 5
_DOWNLOADS = Path(tempfile.gettempdir()) / "report-qa-downloads"


def ask_json(holder: QAHolder, question: str, history: list[str] | None = None, k: int = 5) -> dict:
    """`Answer.to_json()` for the question, or {"error": "..."} when it cannot be searched."""
    if history is not None and (not isinstance(history, list) or not all(isinstance(h, str) for h in history)):
        return {"error": "history must be a list of earlier questions (strings)"}
    try:
        return holder.get().ask(question, history or [], k=k).to_json()
    except BadQuestion as e:
        return {"error": str(e)}


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


def _judge_updates(answer: dict | None) -> list:
    n = len(answer["passages"]) if answer and "error" not in answer else 0
    return [gr.update(visible=i < n) for i in range(JUDGE_BUTTONS)] + [gr.update(visible=n > 0)]


def build_ui(qa, *, examples: list[str] | tuple[str, ...] = (), judgments_path: Path | None = None,
             judgments_roots: list[Path] | None = None, k: int = 5, title: str = "Report QA") -> gr.Blocks:
    holder = QAHolder.of(qa)

    def respond(question: str, chat: list, asked: list[str], turns: list[dict]):
        question = question or ""
        chat = list(chat or []) + [{"role": "user", "content": _shown_question(question)}]
        try:
            answer = holder.get().ask(question, list(asked or []), k=k).to_json()
        except BadQuestion as e:
            answer = {"question": question, "error": str(e)}
            chat.append({"role": "assistant", "content": error_markdown(str(e))})
            turns = list(turns or []) + [answer]
            return ("", chat, asked, turns, gr.update(), *_judge_updates(None), "", _download(turns))
        qa_ = holder.get()
        contexts = {h["id"]: [p.to_dict() for p in qa_.context(h["id"])] for h in answer["passages"]}
        chat.append({"role": "assistant", "content": reply_markdown(answer)})
        asked = list(asked or []) + [answer["question"]]
        turns = list(turns or []) + [answer]
        return ("", chat, asked, turns, cards_html(answer, contexts), *_judge_updates(answer), "",
                _download(turns))

    def judge(choice: int | None, turns: list[dict]) -> str:
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
            append_judgment(judgments_path, question=last["question"], history=earlier, relevant=relevant,
                            answerable=answerable, answer=answer, allowed_roots=judgments_roots)
        except (OSError, ValueError) as e:
            log.warning("judgment not saved: %s", e)
            return f"Not saved: {md_text(e)}"
        what = f"[{choice + 1}] answered it" if choice is not None else "none of the passages answered it"
        return f"Thank you, saved: {what}."

    def clear():
        return ([], [], [], "", *_judge_updates(None), "", None)

    def wait_ready(progress=gr.Progress()):
        while not holder.wait(0.3):
            s = holder.status()
            progress(s.fraction, desc=s.message)
        s = holder.status()
        if s.error:
            return f"**{md_text(s.message)}**", ""
        qa_ = holder.get()
        docs, passages = qa_.index.documents, qa_.passages
        report = qa_.build_report
        built = f" Index rebuilt at start ({md_text(report.reason)}) in {report.seconds:.0f} s." if report else ""
        status = f"Ready: {len(docs)} report(s), {len(passages):,} paragraphs.{built}"
        return status, sources_html([d.__dict__ for d in docs], [p.to_dict() for p in passages])

    with gr.Blocks(title=title) as demo:
        gr.Markdown(f"## {md_text(title)}\nAsk about the reports. Every answer is a sentence quoted from "
                    "a report, with numbered citations you can open.")
        status = gr.Markdown("Opening the reports…", elem_id="status")
        asked = gr.State([])
        turns = gr.State([])
        with gr.Tabs():
            with gr.Tab("Ask", id="ask"):
                with gr.Row():
                    with gr.Column(scale=3):
                        chat = gr.Chatbot(elem_id="chat", label="Conversation", height=560,
                                          buttons=["copy", "copy_all"], latex_delimiters=[],
                                          feedback_options=None, placeholder="Ask a question about the reports.")
                        question = gr.Textbox(elem_id="question", show_label=False, lines=1, max_lines=4,
                                              placeholder="Ask a question and press Enter", autofocus=True)
                        with gr.Row():
                            ask_btn = gr.Button("Ask", variant="primary", elem_id="ask-btn")
                            clear_btn = gr.Button("Clear", elem_id="clear-btn")
                            download = gr.DownloadButton("Download conversation (.md)", elem_id="download",
                                                         value=None)
                        if examples:
                            gr.Markdown("**Examples** (click to ask):")
                            with gr.Row():
                                example_btns = [gr.Button(e, size="sm", elem_classes=["qa-example"])
                                                for e in examples]
                        else:
                            example_btns = []
                    with gr.Column(scale=2):
                        citations = gr.HTML("", elem_id="citations", label="Citations")
                        with gr.Row():
                            judge_btns = [gr.Button(f"[{i + 1}] answered it", size="sm", visible=False,
                                                    elem_id=f"judge-{i + 1}") for i in range(JUDGE_BUTTONS)]
                            judge_none = gr.Button("None answered it", size="sm", visible=False,
                                                   elem_id="judge-none")
                        judge_status = gr.Markdown("", elem_id="judge-status")
            with gr.Tab("Sources", id="sources"):
                sources = gr.HTML("", elem_id="sources")

        answer_outputs = [question, chat, asked, turns, citations, *judge_btns, judge_none, judge_status, download]
        common = dict(outputs=answer_outputs, api_visibility="private")
        question.submit(respond, [question, chat, asked, turns], **common)
        ask_btn.click(respond, [question, chat, asked, turns], **common)
        for b in example_btns:
            b.click(respond, [b, chat, asked, turns], **common)
        cleared = [chat, asked, turns, citations, *judge_btns, judge_none, judge_status, download]
        clear_btn.click(clear, None, cleared, api_visibility="private")
        chat.clear(clear, None, cleared, api_visibility="private")  # the chat's own trash button
        for i, b in enumerate(judge_btns):
            b.click(partial(judge, i), [turns], [judge_status], api_visibility="private")
        judge_none.click(partial(judge, None), [turns], [judge_status], api_visibility="private")
        demo.load(wait_ready, None, [status, sources], concurrency_limit=None, api_visibility="private")

        def ask(question: str, history: list[str] | None = None) -> dict:
            """Answer a question, with optional earlier questions of the conversation (oldest first).
            Returns the JSON object of `python -m qa ask --json`, or {"error": "..."} if it cannot be searched."""
            return ask_json(holder, question, history, k=k)

        gr.api(ask, api_name="ask")
    return demo

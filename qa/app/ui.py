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
from qa.words import WORDS, localize, say, ui_lang

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
# Each event's last input is the page's language: Gradio keeps the locale it shows the page in (the
# browser's, or the one chosen under Settings › Language) in <html lang>; replies, cards and the status
# line are written in it.
LANG_JS = """(...args) => { args[args.length - 1] = document.documentElement.lang || navigator.language || "en";
  return args; }"""


# The switch: <html lang> for our own words, and Gradio's locale for its own (the upload box, the footer).
# Gradio keeps its locale in a store of its core module; importing that module again by the URL the page
# loaded it from gives the same instance, whose `changeLocale` is what Gradio's Settings › Language calls.
SWITCH_JS = """async (lang, turns) => {
  document.documentElement.lang = lang;
  try {
    const core = performance.getEntriesByType("resource").map((e) => e.name)
      .find((n) => /\\/assets\\/core-[\\w-]+\\.js(\\?|$)/.test(n));
    if (core) { const m = await import(core); if (m.changeLocale) m.changeLocale(lang === "zh" ? "zh-CN" : "en"); }
  } catch (e) { console.warn("Gradio's own words keep their language:", e); }
  return [lang, turns];
}"""


# The system's sans-serif: Gradio's bundled Source Sans Pro has a stub semibold face, so bold capitals
# fell back to another font mid-word.
FONTS = ("ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Noto Sans", "DejaVu Sans", "sans-serif")


def _strings(x) -> bool:
    return isinstance(x, list) and all(isinstance(h, str) for h in x)


def ask_json(holder: QAHolder, question: str, history: list[str] | None = None, k: int = 5,
             docs: list[str] | None = None, years: str | None = None, read: bool | None = None,
             gloss: bool | None = None) -> dict:
    """`Answer.to_json()` for the question, or {"error": "..."} when it cannot be searched."""
    if history is not None and not _strings(history):
        return {"error": "history must be a list of earlier questions (strings)"}
    if docs is not None and not _strings(docs):
        return {"error": "docs must be a list of report ids (strings)"}
    if years is not None and not isinstance(years, (str, int)):
        return {"error": 'years must be a year or a range like "2010-2012"'}
    try:
        qa_ = holder.get()
        answer = qa_.ask(question, history or [], k=k, docs=docs, years=None if years is None else str(years),
                         read=read is not False)
        holder.answered.set()
        if gloss is not False and read is not False:
            answer = qa_.gloss(answer)[0]
        return answer.to_json()
    except (QAError, RuntimeError) as e:  # a bad question, an engine fault, reports that could not be opened
        return {"error": str(e)}
    except Exception as e:  # anything else is still said in words, not raised at the API's caller
        log.exception("question failed")
        return {"error": f"the search failed ({e.__class__.__name__}: {e})"}


def _shown_question(question: str, lang: str = "en") -> str:
    more = f"…（共 {len(question):,} 个字符）" if lang == "zh" else f"… ({len(question):,} characters)"
    q = question if len(question) <= MAX_SHOWN_QUESTION else question[:MAX_SHOWN_QUESTION] + more
    return md_text(q) if q.strip() else f"*{md_text(say('empty_question', lang))}*"


def _download(turns: list[dict]) -> str | None:  # the Markdown file keeps the project's English headings
    if not turns:
        return None
    _DOWNLOADS.mkdir(parents=True, exist_ok=True)
    for old in _DOWNLOADS.glob("report-qa-conversation-*.md"):  # gradio serves its own copy; keep ours brief
        if time.time() - old.stat().st_mtime > 3600:
            old.unlink(missing_ok=True)
    path = _DOWNLOADS / f"report-qa-conversation-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}.md"
    path.write_text(conversation_markdown(turns), encoding="utf-8")
    return str(path)


def reader_status(slot, lang: str = "en") -> str:
    """The reader's state in words, for the status line."""
    if slot is None:
        return md_text(say("reader_off", lang))
    if slot.state == "loading":
        return md_text(say("reader_loading", lang))
    if slot.state == "on":
        took = say("reader_took", lang, seconds=f"{slot.seconds:.0f}") if slot.seconds else ""
        return md_text(say("reader_on", lang, took=took))
    return md_text(say("reader_unavailable", lang, why=localize(slot.state.removeprefix("unavailable: "), lang)))


def status_line(holder: QAHolder, lang: str = "en") -> str:
    """"Ready: 2 reports, 17 paragraphs. Added a.pdf at 14:02 UTC, 2026-12-07. Reader: on …" — what is
    served, what last changed it and when, and the reader's state."""
    qa_ = holder.get()
    ready = say("ready", lang, reports=count(len(qa_.index.documents), "report", lang),
                paragraphs=count(len(qa_.passages), "paragraph", lang))
    return " ".join(x for x in (md_text(ready), md_text(holder.last_event(lang)), reader_status(qa_.reader, lang)) if x)


def _judge_updates(answer: dict | None) -> list:
    n = len(answer["passages"]) if answer and "error" not in answer else 0
    return [gr.update(visible=i < n) for i in range(JUDGE_BUTTONS)] + [gr.update(visible=n > 0)]


def _filter_updates(qa_, lang: str = "en") -> tuple[dict, str]:
    docs = [d.__dict__ for d in qa_.index.documents]
    # a lean replica holds no passage: the filter and the Sources tab list the reports only
    passages = [] if getattr(qa_, "lean", False) else [p.to_dict() for p in qa_.passages]
    return gr.update(choices=report_choices(docs, passages)), sources_html(docs, passages, lang)


class _Handlers:
    """What the page's events do, for one app (the service in `holder`); Gradio calls the bound methods."""

    def __init__(self, holder: QAHolder, *, k: int, judgments_path: Path | None, judgments_roots: list[Path] | None,
                 corpus_dir: Path | None, index_dir: Path | None, gloss: bool = True,
                 examples: dict[str, tuple[str, ...]] | None = None):
        self.holder, self.k, self.gloss = holder, k, gloss
        self.examples = examples or {}
        self.judgments_path, self.judgments_roots = judgments_path, judgments_roots
        self.corpus_dir, self.index_dir = corpus_dir, index_dir

    def respond_example(self, i: int, chat: list, asked: list[str], turns: list[dict], docs: list[str] | None = None,
                        years: str | None = None, lang: str | None = None):
        """An example button: its question in the page's language."""
        examples = self.examples.get(ui_lang(lang)) or self.examples.get("en") or ()
        yield from self.respond(examples[i] if i < len(examples) else "", chat, asked, turns, docs, years, lang)

    def respond(self, question: str, chat: list, asked: list[str], turns: list[dict], docs: list[str] | None = None,
                years: str | None = None, lang: str | None = None):
        """Up to three steps: the passages at once (retrieval only), then the reader's verdict and span when
        the reader is on (it replaces the first reply), then the gloss when one is wanted. Written in the
        page's language (`lang`, a locale)."""
        lang = ui_lang(lang)
        question = question or ""
        chat = list(chat or []) + [{"role": "user", "content": _shown_question(question, lang)}]
        # the box is emptied at once and never again: what the user types meanwhile is kept
        yield ("", chat, asked, turns, gr.update(), *_judge_updates(None), "", gr.update())
        try:
            qa_ = self.holder.get()
            ask = partial(qa_.ask, question, list(asked or []), k=self.k, docs=docs or None, years=years or None)
            first = ask(read=False).to_json()
            self.holder.answered.set()
        except (QAError, RuntimeError) as e:  # a bad question, an engine fault; RuntimeError: reports not open
            yield self._failed(question, str(e), chat, asked, turns, lang)
            return
        except Exception as e:  # an engine fault: said in words, the app keeps serving
            log.exception("question failed")
            yield self._failed(question, f"the search failed ({e.__class__.__name__}: {e})", chat, asked, turns, lang)
            return
        reading = qa_.reader is not None and qa_.reader.state == "on"
        contexts = self._contexts(qa_, first)
        asked = list(asked or []) + [first["question"]]
        if reading:
            draft = reply_markdown(first, lang) + f"\n\n*{md_text(say('reading', lang))}*"
            yield (gr.update(), chat + [{"role": "assistant", "content": draft}], asked, list(turns or []),
                   cards_html(first, contexts, lang), *_judge_updates(None), "", gr.update())
            read = None
            try:
                read = ask(read=True)
                answer = read.to_json()
            except Exception:  # the reader failed on this one: the passages stand, unchecked
                log.exception("reading failed")
                answer = {**first, "reader": "unavailable: the reader failed on this question"}
            contexts.update(self._contexts(qa_, answer, skip=contexts))
        else:
            read = None
            answer = first if qa_.reader is None else {**first, "reader": qa_.reader.state}
        turns = list(turns or []) + [answer]
        yield (gr.update(), chat + [{"role": "assistant", "content": reply_markdown(answer, lang)}], asked, turns,
               cards_html(answer, contexts, lang), *_judge_updates(answer), "", _download(turns))
        glossed = self._gloss(qa_, read)  # after the answer and its passages: it never holds them up
        if glossed is not None:
            answer = glossed
            turns = turns[:-1] + [answer]
            yield (gr.update(), chat + [{"role": "assistant", "content": reply_markdown(answer, lang)}], asked, turns,
                   gr.update(), *_judge_updates(answer), gr.update(), _download(turns))

    def _gloss(self, qa_, read) -> dict | None:
        """The answer's JSON with its checked gloss, or None when there is none to add."""
        if read is None or not self.gloss:
            return None
        try:
            glossed, _ = qa_.gloss(read)
        except Exception:  # a failed gloss is no gloss; the answer stands
            log.exception("gloss failed")
            return None
        return glossed.to_json() if glossed.gloss is not None else None

    @staticmethod
    def _failed(question: str, message: str, chat: list, asked: list[str], turns: list[dict], lang: str) -> tuple:
        """The outputs for a question that could not be searched: the reason in the chat, and the passages
        panel says so too (no cards of an earlier question left beside it)."""
        answer = {"question": question, "error": message}
        chat = chat + [{"role": "assistant", "content": error_markdown(message, lang)}]
        turns = list(turns or []) + [answer]
        return (gr.update(), chat, asked, turns, error_cards_html(question, message, lang), *_judge_updates(None), "",
                _download(turns))

    def judge(self, choice: int | None, turns: list[dict], lang: str | None = None) -> str:
        lang = ui_lang(lang)
        answered = [t for t in turns or [] if "error" not in t]
        if not answered:
            return md_text(say("ask_first", lang))
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
            return md_text(say("not_saved", lang, why=e))
        what = say("answered_it", lang, n=choice + 1) if choice is not None else say("none_of_them", lang)
        return md_text(say("saved" if new else "already_saved", lang, what=what))

    def switch(self, worded: list[tuple[object, str, str]], components: list, lang: str | None, turns: list[dict]):
        """The language switch: every worded component, the conversation (rebuilt from `turns`), the cards
        of the last answer, the status line and the Sources tab in `lang`."""
        lang = ui_lang(lang)
        words = self.words[lang]
        props: dict[object, dict] = {c: {} for c in components}
        for c, prop, key in worded:
            props[c][prop] = words[key]
        chat = []
        for t in turns or []:
            chat.append({"role": "user", "content": _shown_question(t["question"], lang)})
            reply = error_markdown(t["error"], lang) if "error" in t else reply_markdown(t, lang)
            chat.append({"role": "assistant", "content": reply})
        last = (turns or [None])[-1]
        qa_ = self.holder.get(timeout=0) if self.holder.wait(0) else None
        if last is None:
            cards = ""
        elif "error" in last:
            cards = error_cards_html(last["question"], last["error"], lang)
        else:
            cards = cards_html(last, self._contexts(qa_, last), lang)
        status = status_line(self.holder, lang) if qa_ is not None else md_text(say("opening", lang))
        sources = _filter_updates(qa_, lang)[1] if qa_ is not None else gr.update()
        return (*[gr.update(**props[c]) for c in components], chat, cards, status, sources)

    @staticmethod
    def _contexts(qa_, answer: dict, skip=()) -> dict[str, list[dict]]:
        """Each passage's neighbours, for "Open in context" (none for a passage no longer indexed); the
        passages in `skip` are left out (their context is already there)."""
        out = {}
        for h in answer["passages"] if qa_ is not None else []:
            if h["id"] in skip:
                continue
            try:
                out[h["id"]] = [p.to_dict() for p in qa_.context(h["id"])]
            except Exception as e:  # a passage no longer indexed, an engine fault: the card has no context
                log.warning("no context for %s: %s", h["id"], e)
        return out

    @staticmethod
    def clear():
        return ([], [], [], "", *_judge_updates(None), "", None)

    def wait_ready(self, lang: str | None = None, progress=gr.Progress()):
        """The page's status line: progress while the index opens, then "Ready", then the reader's
        state once it has loaded (answers come meanwhile, marked as not checked by it)."""
        lang = ui_lang(lang)
        holder = self.holder
        while not holder.wait(0.3):
            s = holder.status()
            progress(s.fraction, desc=localize(s.message, lang))
        s = holder.status()
        if s.error:
            yield f"**{md_text(say('could_not_open', lang, why=s.error))}**", "", gr.update(), lang
            return
        qa_ = holder.get()
        choices, sources_ = _filter_updates(qa_, lang)
        yield status_line(holder, lang), sources_, choices, lang
        if qa_.reader is not None and not qa_.reader.wait(0):
            while not qa_.reader.wait(0.5):
                pass
            yield status_line(holder, lang), gr.update(), gr.update(), gr.update()

    def upload(self, files: list[str] | None, lang: str | None = None, progress=gr.Progress()):
        from qa.app.uploads import add_reports

        lang = ui_lang(lang)
        pairs = [(Path(f), Path(f).name) for f in files or []]
        try:
            lines, changed = add_reports(self.holder, pairs, self.corpus_dir, self.index_dir,
                                         lambda msg, frac: progress(frac, desc=localize(msg, lang)))
        except Exception as e:  # the files were removed again; the previous index is still in use
            log.exception("upload failed")
            lines, changed = [f"The reports could not be indexed ({e}); nothing was added."], False
        lines = [localize(line, lang) for line in lines]
        if not changed:
            return upload_markdown(lines), None, gr.update(), gr.update(), gr.update()
        return (upload_markdown(lines), None, *_filter_updates(self.holder.get(), lang), status_line(self.holder, lang))


class _Page:
    """The page's components, filled in by the layout steps below and wired by `_wire`."""

    def __init__(self, t: gr.I18n) -> None:
        self.t = t  # the page's own words: keys of qa.words, shown in the browser's language
        self.uploader = self.upload_status = None  # no upload box without a corpus folder to write to
        self.example_btns: list = []
        # (component, property, key of the page's words): what the language switch rewrites
        self.worded: list[tuple[object, str, str]] = []
        self.lang = gr.Textbox("en", visible=False, elem_id="ui-lang")  # filled in by LANG_JS on every event


def page_words(title: str, examples: dict[str, tuple[str, ...]]) -> gr.I18n:
    """The page's static words for `gr.I18n`: qa.words, with the title, the upload label, the judgment
    buttons and the example questions filled in per language."""
    table = {}
    for lang, words in WORDS.items():
        own = dict(words)
        own["title_md"] = f"## {md_text(title if lang == 'en' else '报告问答')}\n{words['intro']}"
        own["upload_label"] = words["upload"].format(types=" ".join(UPLOAD_SUFFIXES))
        own["examples_md"] = f"**{words['examples']}**"
        for i in range(JUDGE_BUTTONS):
            own[f"answered_{i + 1}"] = words["answered_it"].format(n=i + 1)
        for i, e in enumerate(examples.get(lang) or examples.get("en") or ()):
            own[f"example_{i}"] = e
        table[lang] = own
    return gr.I18n(**table)


def _tools_panel(page: _Page, uploads: bool) -> None:
    """Filters (reports, years) and, when the app may write to the corpus, the upload box."""
    t = page.t
    with gr.Accordion(t("tools"), open=False, elem_id="tools") as tools:
        with gr.Row():
            page.doc_filter = gr.Dropdown([], value=[], multiselect=True, label=t("doc_filter"),
                                          elem_id="doc-filter", scale=3)
            page.year_filter = gr.Textbox(label=t("years"), placeholder=t("years_hint"),
                                          elem_id="year-filter", max_lines=1, scale=1)
        if uploads:
            page.uploader = gr.File(file_count="multiple", type="filepath", elem_id="upload", label=t("upload_label"))
            page.upload_status = gr.Markdown("", elem_id="upload-status")
            page.worded.append((page.uploader, "label", "upload_label"))
    page.worded += [(tools, "label", "tools"), (page.doc_filter, "label", "doc_filter"),
                    (page.year_filter, "label", "years"), (page.year_filter, "placeholder", "years_hint")]


def _ask_tab(page: _Page, n_examples: int) -> None:
    """The conversation (left) and the citation cards with the judgment buttons (right)."""
    t = page.t
    with gr.Row():
        with gr.Column(scale=3):
            page.chat = gr.Chatbot(elem_id="chat", label="Conversation", show_label=False, autoscroll=False,
                                   height="min(560px, 60vh)",
                                   buttons=["copy", "copy_all"], latex_delimiters=[],
                                   feedback_options=None, placeholder=t("chat_hint"))
            page.question = gr.Textbox(elem_id="question", label=t("question_label"), show_label=False, lines=1,
                                       max_lines=4,
                                       placeholder=t("question_hint"), autofocus=True)
            with gr.Row():
                page.ask_btn = gr.Button(t("ask"), variant="primary", elem_id="ask-btn")
                page.clear_btn = gr.Button(t("clear"), elem_id="clear-btn")
                page.download = gr.DownloadButton(t("download"), elem_id="download", value=None)
            if n_examples:
                examples_md = gr.Markdown(t("examples_md"))
                with gr.Row():
                    page.example_btns = [gr.Button(t(f"example_{i}"), size="sm", elem_classes=["qa-example"])
                                         for i in range(n_examples)]
                page.worded += [(examples_md, "value", "examples_md")]
                page.worded += [(b, "value", f"example_{i}") for i, b in enumerate(page.example_btns)]
        with gr.Column(scale=2):
            page.citations = gr.HTML("", elem_id="citations", label="Citations")
            with gr.Row():
                page.judge_btns = [gr.Button(t(f"answered_{i + 1}"), size="sm", visible=False,
                                             elem_id=f"judge-{i + 1}") for i in range(JUDGE_BUTTONS)]
                page.judge_none = gr.Button(t("none_answered"), size="sm", visible=False, elem_id="judge-none")
            page.judge_status = gr.Markdown("", elem_id="judge-status")
    page.worded += [(page.chat, "placeholder", "chat_hint"), (page.question, "placeholder", "question_hint"),
                    (page.question, "label", "question_label"), (page.ask_btn, "value", "ask"),
                    (page.clear_btn, "value", "clear"), (page.download, "label", "download"),
                    (page.judge_none, "value", "none_answered")]
    page.worded += [(b, "value", f"answered_{i + 1}") for i, b in enumerate(page.judge_btns)]


def _wire(demo: gr.Blocks, page: _Page, on: _Handlers) -> None:
    """The events: asking (Enter, the button, an example), clearing, judging, the status line, uploads.
    Each passes the page's language last (LANG_JS)."""
    p = page
    answer_outputs = [p.question, p.chat, p.asked, p.turns, p.citations, *p.judge_btns, p.judge_none,
                      p.judge_status, p.download]
    common = dict(outputs=answer_outputs, api_visibility="private", js=LANG_JS)
    filters = [p.doc_filter, p.year_filter]
    # a question asked while the reader is still checking the previous answer waits for it, not lost
    asking = dict(common, trigger_mode="always_last")
    p.question.submit(on.respond, [p.question, p.chat, p.asked, p.turns, *filters, p.lang], **asking)
    p.ask_btn.click(on.respond, [p.question, p.chat, p.asked, p.turns, *filters, p.lang], **asking)
    for i, b in enumerate(p.example_btns):
        b.click(partial(on.respond_example, i), [p.chat, p.asked, p.turns, *filters, p.lang], **asking)
    cleared = [p.chat, p.asked, p.turns, p.citations, *p.judge_btns, p.judge_none, p.judge_status, p.download]
    p.clear_btn.click(on.clear, None, cleared, api_visibility="private")
    p.chat.clear(on.clear, None, cleared, api_visibility="private")  # the chat's own trash button
    # one judgment at a time, in click order: a double click then says "Already saved" last
    judging = dict(api_visibility="private", concurrency_limit=1, concurrency_id="judge", js=LANG_JS)
    for i, b in enumerate(p.judge_btns):
        b.click(partial(on.judge, i), [p.turns, p.lang], [p.judge_status], **judging)
    p.judge_none.click(partial(on.judge, None), [p.turns, p.lang], [p.judge_status], **judging)
    demo.load(on.wait_ready, [p.lang], [p.status, p.sources, p.doc_filter, p.switch], concurrency_limit=None,
              api_visibility="private", js=LANG_JS)
    # the language switch: the page's words, the conversation so far and the cards, rewritten in the other
    # language; <html lang> follows, so that the next replies are written in it too
    worded = list(dict.fromkeys(c for c, _, _ in p.worded))
    p.switch.input(partial(on.switch, p.worded, worded), [p.switch, p.turns],
                   [*worded, p.chat, p.citations, p.status, p.sources], api_visibility="private", js=SWITCH_JS)
    if p.uploader is not None:  # one update at a time, in its own queue slot: questions keep being answered
        p.uploader.upload(on.upload, [p.uploader, p.lang],
                          [p.upload_status, p.uploader, p.doc_filter, p.sources, p.status],
                          concurrency_limit=1, concurrency_id="upload", api_visibility="private", js=LANG_JS)


def _add_api(holder: QAHolder, k: int) -> None:
    def ask(question: str, history: list[str] | None = None, docs: list[str] | None = None,
            years: str | None = None, read: bool | None = None, gloss: bool | None = None) -> dict:
        """Answer a question, with optional earlier questions of the conversation (oldest first), optionally
        only from some reports (`docs`: report ids) or years (`years`: "2011" or "2010-2012"). `read`: false
        skips the reader (when the app runs it) for a fast answer without the span. `gloss`: false leaves out
        the machine translation of the answer (`answer_gloss`) given when the question's language is not
        the report's.
        Returns the JSON object of `python -m qa ask --json`, or {"error": "..."} if it cannot be searched."""
        return ask_json(holder, question, history, k=k, docs=docs, years=years, read=read, gloss=gloss)

    gr.api(ask, api_name="ask")


def page_assets(t: gr.I18n | None = None) -> dict:
    """What `launch()` takes for the page: the theme (system fonts), the CSS, the chat's scrolling, and
    the page's words in English and Chinese (`demo.words`, from `build_ui`)."""
    from qa.app.render import CSS, PHONE_CSS

    assets = {"theme": gr.themes.Default(font=FONTS), "css": CSS, "js": CHAT_JS, "head": f"<style>{PHONE_CSS}</style>"}
    return {**assets, "i18n": t} if t is not None else assets


def build_ui(qa, *, examples: dict[str, tuple[str, ...]] | list[str] | tuple[str, ...] = (),
             judgments_path: Path | None = None, judgments_roots: list[Path] | None = None, k: int = 5,
             title: str = "Report QA", corpus_dir: Path | None = None, index_dir: Path | None = None,
             uploads: bool = True, gloss: bool = True) -> gr.Blocks:
    """`corpus_dir` and `index_dir` enable uploads (files are saved into `corpus_dir`) and the evaluation
    tab; `uploads=False` leaves the upload box out (an app replica that must not rebuild a shared index).
    `examples`: questions per language ({"en": (…), "zh": (…)}; a plain list is English). The page's
    words (`gr.I18n`) are `demo.words`: pass `page_assets(demo.words)` to `launch()`."""
    examples = dict(examples) if isinstance(examples, dict) else {"en": tuple(examples)}
    holder = QAHolder.of(qa)
    handlers = _Handlers(holder, k=k, judgments_path=judgments_path, judgments_roots=judgments_roots,
                         corpus_dir=corpus_dir, index_dir=index_dir, gloss=gloss, examples=examples)
    writable = corpus_dir is not None and index_dir is not None
    uploads = uploads and writable
    t = page_words(title, examples)
    handlers.words = t.translations_dict
    with gr.Blocks(title=title) as demo:
        page = _Page(t)
        title_md = gr.Markdown(t("title_md"))
        page.switch = gr.Radio([("English", "en"), ("中文", "zh")], value=None, label=t("language"), show_label=False,
                               container=False, elem_id="lang-switch")
        page.status = gr.Markdown(t("opening"), elem_id="status")
        page.worded += [(title_md, "value", "title_md"), (page.switch, "label", "language")]
        _tools_panel(page, uploads)
        page.asked = gr.State([])
        page.turns = gr.State([])
        with gr.Tabs():
            with gr.Tab(t("tab_ask"), id="ask") as ask_tab:
                _ask_tab(page, len(examples.get("en") or ()))
            with gr.Tab(t("tab_sources"), id="sources") as sources_tab:
                page.sources = gr.HTML("", elem_id="sources")
            page.worded += [(ask_tab, "label", "tab_ask"), (sources_tab, "label", "tab_sources")]
            if writable:
                from qa.app.eval_tab import add_evaluation_tab

                page.worded += add_evaluation_tab(demo, holder, Path(corpus_dir), Path(index_dir), t, LANG_JS)
        _wire(demo, page, handlers)
        _add_api(holder, k)
    demo.words = t
    return demo

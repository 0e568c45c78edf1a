"""Pure rendering for the chat app: answers (the `Answer.to_json()` dict) → chat text, cards, Markdown.

Every piece of report or user text passes through `esc` (HTML) or `md_text` (chat Markdown) before it
is put into markup: `gr.HTML` does not sanitise, and a report paragraph may hold `<script>` or
`<img onerror>`. The only tags produced here are our own (`<details>`, `<mark>`, …).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from qa.types import DOUBT
from qa.words import count, localize, say

LABELS = ("strong", "possible", "weak")  # their words: qa/words.py
NOTHING_FOUND = say("nothing")

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~$])")


def esc(text: object) -> str:
    """Text → HTML-safe text (quotes too, so it is safe inside attributes)."""
    return html.escape("" if text is None else str(text), quote=True)


def md_text(text: object) -> str:
    """Text → Markdown that renders as exactly that text (no tags, links, emphasis or maths)."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape("" if text is None else str(text), quote=False))


def label(confidence: str, lang: str = "en") -> str:
    return say(confidence if confidence in LABELS else "weak", lang)


def citation(hit: dict, lang: str = "en") -> str:
    """The passage's citation (`Title (year) › Section ¶n, p. N`), the page said in Chinese for "zh"."""
    text = hit["citation"]
    if lang == "zh" and hit.get("page"):
        text = text.removesuffix(f", p. {hit['page']}") + f"，第 {int(hit['page'])} 页"
    return text


def highlighted(text: str, start: int, end: int, span: tuple[int, int] | None = None) -> str:
    """The paragraph as HTML with text[start:end] wrapped in <mark>, and the answer span inside it in
    <mark class="qa-span"><b>; every part escaped."""
    start = max(0, min(int(start), len(text)))
    end = max(start, min(int(end), len(text)))
    if start == end:
        return esc(text)
    inner = esc(text[start:end])
    if span is not None and start <= span[0] < span[1] <= end:
        s, e = span
        inner = (f'{esc(text[start:s])}<mark class="qa-span"><b>{esc(text[s:e])}</b></mark>'
                 f"{esc(text[e:end])}")
    return f"{esc(text[:start])}<mark>{inner}</mark>{esc(text[end:])}"


def _span(hit: dict) -> tuple[int, int] | None:
    s, e = hit.get("span_start"), hit.get("span_end")
    return (int(s), int(e)) if isinstance(s, int) and isinstance(e, int) else None


def _reader_note(hit: dict, lang: str = "en") -> str:
    if hit.get("answers") is None:
        return ""
    return f'<span class="qa-reader">{esc(say("reader_answers" if hit["answers"] else "reader_not", lang))}</span>'


def _context_html(hit: dict, context: list[dict], lang: str = "en") -> str:
    if not context:
        return ""
    rows = []
    for p in context:
        if p["id"] == hit["id"]:
            body = highlighted(p["text"], hit["highlight_start"], hit["highlight_end"], _span(hit))
            rows.append(f'<p class="qa-ctx-self"><b>¶{int(p["paragraph"])}</b> {body}</p>')
        else:
            section = f' <span class="qa-section">({esc(p.get("section"))})</span>' if p.get("section") else ""
            rows.append(f'<p class="qa-ctx"><b>¶{int(p["paragraph"])}</b>{section} {esc(p["text"])}</p>')
    return (f'<details class="qa-context"><summary>{esc(say("open_context", lang))}</summary>'
            + "".join(rows) + "</details>")


def card_html(hit: dict, context: list[dict] | None = None, lang: str = "en") -> str:
    """One citation card: `[n] citation`, a plain label, expandable to the highlighted paragraph."""
    conf = hit.get("confidence", "weak")
    return (
        f'<details class="qa-card qa-{esc(conf)}" data-passage="{esc(hit["id"])}">'
        f'<summary><b>[{int(hit["rank"])}]</b> {esc(citation(hit, lang))} '
        f'<span class="qa-label">{esc(label(conf, lang))}</span> {_reader_note(hit, lang)}</summary>'
        f'<p class="qa-paragraph">{highlighted(hit["text"], hit["highlight_start"], hit["highlight_end"], _span(hit))}</p>'
        f"{_context_html(hit, context or [], lang)}</details>"
    )


def cards_html(answer: dict, contexts: dict[str, list[dict]] | None = None, lang: str = "en") -> str:
    """All cards of one answer, headed by what they are (answer sources or weak matches)."""
    contexts = contexts or {}
    if not answer.get("passages"):
        return f'<div class="qa-cards"><p>{esc(say("no_passages", lang))}</p></div>'
    head = say("nearest" if answer["abstained"] else "cited", lang)
    cards = "".join(card_html(h, contexts.get(h["id"]), lang) for h in answer["passages"])
    return f'<div class="qa-cards"><p class="qa-cards-head">{esc(head)} <i>{esc(answer["question"])}</i></p>{cards}</div>'


def _cited(answer: dict) -> list[dict]:
    """The passages the answer cites by marker ("[1]", "[2]"), in rank order."""
    return [h for h in answer["passages"] if f"[{int(h['rank'])}]" in (answer.get("answer") or "")]


def sources_line(answer: dict, lang: str = "en") -> str:
    """The bubble's one line of sources: "Sources: [1] Poverty line ¶3 · [2] ¶10" (the cards hold the
    full citations, title included)."""
    parts = []
    for h in _cited(answer):
        section = h.get("section") or ""
        section = section if len(section) <= 40 else section[:39].rstrip() + "…"
        where = f"{md_text(section)} ¶{int(h['paragraph'])}" if section else f"¶{int(h['paragraph'])}"
        page = (f"，第 {int(h['page'])} 页" if lang == "zh" else f" p. {int(h['page'])}") if h.get("page") else ""
        parts.append(f"\\[{int(h['rank'])}\\] {where}{page}")
    return (f"*{md_text(say('sources', lang))}* " + " · ".join(parts)) if parts else ""


_CLAUSE_END = re.compile(r"[,;:，；：、]$")
_CJK = re.compile(r"[\u3400-\u9fff]")


def around(sentence: str, span: str, before: int = 20, after: int = 15) -> str:
    """The part of a long sentence around its answer span, for the chat bubble: from the start of the
    span's clause (at most `before` words back) to the end of its clause (at most `after` words on), "…"
    where it was cut. Chinese is counted in characters (three times the limits). The card shows it whole."""
    at = sentence.find(span) if span else -1
    cjk = bool(_CJK.search(sentence)) and len(sentence.split()) < 4
    units = list(sentence) if cjk else sentence.split(" ")
    limit = 3 if cjk else 1
    if at < 0 or len(units) <= (before + after) * limit + (len(span) if cjk else len(span.split())):
        return sentence
    joiner = "" if cjk else " "
    head, tail = sentence[:at], sentence[at + len(span):]
    left = list(head) if cjk else head.split(" ")
    right = list(tail) if cjk else tail.split(" ")
    start = max(0, len(left) - before * limit)
    for i in range(len(left) - 2, start - 1, -1):  # back to the clause's start
        if _CLAUSE_END.search(left[i]):
            start = i + 1
            break
    stop = min(len(right), after * limit)
    for i in range(stop):  # on to the clause's end
        if _CLAUSE_END.search(right[i]):
            stop = i + 1
            break
    lead = ("…" if start > 0 else "") + joiner.join(left[start:])
    rest = joiner.join(right[:stop])
    rest = rest.rstrip(",;:，；：、") + "…" if stop < len(right) else rest
    return f"{lead}{span}{rest}"


def error_cards_html(question: str, message: str, lang: str = "en") -> str:
    """The passages panel for a question that could not be searched: no cards, the reason."""
    return (f'<div class="qa-cards qa-cards-error"><p class="qa-cards-head">{esc(say("no_passages_for", lang))} '
            f'<i>{esc(question)}</i></p><p>{esc(say("cannot", lang))} {esc(localize(message, lang))}</p></div>')


def reply_markdown(answer: dict, lang: str = "en") -> str:
    """The assistant's chat message in `lang`: what was searched (a follow-up), notices, the answer with
    its markers, its gloss, and one line of sources. Doubt is said in words; the full citations are in the
    cards. The quote is report text, never translated."""
    w = lambda key, **kw: md_text(say(key, lang, **kw))  # noqa: E731
    lines = []
    if answer["searched"] != answer["question"]:
        lines.append(f"*{w('searched')}* {md_text(answer['searched'])}")
    lines += [f"*{w('note')}* {md_text(localize(n, lang))}" for n in answer.get("notices", [])
              if not (answer["abstained"] and n.startswith("No passage in the reports answers"))]
    if answer["abstained"]:
        lines.append(f"**{w('nothing')}** {w('nothing_more')}")
    else:
        text, span = answer["answer"], answer.get("answer_span")
        doubt = text.startswith(DOUBT)
        text = text.removeprefix(DOUBT)
        if span and text.startswith(f"{span} — "):
            sentence, marker, more = text[len(span) + 3:].partition(" [1]")
            body = f"**{md_text(span)}** — {md_text(around(sentence, span) + marker + more)}"
        else:
            body = md_text(text)
        lines.append(f"*{w('doubt')}* {body}" if doubt else body)
        if answer.get("answer_gloss"):  # marked as what it is: the quote is the evidence
            lines.append(f"*{w('gloss')}* {md_text(answer['answer_gloss'])}")
        if sources_line(answer, lang):
            lines.append(sources_line(answer, lang))
    if answer.get("reader") == "loading":
        lines.append(f"*{w('reader_loading_note')}*")
    elif str(answer.get("reader", "")).startswith("unavailable"):
        lines.append(f"*{w('reader_off_note', why=localize(answer['reader'].split(': ', 1)[-1], lang))}*")
    return "\n\n".join(lines)


def report_choices(documents: list[dict], passages: list[dict]) -> list[tuple[str, str]]:
    """(label, document id) for the report filter: `Title (year)`, sorted by title."""
    years = {}
    for p in passages:
        years.setdefault(p["doc"], p.get("year"))
    out = []
    for d in documents:
        y = years.get(d["id"])
        out.append((f"{d['title']} ({y})" if y and str(y) not in d["title"] else d["title"], d["id"]))
    return sorted(out, key=lambda c: (c[0].lower(), c[1]))


def upload_markdown(lines: list[str]) -> str:
    return "\n".join(f"- {md_text(line)}" for line in lines) or "No files."


def error_markdown(message: str, lang: str = "en") -> str:
    return f"**{md_text(say('cannot', lang))}** {md_text(localize(message, lang))}."


def _quote(text: str) -> str:
    return "\n".join("> " + line for line in text.splitlines() or [""])


def conversation_markdown(turns: Iterable[dict], title: str = "Report QA conversation") -> str:
    """The conversation as Markdown: each question, the answer, and every citation with quoted text."""
    out = [f"# {title}", ""]
    for i, t in enumerate(turns, 1):
        if "error" in t:
            out += [f"## {i}. {t['question']}", "", f"Cannot search this question: {t['error']}.", ""]
            continue
        out += [f"## {i}. {t['question']}", ""]
        if t["searched"] != t["question"]:
            out += [f"*Searched for:* {t['searched']}", ""]
        out += [f"Note: {n}" for n in t.get("notices", [])]
        out += [NOTHING_FOUND if t["abstained"] else f"**Answer:** {t['answer']}", ""]
        if t.get("answer_gloss"):
            out += [f"*{say('gloss')}* {t['answer_gloss']}", ""]
        out += ["### Citations", ""]
        for h in t["passages"]:
            where = f"section “{h['section']}”, " if h.get("section") else ""
            out += [f"[{h['rank']}] {h['title']}, {where}paragraph {h['paragraph']} "
                    f"({label(h['confidence'])}; passage `{h['id']}`)", "", _quote(h["highlight"]), ""]
    return "\n".join(out).rstrip() + "\n"


def sources_html(documents: list[dict], passages: list[dict], lang: str = "en") -> str:
    """The Sources tab: each document, its sections, each paragraph readable (all escaped)."""
    by_doc: dict[str, list[dict]] = {}
    for p in passages:
        by_doc.setdefault(p["doc"], []).append(p)
    parts = []
    for d in documents:
        sections: list[tuple[str | None, list[dict]]] = []
        for p in by_doc.get(d["id"], []):
            if not sections or sections[-1][0] != p.get("section"):
                sections.append((p.get("section"), []))
            sections[-1][1].append(p)
        body = "".join(
            f'<details class="qa-src-section"><summary>{esc(name or say("before_first", lang))} '
            f'<span class="qa-label">{len(ps)} ¶</span></summary>'
            + "".join(f'<p id="{esc(p["id"])}"><b>¶{int(p["paragraph"])}</b> {esc(p["text"])}</p>' for p in ps)
            + "</details>"
            for name, ps in sections)
        parts.append(f'<details class="qa-src-doc"><summary><b>{esc(d["title"])}</b> '
                     f'<span class="qa-label">{esc(d["path"])} · {count(int(d["passages"]), "paragraph", lang)}</span>'
                     f"</summary>{body}</details>")
    return '<div class="qa-sources">' + ("".join(parts) or f"<p>{esc(say('no_documents', lang))}</p>") + "</div>"


CSS = """
.qa-card, .qa-src-doc, .qa-src-section { border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 6px 10px; margin: 6px 0; }
.qa-card summary, .qa-src-doc summary, .qa-src-section summary { cursor: pointer; }
.qa-label { font-size: 0.85em; padding: 1px 6px; border-radius: 6px; background: var(--background-fill-secondary); }
.qa-strong .qa-label { background: #d6f5d6; color: #14532d; }
.qa-possible .qa-label { background: #fff3c4; color: #713f12; }
.qa-weak .qa-label { background: #eee; color: #444; }
.qa-card mark, .qa-context mark { background: #ffe066; color: inherit; padding: 0 1px; }
.qa-card mark.qa-span, .qa-context mark.qa-span { background: #ffb703; outline: 1px solid #b45309; }
.qa-reader { font-size: 0.8em; color: var(--body-text-color-subdued); }
.qa-context { margin-top: 6px; font-size: 0.92em; }
.qa-ctx { color: var(--body-text-color-subdued); }
.qa-cards-head { font-weight: 600; margin: 0 0 4px 0; }
"""

# A phone (≤ 480 px): the chat first, the cards below (Gradio's columns wrap), the whole width used. Put in
# the page's <head> as it is: Gradio scopes `css` to its content, and the side padding sits outside it.
PHONE_CSS = """
@media (max-width: 480px) {
  .gradio-container .main { padding-left: 8px !important; padding-right: 8px !important; }
  #chat .message-row.bubble { margin-left: 4px !important; margin-right: 4px !important;
    max-width: calc(100% - 24px) !important; }
}
"""

"""PDF files → `Extracted` (qa/ingest/formats.py): text lines per page with pypdf, running headers and
footers and page numbers dropped, headings guessed from layout, lines joined into paragraphs.
"""

from __future__ import annotations

import io
import re
from collections import Counter

from qa.ingest.formats import Block, Extracted, clean_line, is_page_number

_RUNNING_MAX = 80  # characters: longer lines at a page edge are body text, never a running header
# A paragraph ends with one of these (also before closing quotes/brackets).
_TERMINAL = re.compile(r"[.!?。！？:：;；…][\"'”’)）\]】]*$")


def extract_pdf(data: bytes) -> Extracted:
    """Text of each page with pypdf (layout mode, whose blank lines separate paragraphs).

    Running headers and footers are dropped: a line among the first or last two lines of a page that
    recurs there on at least half the pages (and on two or more), comparing with digits masked so that
    "Page 3" matches "Page 4"; a lone page number at the top or bottom of a page is dropped too.
    A paragraph cut by a page break (no closing punctuation at the foot of the page) is joined to the
    first paragraph of the next page and keeps the page it starts on. A short one-line paragraph
    without closing punctuation followed by a longer paragraph is read as a section heading.
    """
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ValueError("encrypted PDF (needs a password)")
        pages = [_page_lines(page) for page in reader.pages]
        meta_title = clean_line(str((reader.metadata or {}).get("/Title") or ""))
    except (PyPdfError, OSError, KeyError, TypeError, AttributeError, IndexError, ZeroDivisionError) as e:
        raise ValueError(f"not a readable PDF ({e.__class__.__name__}: {str(e)[:80]})") from None
    if not any(any(line for line in lines) for lines in pages):
        raise ValueError("PDF has no text layer (scanned images?)")
    dropped = _drop_running_lines(pages)
    blocks = _pdf_blocks(pages)
    return Extracted(_usable_pdf_title(meta_title), blocks, dropped)


def _page_lines(page) -> list[str]:
    try:
        text = page.extract_text(extraction_mode="layout")
    except Exception:  # noqa: BLE001 — layout mode fails on some fonts; plain mode is the fallback
        text = page.extract_text()
    return [clean_line(line) for line in (text or "").splitlines()]


def _usable_pdf_title(title: str) -> str | None:
    """PDF metadata titles are often left-overs from the authoring tool: ignore those."""
    if not title or re.search(r"(?i)^(untitled|microsoft word\s*-)|\.(docx?|pdf|indd|tex)$", title):
        return None
    return title


def _mask(line: str) -> str:
    return re.sub(r"\d+", "#", line.lower())


def _edges(lines: list[str], n: int = 2) -> list[tuple[str, int]]:
    """(position, index) of the first and last `n` non-blank lines ("top0", "top1", "bottom0", …)
    that stand apart from the body: in a run of at most two lines between blank lines."""
    nonblank = [i for i, line in enumerate(lines) if line]
    out = {i: f"top{k}" for k, i in enumerate(nonblank[:n])}
    out.update({i: f"bottom{k}" for k, i in enumerate(reversed(nonblank[-n:])) if i not in out})
    return [(pos, i) for i, pos in sorted(out.items()) if _run_length(lines, i) <= 2]


def _run_length(lines: list[str], i: int) -> int:
    lo = hi = i
    while lo > 0 and lines[lo - 1]:
        lo -= 1
    while hi + 1 < len(lines) and lines[hi + 1]:
        hi += 1
    return hi - lo + 1


def _drop_running_lines(pages: list[list[str]]) -> list[str]:
    """Blank out running headers/footers and page numbers in place; describe what was dropped.

    A running line is short and recurs at the same position (first/second line, last/second-to-last).
    """
    seen: Counter[tuple[str, str]] = Counter()
    for lines in pages:
        seen.update({(pos, _mask(lines[i])) for pos, i in _edges(lines)})
    running = {key for key, c in seen.items() if c >= 2 and 2 * c >= len(pages) and len(key[1]) <= _RUNNING_MAX}
    first_raw: dict[str, str] = {}
    counts: Counter[str] = Counter()
    for lines in pages:
        for pos, i in _edges(lines):
            number = is_page_number(lines[i])
            if number or (pos, _mask(lines[i])) in running:
                key = "page numbers" if number else _mask(lines[i])
                first_raw.setdefault(key, "page numbers" if number else lines[i])
                counts[key] += 1
                lines[i] = ""
    return [f"{first_raw[k]} (page header/footer, {counts[k]} pages)" for k in first_raw]


def _pdf_blocks(pages: list[list[str]]) -> list[Block]:
    paras: list[tuple[list[str], int]] = []  # (lines, page) of each blank-line separated group
    for number, lines in enumerate(pages, 1):
        group: list[str] = []
        for line in [*lines, ""]:
            if line:
                group.append(line)
            elif group:
                paras.append((group, number))
                group = []
    blocks: list[Block] = []
    for i, (lines, page) in enumerate(paras):
        text = _join_lines(lines)
        nxt = paras[i + 1][0] if i + 1 < len(paras) else None
        if _looks_like_heading(lines, nxt):
            blocks.append(Block("heading", text, page))
            continue
        prev = blocks[-1] if blocks else None
        if (prev is not None and prev.kind == "text" and prev.page is not None and prev.page < page
                and not _TERMINAL.search(prev.text) and not text.startswith("【")):
            blocks[-1] = Block("text", _join_lines([prev.text, text]), prev.page)  # continues over the page break
        else:
            blocks.append(Block("text", text, page))
    return blocks


def _looks_like_heading(lines: list[str], nxt: list[str] | None) -> bool:
    text = lines[0]
    return (len(lines) == 1 and len(text) <= 80 and not _TERMINAL.search(text) and not text.startswith("【")
            and nxt is not None and len(_join_lines(nxt)) > 2 * len(text) and not re.match(r"^[\d\W]+$", text))


def _join_lines(lines: list[str]) -> str:
    """Join wrapped lines: a space between words, nothing between CJK characters or after a hyphen."""
    out = lines[0]
    for line in lines[1:]:
        if re.search(r"[a-z]-$", out) and line[:1].islower():
            out = out[:-1] + line
        elif _is_cjk(out[-1:]) and _is_cjk(line[:1]):
            out += line
        else:
            out += " " + line
    return out


def _is_cjk(ch: str) -> bool:
    return bool(ch) and ("\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef")

"""Formats: HTML, PDF and DOCX files → `Extracted` (a title and a list of text blocks).

Each extractor reads the file's bytes and returns blocks in reading order: the document title as it
appears in the text (`kind="title"`), section headings (`"heading"`) and paragraphs (`"text"`), each
with its 1-based `page` for paged formats. `qa.ingest.corpus` joins the blocks into the document's plain
text (its "source text": passage offsets point into it) and cuts passages from the text blocks.
Parsing libraries are imported inside the functions so `import qa` stays fast.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field

PDF_MAGIC = b"%PDF-"
_RUNNING_MAX = 80  # characters: longer lines at a page edge are body text, never a running header
ZIP_MAGIC = b"PK\x03\x04"
# A paragraph ends with one of these (also before closing quotes/brackets).
_TERMINAL = re.compile(r"[.!?。！？:：;；…][\"'”’)）\]】]*$")
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")
_PAGE_NUMBER = re.compile(
    r"^(?:(?:page|p\.|pp\.)\s*\d+(?:\s*(?:of|/)\s*\d+)?|[-–—]?\s*\d{1,3}\s*[-–—]?|\d+\s*/\s*\d+"
    r"|第\s*\d+\s*页(?:\s*[,，/]?\s*共\s*\d+\s*页)?)$",
    re.I,
)


@dataclass(frozen=True)
class Block:
    kind: str  # "title" (the document title as printed), "heading" (starts a section) or "text"
    text: str
    page: int | None = None


@dataclass
class Extracted:
    title: str | None  # from the file's metadata or its title paragraph; None → the caller's fallback
    blocks: list[Block]
    dropped: list[str] = field(default_factory=list)  # page headers/footers and other chrome left out


def sniff(suffix: str, data: bytes) -> str:
    """The format to parse a file as: "text", "markdown", "html", "pdf" or "docx".

    The real file type must match the extension (magic bytes for PDF and DOCX); ValueError otherwise.
    """
    suffix = suffix.lower()
    head = data[:1024]
    if not data.strip():
        raise ValueError("empty file")
    if suffix == ".pdf":
        if PDF_MAGIC not in head:
            raise ValueError("not a PDF file (no %PDF- header)")
        return "pdf"
    if suffix == ".docx":
        if not data.startswith(ZIP_MAGIC):
            raise ValueError("not a DOCX file (not a zip archive)")
        return "docx"
    if data.startswith(PDF_MAGIC) or data.startswith(ZIP_MAGIC):
        kind = "PDF" if data.startswith(PDF_MAGIC) else "zip/DOCX"
        raise ValueError(f"binary file: a {kind} file named {suffix}")
    if b"\x00" in data[:8192]:
        raise ValueError("binary file (contains NUL bytes)")
    if suffix in (".html", ".htm"):
        return "html"
    if suffix in (".md", ".markdown"):
        return "markdown"
    return "text"


def clean_line(text: str) -> str:
    """Collapse runs of spaces (incl. NBSP and ideographic space) and trim."""
    return _SPACES.sub(" ", text).strip()


def is_page_number(line: str) -> bool:
    return bool(_PAGE_NUMBER.match(clean_line(line)))


# ---------------------------------------------------------------- HTML

def extract_html(data: bytes) -> Extracted:
    """Main text of a web page with trafilatura (navigation, banners, footers left out).

    trafilatura's XML keeps `<head>` elements for h1–h6, so headings become sections. The title is
    the page's `<title>`, else its first top-level heading.
    """
    import lxml.etree
    import lxml.html
    import trafilatura
    from trafilatura.utils import decode_file

    try:
        tree = lxml.html.document_fromstring(decode_file(data).encode("utf-8"),
                                             parser=lxml.html.HTMLParser(encoding="utf-8"))
    except (ValueError, lxml.etree.ParserError):
        raise ValueError("not a readable HTML page") from None
    page_title = clean_line(tree.findtext(".//title") or "")
    _strip_chrome(tree)
    xml = trafilatura.extract(tree, output_format="xml", include_formatting=True, include_tables=True,
                              include_comments=False, include_images=False, deduplicate=False)
    if not xml:
        raise ValueError("no main text found in the HTML page")
    main = lxml.etree.fromstring(xml.encode("utf-8")).find("main")
    blocks: list[Block] = []
    for el in (main if main is not None else []):
        if el.tag == "head":
            text = clean_line(_element_text(el))
            if text:
                first_h1 = not blocks and el.get("rend", "h1") == "h1"
                blocks.append(Block("title" if first_h1 else "heading", text))
        elif el.tag == "list":
            blocks.extend(Block("text", t) for item in el.iter("item") if (t := _para_text(item)))
        elif el.tag == "table":
            for row in el.iter("row"):
                cells = [clean_line(_element_text(c)) for c in row.iter("cell")]
                if any(cells):
                    blocks.append(Block("text", " | ".join(cells)))
        elif el.tag != "graphic" and (text := _para_text(el)):
            blocks.append(Block("text", text))
    title = page_title or next((b.text for b in blocks if b.kind == "title"), None)
    return Extracted(title, blocks)


def _strip_chrome(tree) -> None:
    """Remove page chrome trafilatura may keep on short pages: nav/aside, page-level header/footer
    (not those inside an article or main), and cookie/consent banners."""
    for el in tree.xpath("//nav | //aside | //header[not(ancestor::article or ancestor::main)]"
                         " | //footer[not(ancestor::article or ancestor::main)]"
                         " | //*[contains(translate(concat(@id, ' ', @class), 'COKIENS', 'cokiens'), 'cookie')"
                         " or contains(translate(concat(@id, ' ', @class), 'COKIENS', 'cokiens'), 'consent')]"):
        if el.getparent() is not None:
            el.drop_tree()


def _element_text(el) -> str:
    """Text of an element with `<lb/>` as a line break (itertext would glue the lines together)."""
    parts = [el.text or ""]
    for child in el:
        parts.append("\n" if child.tag == "lb" else _element_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _para_text(el) -> str:
    lines = (clean_line(line) for line in _element_text(el).split("\n"))
    return "\n".join(line for line in lines if line)


# ---------------------------------------------------------------- DOCX

def extract_docx(data: bytes) -> Extracted:
    """Paragraphs and table rows of a Word file; "Title" and "Heading N" styles become title/sections.

    The title is the core-properties title, else the first Title-styled paragraph.
    """
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as e:
        raise ValueError(f"not a readable DOCX file ({e.__class__.__name__})") from None
    blocks: list[Block] = []
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            for row in item.rows:
                cells = [_para_text_plain(c.text) for c in row.cells]
                cells = [c for i, c in enumerate(cells) if c and c not in cells[:i]]  # merged cells repeat
                if cells:
                    blocks.append(Block("text", " | ".join(cells)))
            continue
        text = _para_text_plain(item.text)
        if not text:
            continue
        style = (item.style.name if item.style is not None else "") or ""
        if style == "Title":
            blocks.append(Block("title", text))
        elif re.match(r"(?i)heading \d$", style):
            blocks.append(Block("heading", text))
        else:
            blocks.append(Block("text", text))
    core = clean_line(document.core_properties.title or "")
    title = core or next((b.text for b in blocks if b.kind == "title"), None)
    return Extracted(title, blocks)


def _para_text_plain(text: str) -> str:
    lines = (clean_line(line) for line in text.replace("\v", "\n").split("\n"))
    return "\n".join(line for line in lines if line)


# ---------------------------------------------------------------- PDF

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

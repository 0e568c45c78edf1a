"""Formats: HTML, PDF and DOCX files → `Extracted` (a title and a list of text blocks); PDF's extractor
is in qa/ingest/pdf.py.

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
from dataclasses import dataclass, field

PDF_MAGIC = b"%PDF-"
ZIP_MAGIC = b"PK\x03\x04"
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

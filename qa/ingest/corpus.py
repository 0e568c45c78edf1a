"""Ingest: report files → `Document`s of `Passage`s with exact offsets.

A report is a title line, then paragraphs. A paragraph that opens with `【Heading】` starts a section;
the paragraphs after it belong to that section until the next heading. Text before the first heading
belongs to no section. Short lines of website chrome (copyright/ICP notices, addresses, phone/fax,
"scan to download the app") are dropped by rule and reported.

Formats: .txt and Markdown are parsed in place (offsets point into the file's decoded text; Markdown
`#` lines are headings). HTML, PDF and DOCX are first turned into blocks by `qa.ingest.formats`; their source
text is the extracted plain text (`document_text`), blocks joined by blank lines. For every format
`document_text(path)[p.start:p.end] == p.text`.

Year of a report (`Passage.year`): the first 19xx/20xx year in the file name, else in the title, else
the most frequent one in the first 2,000 characters of the text (the earliest on a tie), else None.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import unicodedata
from collections import Counter
from pathlib import Path

from qa.errors import CorpusEmpty, CorpusMissing
from qa.ingest.formats import Extracted, extract_docx, extract_html, sniff
from qa.ingest.pdf import extract_pdf
from qa.types import Corpus, Document, Passage, Skipped
from qa.years import years_in

log = logging.getLogger(__name__)

INGEST_VERSION = 1  # bump when parsing changes what passages a file gives: indexes are then rebuilt
REPORT_SUFFIXES = {".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx"}
MAX_FILE_BYTES = 50 * 1024 * 1024
YEAR_SCAN_CHARS = 2000

_HEADING = re.compile(r"【([^】\n]{1,200})】")
_PARAGRAPH_START = re.compile(r"^[ \t\u3000]+\S|^【")
_MD_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$|^ {0,3}#{1,6}[ \t]*$")
_MD_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_EXTRACTORS = {"html": extract_html, "pdf": extract_pdf, "docx": extract_docx}
# Site chrome: each pattern names one kind of boilerplate line.
_CHROME = [
    ("copyright", re.compile(r"©|\(c\)\s*\d{4}|copyright|all rights reserved|版权所有|未经许可", re.I)),
    ("ICP licence", re.compile(r"ICP\s*[备证]|ICP\s*license|京公网安备|公网安备", re.I)),
    ("address", re.compile(r"^\s*(地址|address)\s*[:：]|邮编|postcode|zip code", re.I)),
    ("phone/fax", re.compile(r"(电话|传真|tel|phone|fax)\s*[:：.]?\s*\+?[\d\-() ]{6,}", re.I)),
    ("app download", re.compile(r"(扫描|扫码|scan).{0,12}(下载|客户端|download|app)|download (our|the) app|手机客户端", re.I)),
    ("site links", re.compile(r"^\s*(privacy policy|terms of use|contact us|sitemap|网站地图|联系我们|关于我们)\b", re.I)),
]
_CHROME_MAX_CHARS = 200


def slugify(name: str) -> str:
    """A file-system and URL safe id from a file name (keeps CJK letters)."""
    s = unicodedata.normalize("NFKC", name).lower()
    s = re.sub(r"[^\w]+", "-", s).strip("-")
    return s or "doc"


def chrome_kind(line: str) -> str | None:
    """The kind of site chrome a line is, or None if it reads as report text."""
    stripped = line.strip()
    if not stripped or len(stripped) > _CHROME_MAX_CHARS:
        return None
    for kind, pattern in _CHROME:
        if pattern.search(stripped):
            return kind
    return None


def parse_report(text: str, doc_id: str, fallback_title: str, *,
                 markdown: bool = False) -> tuple[str, list[Passage], list[str]]:
    """Parse report text into (title, passages, dropped boilerplate lines).

    The first line is the title (for Markdown only when it is a `#` heading). With `markdown=True`,
    `#` heading lines start sections and are not passages, and only blank lines separate paragraphs.
    """
    lines = _lines_with_offsets(text)
    title = fallback_title
    body = lines
    first = next((i for i, (_, s, e) in enumerate(lines) if text[s:e].strip()), None)
    if first is not None:
        _, s, e = lines[first]
        candidate = text[s:e].strip()
        md_title = _MD_HEADING.match(candidate) if markdown else None
        if md_title:
            title = _HEADING.sub(r"\1", md_title.group(1) or "").strip() or fallback_title
            body = lines[first + 1 :]
        elif not markdown and not _HEADING.match(candidate) and len(candidate) <= 300:
            title = _HEADING.sub("", candidate).strip() or fallback_title
            body = lines[first + 1 :]

    dropped: list[str] = []
    blocks: list[tuple[int, int] | str] = []  # paragraph spans in the source; a str is a Markdown heading
    cur: list[int] | None = None
    fenced = False
    for line, s, e in body:
        stripped = line.strip()
        if markdown and _MD_FENCE.match(line):
            fenced = not fenced
        elif markdown and not fenced and (m := _MD_HEADING.match(line)):
            cur = _close(blocks, cur)
            blocks.append(_HEADING.sub(r"\1", m.group(1) or "").strip())
            continue
        if not stripped:
            cur = _close(blocks, cur)
            continue
        if chrome_kind(stripped):
            dropped.append(stripped)
            cur = _close(blocks, cur)
            continue
        if cur is not None and not markdown and _PARAGRAPH_START.match(line):
            cur = _close(blocks, cur)
        if cur is None:
            cur = [s, e]
        else:
            cur[1] = e
    _close(blocks, cur)

    passages: list[Passage] = []
    section: str | None = None
    seen: dict[str, int] = {}
    for block in blocks:
        if isinstance(block, str):
            section = " ".join(block.split()) or None
            continue
        section, s, e = _split_heading(text, *_trim(text, *block), section)
        if s < e:  # else a heading alone on its line: the next paragraphs belong to it
            passages.append(_passage(doc_id, title, section, text, s, e, len(passages) + 1, seen))
    return title, passages, dropped


def parse_blocks(extracted: Extracted, doc_id: str, fallback_title: str) -> tuple[str, str, list[Passage], list[str]]:
    """Join extracted blocks into the source text and cut passages from it.

    Returns (source text, title, passages, dropped). Blocks are separated by a blank line; headings
    and the title stay in the source text but are not passages; chrome blocks are left out of both.
    """
    title = extracted.title or next((b.text for b in extracted.blocks if b.kind == "title"), None) or fallback_title
    dropped = list(extracted.dropped)
    parts: list[str] = []
    pos = 0
    section: str | None = None
    passages: list[Passage] = []
    seen: dict[str, int] = {}
    for block in extracted.blocks:
        if block.kind == "text" and chrome_kind(block.text):
            dropped.append(block.text)
            continue
        if parts:
            parts.append("\n\n")
            pos += 2
        start = pos
        parts.append(block.text)
        pos += len(block.text)
        if block.kind == "heading":
            section = " ".join(_HEADING.sub(r"\1", block.text).split()) or section
        elif block.kind == "text":
            section, s, e = _split_heading(block.text, *_trim(block.text, 0, len(block.text)), section)
            if s < e:  # offsets inside the block, then shifted to the source text
                p = _passage(doc_id, title, section, block.text, s, e, len(passages) + 1, seen)
                passages.append(dataclasses.replace(p, start=start + s, end=start + e, page=block.page))
    return "".join(parts), title, passages, dropped


def _split_heading(text: str, s: int, e: int, section: str | None) -> tuple[str | None, int, int]:
    """A paragraph opening with `【Heading】` starts a section: return it and the span after it."""
    m = _HEADING.match(text, s)
    if not m:
        return section, s, e
    s2, e2 = _trim(text, m.end(), e)
    return " ".join(m.group(1).split()), s2, e2


def _passage(doc_id: str, title: str, section: str | None, text: str, s: int, e: int, paragraph: int,
             seen: dict[str, int]) -> Passage:
    """A passage whose id is stable while its section and text are: sha1 of both (suffix if repeated)."""
    body_text = text[s:e]
    digest = hashlib.sha1(f"{section}\n{body_text}".encode()).hexdigest()[:10]
    n = seen.get(digest, 0)
    seen[digest] = n + 1
    pid = f"{doc_id}#{digest}" + (f"-{n}" if n else "")
    return Passage(pid, doc_id, title, section, paragraph, s, e, body_text)


def find_year(name: str, title: str, text: str) -> int | None:
    """The report's year: first 19xx/20xx in the file name, else the title, else the most frequent
    one in the first YEAR_SCAN_CHARS characters of the text (the earliest seen on a tie)."""
    for source in (name, title):
        if found := years_in(source):
            return found[0]
    years = years_in(text[:YEAR_SCAN_CHARS])
    if not years:
        return None
    counts = Counter(years)
    return int(max(counts, key=lambda y: (counts[y], -years.index(y))))


def _close(blocks: list[tuple[int, int]], cur: list[int] | None) -> None:
    if cur is not None:
        blocks.append((cur[0], cur[1]))
    return None


def _trim(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


def _lines_with_offsets(text: str) -> list[tuple[str, int, int]]:
    out = []
    pos = 0
    for line in text.splitlines(keepends=True):
        content = line.rstrip("\r\n")
        out.append((content, pos, pos + len(content)))
        pos += len(line)
    return out


def read_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    if not data.strip():
        raise ValueError("empty file")
    return data


def decode_text(data: bytes) -> str:
    """UTF-8 text of a plain-text file; ValueError with a plain reason if it is binary or not UTF-8."""
    if b"\x00" in data[:8192]:
        raise ValueError("binary file (contains NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"not valid UTF-8 (byte {e.start})") from None


def _parse(path: Path, data: bytes, doc_id: str) -> tuple[str, str, list[Passage], list[str]]:
    """(source text, title, passages, dropped) of one file, by its real format."""
    fmt = sniff(path.suffix, data)
    if fmt in _EXTRACTORS:
        return parse_blocks(_EXTRACTORS[fmt](data), doc_id, fallback_title=path.stem)
    text = decode_text(data)
    title, passages, dropped = parse_report(text, doc_id, fallback_title=path.stem, markdown=fmt == "markdown")
    return text, title, passages, dropped


def document_text(path: Path) -> str:
    """The source text passage offsets point into: the decoded file for .txt/.md, else the extracted text."""
    path = Path(path)
    return _parse(path, read_bytes(path), "doc")[0]


def load_document(path: Path, root: Path, doc_id: str | None = None) -> Document:
    rel = path.relative_to(root).as_posix()
    data = read_bytes(path)
    doc_id = doc_id or slugify(str(Path(rel).with_suffix("")))
    text, title, passages, dropped = _parse(path, data, doc_id)
    if not passages:
        raise ValueError("no paragraphs of text")
    year = find_year(path.name, title, text)
    if year is not None:
        passages = [dataclasses.replace(p, year=year) for p in passages]
    sha = hashlib.sha256(data).hexdigest()
    return Document(doc_id, rel, title, sha, tuple(passages), tuple(dropped))


def report_files(root: Path) -> list[Path]:
    if not root.is_dir():
        raise CorpusMissing(f"corpus folder {root} does not exist")
    return sorted(
        p for p in root.rglob("*")
        if p.is_file() and p.suffix.lower() in REPORT_SUFFIXES and not p.name.startswith(".")
    )


def file_hashes(root: Path) -> dict[str, str]:
    """sha256 of every report file, by path relative to `root` (the corpus fingerprint's input)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in report_files(root)}


def load_corpus(root: Path) -> Corpus:
    """Read every report under `root`; files that cannot be read are skipped with a reason.

    A document's id is its slugified path without the extension; when two files differ only in their
    extension (report.pdf, report.txt), the later one in sorted order keeps the extension in its id.
    """
    docs: list[Document] = []
    skipped: list[Skipped] = []
    used: set[str] = set()
    for path in report_files(root):
        rel = path.relative_to(root).as_posix()
        doc_id = slugify(str(Path(rel).with_suffix("")))
        if doc_id in used:
            doc_id = slugify(rel)
        used.add(doc_id)
        try:
            docs.append(load_document(path, root, doc_id))
        except (ValueError, OSError) as e:
            log.warning("skipped %s: %s", rel, e)
            skipped.append(Skipped(rel, str(e)))
    if not docs:
        suffixes = ", ".join(sorted(REPORT_SUFFIXES))
        raise CorpusEmpty(f"no readable report ({suffixes}) in {root}" + (f"; skipped {len(skipped)}" if skipped else ""))
    return Corpus(tuple(docs), tuple(skipped))

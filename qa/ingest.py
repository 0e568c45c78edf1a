"""Ingest: report files → `Document`s of `Passage`s with exact offsets.

A report is a title line, then paragraphs. A paragraph that opens with `【Heading】` starts a section;
the paragraphs after it belong to that section until the next heading. Text before the first heading
belongs to no section. Short lines of website chrome (copyright/ICP notices, addresses, phone/fax,
"scan to download the app") are dropped by rule and reported.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from pathlib import Path

from qa.errors import CorpusEmpty, CorpusMissing
from qa.types import Corpus, Document, Passage, Skipped

log = logging.getLogger(__name__)

REPORT_SUFFIXES = {".txt", ".md", ".markdown"}
MAX_FILE_BYTES = 50 * 1024 * 1024

_HEADING = re.compile(r"【([^】\n]{1,200})】")
_PARAGRAPH_START = re.compile(r"^[ \t\u3000]+\S|^【")
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


def parse_report(text: str, doc_id: str, fallback_title: str) -> tuple[str, list[Passage], list[str]]:
    """Parse report text into (title, passages, dropped boilerplate lines)."""
    lines = _lines_with_offsets(text)
    title = fallback_title
    body = lines
    first = next((i for i, (_, s, e) in enumerate(lines) if text[s:e].strip()), None)
    if first is not None:
        _, s, e = lines[first]
        candidate = text[s:e].strip()
        if not _HEADING.match(candidate) and len(candidate) <= 300:
            title = _HEADING.sub("", candidate).strip() or fallback_title
            body = lines[first + 1 :]

    dropped: list[str] = []
    blocks: list[tuple[int, int]] = []  # paragraph spans in the source
    cur: list[int] | None = None
    for line, s, e in body:
        stripped = line.strip()
        if not stripped:
            cur = _close(blocks, cur)
            continue
        if chrome_kind(stripped):
            dropped.append(stripped)
            cur = _close(blocks, cur)
            continue
        if cur is not None and _PARAGRAPH_START.match(line):
            cur = _close(blocks, cur)
        if cur is None:
            cur = [s, e]
        else:
            cur[1] = e
    _close(blocks, cur)

    passages: list[Passage] = []
    section: str | None = None
    seen: dict[str, int] = {}
    for s, e in blocks:
        s, e = _trim(text, s, e)
        m = _HEADING.match(text, s)
        if m:
            section = " ".join(m.group(1).split())
            s, e = _trim(text, m.end(), e)
            if s >= e:
                continue  # a heading alone on its line: the next paragraphs belong to it
        body_text = text[s:e]
        digest = hashlib.sha1(f"{section}\n{body_text}".encode()).hexdigest()[:10]
        n = seen.get(digest, 0)
        seen[digest] = n + 1
        pid = f"{doc_id}#{digest}" + (f"-{n}" if n else "")
        passages.append(Passage(pid, doc_id, title, section, len(passages) + 1, s, e, body_text))
    return title, passages, dropped


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


def read_text(path: Path) -> str:
    """Read a report file as UTF-8 text; raise ValueError with a plain reason if it is not text."""
    data = path.read_bytes()
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    if not data.strip():
        raise ValueError("empty file")
    if b"\x00" in data[:8192]:
        raise ValueError("binary file (contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"not valid UTF-8 (byte {e.start})") from None
    return text


def load_document(path: Path, root: Path) -> Document:
    rel = path.relative_to(root).as_posix()
    text = read_text(path)
    doc_id = slugify(str(Path(rel).with_suffix("")))
    title, passages, dropped = parse_report(text, doc_id, fallback_title=path.stem)
    if not passages:
        raise ValueError("no paragraphs of text")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
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
    """Read every report under `root`; files that cannot be read are skipped with a reason."""
    docs: list[Document] = []
    skipped: list[Skipped] = []
    for path in report_files(root):
        rel = path.relative_to(root).as_posix()
        try:
            docs.append(load_document(path, root))
        except (ValueError, OSError) as e:
            log.warning("skipped %s: %s", rel, e)
            skipped.append(Skipped(rel, str(e)))
    if not docs:
        raise CorpusEmpty(f"no readable report (.txt, .md) in {root}" + (f"; skipped {len(skipped)}" if skipped else ""))
    return Corpus(tuple(docs), tuple(skipped))

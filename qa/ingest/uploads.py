"""Uploaded reports: validate them and write them into the corpus folder, never anywhere else.

A file is accepted when its name is safe (directories stripped; `..`, absolute paths, NUL and other
control characters, and hidden names refused), its extension is a report type, its size is within
`MAX_UPLOAD_BYTES`, its bytes really are that type (`qa.ingest.formats.sniff`: magic bytes for PDF/DOCX, no
binary in text) and it parses into at least one paragraph (`qa.ingest.corpus.load_document`). It is written
to a hidden temporary file inside the corpus, checked there, then published with `os.link`, which
never replaces an existing file: a taken name gets a suffix (`report-2.pdf`).
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path

from qa.errors import QAError
from qa.ingest.corpus import load_document, report_files
from qa.ingest.formats import sniff

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
UPLOAD_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf", ".docx")
MAX_NAME_CHARS = 150
_DRIVE = re.compile(r"^[A-Za-z]:")
_SEPARATORS = re.compile(r"[\\/]")


class UploadRejected(QAError):
    """An uploaded file that is not accepted; the message names the file and says why."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"{name}: {reason}")
        self.name, self.reason = name, reason


@dataclass(frozen=True)
class Saved:
    name: str  # as uploaded
    path: Path  # where it now is, inside the corpus folder
    duplicate_of: str | None = None  # set when identical bytes were already in the corpus (nothing written)


def safe_name(name: str) -> str:
    """The file name to store an upload under, or UploadRejected. Directories are stripped."""
    shown = repr(name)[1:-1][:80] if isinstance(name, str) else "(no name)"
    if not isinstance(name, str) or not name.strip():
        raise UploadRejected(shown, "the file has no name")
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise UploadRejected(shown, "the file name contains control characters (such as NUL)")
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise UploadRejected(shown, "the file name is an absolute path")
    parts = _SEPARATORS.split(name)
    if ".." in parts:
        raise UploadRejected(shown, "the file name points outside the folder ('..')")
    base = unicodedata.normalize("NFC", parts[-1]).strip()
    if not base or base in (".", ".."):
        raise UploadRejected(shown, "the file name is empty")
    if base.startswith("."):
        raise UploadRejected(shown, "hidden file names (starting with '.') are not accepted")
    if len(base) > MAX_NAME_CHARS:
        raise UploadRejected(shown, f"the file name is longer than {MAX_NAME_CHARS} characters")
    suffix = Path(base).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise UploadRejected(base, f"type {suffix or '(none)'} is not accepted; upload "
                                   f"{', '.join(UPLOAD_SUFFIXES)}")
    return base


def check_upload(src: Path, name: str, *, max_bytes: int = MAX_UPLOAD_BYTES) -> tuple[str, bytes]:
    """(safe name, bytes) of an upload whose name, size and real type are acceptable; else UploadRejected."""
    base = safe_name(name)
    try:
        size = os.path.getsize(src)
    except OSError as e:
        raise UploadRejected(base, f"cannot be read ({e.strerror or e.__class__.__name__})") from None
    if size == 0:
        raise UploadRejected(base, "the file is empty")
    if size > max_bytes:
        raise UploadRejected(base, f"the file is {size / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.0f} MB")
    data = Path(src).read_bytes()
    try:
        sniff(Path(base).suffix, data)
    except ValueError as e:
        raise UploadRejected(base, f"{e}") from None
    return base, data


def _free_target(corpus: Path, base: str, n: int) -> Path:
    stem, suffix = Path(base).stem, Path(base).suffix
    return corpus / (base if n == 1 else f"{stem}-{n}{suffix}")


def save_upload(src: Path, name: str, corpus: Path, *, max_bytes: int = MAX_UPLOAD_BYTES) -> Saved:
    """Validate an upload, check it parses, and publish it into `corpus` without overwriting anything."""
    base, data = check_upload(src, name, max_bytes=max_bytes)
    corpus = Path(corpus).resolve()
    digest = hashlib.sha256(data).hexdigest()
    for existing in report_files(corpus):
        if existing.stat().st_size == len(data) and hashlib.sha256(existing.read_bytes()).hexdigest() == digest:
            return Saved(name, existing, duplicate_of=existing.relative_to(corpus).as_posix())
    tmp = corpus / f".upload-{uuid.uuid4().hex}{Path(base).suffix.lower()}"
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            load_document(tmp, corpus)
        except (ValueError, OSError) as e:
            raise UploadRejected(base, f"cannot be read as a report ({e})") from None
        for n in range(1, 1000):
            target = _free_target(corpus, base, n)
            if target.resolve().parent != corpus:  # belt and braces: the name has no separators
                raise UploadRejected(base, "the file would be written outside the reports folder")
            try:
                os.link(tmp, target)  # atomic, and fails instead of replacing an existing file
            except FileExistsError:
                continue
            return Saved(name, target)
        raise UploadRejected(base, "too many files with this name already")
    finally:
        tmp.unlink(missing_ok=True)

"""User judgments: one click under an answer appends a labelled question to a JSON-lines file.

Each line has the shape of an evaluation question (`question`, `history`, `relevant` passage ids,
`answer`, `answerable`) with `"type": "user"`, so the evaluation can read what users marked.
The file must lie inside an allowed folder (the project by default): a mistyped or hostile
`--judgments` path is refused instead of writing anywhere on the machine.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from qa.paths import ROOT

PROJECT_ROOT = ROOT
DEFAULT_JUDGMENTS = Path("corpus") / "user-questions.jsonl"


class JudgmentPathRefused(ValueError):
    """The judgments file would lie outside the allowed folders."""


def check_path(path: Path, allowed_roots: Sequence[Path] | None = None) -> Path:
    """The resolved path, if it lies inside one of `allowed_roots` (default: the project folder)."""
    roots = [Path(r).resolve() for r in (allowed_roots or [PROJECT_ROOT])]
    resolved = Path(path).resolve()  # follows symlinks, so a link cannot point outside
    if not any(resolved == r or resolved.is_relative_to(r) for r in roots):
        raise JudgmentPathRefused(
            f"judgments file {str(path)!r} is outside the allowed folders ({', '.join(map(str, roots))})")
    if resolved.exists() and not resolved.is_file():
        raise JudgmentPathRefused(f"judgments path {str(path)!r} is not a file")
    return resolved


def _same(record: dict, line: str) -> bool:
    try:
        old = json.loads(line)
    except ValueError:
        return False
    keys = ("question", "history", "relevant", "answerable")
    return isinstance(old, dict) and all(old.get(k) == record[k] for k in keys)


def append_judgment(path: Path, *, question: str, history: list[str], relevant: list[str],
                    answerable: bool, answer: str | None,
                    allowed_roots: Sequence[Path] | None = None) -> tuple[dict, bool]:
    """Append one judgment as a JSON line; (the record, True) — or (the record already there, False) when
    the same question, history and choice was saved before (a double click). Safe against concurrent
    writers: the check and the write happen under one lock."""
    target = check_path(path, allowed_roots)
    now = datetime.now(timezone.utc)
    digest = hashlib.sha256(json.dumps([question, history, relevant, now.isoformat()],
                                       ensure_ascii=False).encode()).hexdigest()[:8]
    record = {
        "id": f"user-{now.strftime('%Y%m%dT%H%M%S%fZ')}-{digest}",
        "question": question,
        "history": list(history),
        "relevant": list(relevant),
        "answer": answer or "",
        "answerable": bool(answerable),
        "type": "user",
    }
    from qa.eval.questions import parse_question

    parse_question(record)  # the checks a question file gets on load (ValueError, said on the page): one format
    target.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, ensure_ascii=False) + "\n"
    with open(target, "a+", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # one whole line per writer, even with several app workers
        try:
            f.seek(0)
            for old in f:
                if _same(record, old):
                    return json.loads(old), False
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
    return record, True

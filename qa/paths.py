"""Where the project keeps things, in one place: the project folder and the cache folder.

The cache holds what is derived and can be made again: the ONNX exports of the embedding models
(`onnx/`), the joined reader model (`reader/`), BEIR indexes (`beir/`) and benchmark scratch folders
(`bench-*`). It is `.cache/` in the project, or `$QA_CACHE` when set (a test session points it at a
temporary folder, so the tests never write into the checkout's own cache).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the folder holding the `qa` package, app.py and corpus/


def cache_dir(*parts: str) -> Path:
    """`$QA_CACHE` (read at each call), else `.cache/` in the project; with `parts`, a folder under it."""
    return Path(os.environ.get("QA_CACHE") or ROOT / ".cache").joinpath(*parts)


def write_then_rename(out: Path, write) -> None:
    """`write(tmp)` into a temporary file beside `out`, then rename it into place: a killed or failed
    write never leaves half a file under the real name."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=out.suffix, dir=out.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

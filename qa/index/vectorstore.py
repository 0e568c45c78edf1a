"""Vector store: the one small interface behind which FAISS lives.

Vectors are L2-normalised float32, so inner product = cosine (normalised once, in `qa.index.embed`).
Row *i* of the vectors given to `build` is id *i* in every result of `search` (the positional contract
of `qa.index.build`). The index type follows the corpus size (`choose_index`):

- up to `EXACT_MAX` vectors: `IndexFlatIP`, exact search (see `EXACT_MAX`);
- beyond: `IndexIVFFlat` with inner product, `nlist ≈ 2·√n` lists (a power of two) and `nprobe` chosen
  by `python -m qa bench --scale` for recall@10 ≥ 0.95 against exact search on clustered vectors.

`load(path, mmap=True)` maps the file instead of reading it: the inverted lists of an IVF index become
`OnDiskInvertedLists` over the file (`IO_FLAG_MMAP`), the codes of a flat or HNSW index are used in place
(`IO_FLAG_MMAP_IFC`); a type FAISS cannot map is read in full, with a log line.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

EXACT_MAX = 50_000  # beyond this, exact single-query search costs more than ~20 ms on 2 cores (measured)
TRAIN_PER_LIST = 40  # k-means training points per IVF list (FAISS warns below 39)
NPROBE_SHARE = 1 / 64  # lists probed: measured recall@10 ≥ 0.95 at 10^6 clustered vectors


@dataclass(frozen=True)
class IndexSpec:
    """What to build: `kind` is "flat" (exact), "ivf" or "hnsw"; the other fields tune the approximate kinds."""

    kind: str
    dim: int
    nlist: int = 0  # ivf: number of inverted lists
    nprobe: int = 0  # ivf: lists searched per query
    codec: str = "Flat"  # ivf: "Flat" (float32) or "SQ8" (8-bit scalar quantiser, 4× smaller)
    m: int = 0  # hnsw: links per node
    ef_search: int = 0  # hnsw: candidate list size at search time

    @property
    def exact(self) -> bool:
        return self.kind == "flat"

    def describe(self) -> str:
        if self.kind == "flat":
            return "Flat (exact)"
        if self.kind == "ivf":
            return f"IVF{self.nlist},{self.codec} nprobe={self.nprobe}"
        return f"HNSW{self.m} efSearch={self.ef_search}"

    def factory(self) -> str:
        return {"flat": "Flat", "ivf": f"IVF{self.nlist},{self.codec}", "hnsw": f"HNSW{self.m},Flat"}[self.kind]


def choose_index(n: int, dim: int, *, exact_max: int | None = None) -> IndexSpec:
    """The index for `n` vectors of `dim` dimensions: exact while it is fast enough, IVF beyond."""
    if n <= (EXACT_MAX if exact_max is None else exact_max):
        return IndexSpec("flat", dim)
    nlist = 2 ** max(6, round(math.log2(2 * math.sqrt(n))))  # 10^5 → 512, 10^6 → 2048
    return IndexSpec("ivf", dim, nlist=nlist, nprobe=max(8, int(nlist * NPROBE_SHARE)))


def _faiss():
    import faiss

    return faiss


def build(vectors: np.ndarray, spec: IndexSpec, *, seed: int = 1234):
    """A FAISS index holding `vectors` (row i = id i), trained on a sample of them if the kind needs it."""
    faiss = _faiss()
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != spec.dim:
        raise ValueError(f"vectors have shape {x.shape}, expected (n, {spec.dim})")
    index = faiss.index_factory(spec.dim, spec.factory(), faiss.METRIC_INNER_PRODUCT)
    if spec.kind == "ivf":
        if len(x) < spec.nlist:
            raise ValueError(f"{len(x)} vectors cannot train {spec.nlist} IVF lists")
        n_train = min(len(x), spec.nlist * TRAIN_PER_LIST)
        sample = x if n_train == len(x) else x[np.sort(np.random.default_rng(seed).choice(len(x), n_train, replace=False))]
        index.train(sample)
    _tune(index, spec)
    for start in range(0, len(x), 100_000):  # bounded temporary memory while adding
        index.add(x[start:start + 100_000])
    return index


def _tune(index, spec: IndexSpec) -> None:
    """Search-time parameters; FAISS stores nprobe and efSearch in the file, so they survive save/load."""
    faiss = _faiss()
    if spec.kind == "ivf":
        faiss.extract_index_ivf(index).nprobe = spec.nprobe
    elif spec.kind == "hnsw":
        faiss.downcast_index(index).hnsw.efSearch = spec.ef_search


def save(index, path: Path) -> None:
    _faiss().write_index(index, str(path))


def load(path: Path, *, mmap: bool = True):
    """Read an index; with `mmap`, map its vectors from the file where FAISS allows, else read it all.

    RuntimeError if the file is truncated or not a FAISS index (qa/index/folder.py makes that IndexUnusable).
    """
    faiss = _faiss()
    if not mmap:
        return faiss.read_index(str(path))
    with open(path, "rb") as f:
        ivf = f.read(2) == b"Iw"  # the FAISS fourcc of every IndexIVF* type ("IwFl", "IwSq", "IwPQ", …)
    flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if ivf else faiss.IO_FLAG_MMAP_IFC
    try:
        return faiss.read_index(str(path), flags)
    except RuntimeError as e:
        log.info("%s cannot be memory-mapped (%s); reading it in full", path, str(e)[:100])
        return faiss.read_index(str(path))


def is_mapped(index) -> bool:
    """True when the index's inverted lists live in a mapped file (IVF read with IO_FLAG_MMAP)."""
    faiss = _faiss()
    try:
        ivf = faiss.extract_index_ivf(index)
    except RuntimeError:
        return False
    return isinstance(faiss.downcast_InvertedLists(ivf.invlists), faiss.OnDiskInvertedLists)


def search(index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores, ids), each (len(queries), k), best first; id -1 (score -inf) pads when fewer than k exist."""
    faiss = _faiss()
    q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
    k = max(1, int(k))
    if index.ntotal == 0:
        return np.full((len(q), k), -np.inf, np.float32), np.full((len(q), k), -1, np.int64)
    # One query runs on one OpenMP thread: Flat and IVF split work by query, and handing a single query
    # to a team costs more than it saves on a busy machine (10^4 Flat: 0.75 ms on 1 thread, 43 ms on 2
    # under load). The setting is per calling thread (OpenMP ICV), so concurrent requests do not race.
    threads = faiss.omp_get_max_threads()
    if len(q) == 1:
        faiss.omp_set_num_threads(1)
    try:
        scores, ids = index.search(q, min(k, index.ntotal))
    finally:
        faiss.omp_set_num_threads(threads)
    if scores.shape[1] < k:
        pad = k - scores.shape[1]
        scores = np.hstack([scores, np.full((len(q), pad), -np.inf, np.float32)])
        ids = np.hstack([ids, np.full((len(q), pad), -1, np.int64)])
    scores[ids < 0] = -np.inf
    return scores, ids


def vectors_view(index) -> np.ndarray | None:
    """Row-ordered float32 vectors of a flat index without a copy (mapped if the index is); None for others."""
    faiss = _faiss()
    flat = faiss.downcast_index(index)
    if not isinstance(flat, faiss.IndexFlat) or flat.ntotal == 0:
        return None
    return faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * flat.d).reshape(flat.ntotal, flat.d)


def exact_search(vectors: np.ndarray, queries: np.ndarray, k: int, *, batch: int = 200_000) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by inner product over `vectors` in row batches (ground truth for recall at any size)."""
    faiss = _faiss()
    q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
    best_s = np.full((len(q), k), -np.inf, np.float32)
    best_i = np.full((len(q), k), -1, np.int64)
    for start in range(0, len(vectors), batch):
        part = faiss.IndexFlatIP(q.shape[1])
        part.add(np.ascontiguousarray(vectors[start:start + batch], dtype=np.float32))
        s, i = part.search(q, min(k, part.ntotal))
        s_all = np.hstack([best_s, s])
        i_all = np.hstack([best_i, np.where(i >= 0, i + start, -1)])
        order = np.argsort(-s_all, axis=1, kind="stable")[:, :k]
        best_s = np.take_along_axis(s_all, order, 1)
        best_i = np.take_along_axis(i_all, order, 1)
    return best_s, best_i


def recall_at_k(found: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    """Mean share of the exact top-k ids that the approximate top-k also returns."""
    hits = [len(set(f[:k].tolist()) & set(t[:k].tolist()) - {-1}) / max(1, int((t[:k] >= 0).sum()))
            for f, t in zip(found, truth)]
    return float(np.mean(hits)) if hits else 1.0

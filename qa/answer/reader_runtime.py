"""The reader's model runtimes and their loading: Qwen2.5-Coder-0.5B-Instruct through llama.cpp (the
default: the GGUF read directly) or transformers (torch), and `ReaderSlot`, the reader being loaded in
the background while answers go on without it. What is read and how a reading is used: qa/answer/reader.py.
"""

from __future__ import annotations

import copy
import logging
import re
import threading
import time
from pathlib import Path

from qa.answer.reader import NOT_FOUND, Reader, ReaderSettings, Reading, prompt_prefix, read, trim_span
from qa.types import Hit

log = logging.getLogger(__name__)

_WORD = re.compile(r"[A-Za-z0-9]+|[\u3400-\u9fff]|[^\sA-Za-z0-9\u3400-\u9fff]")


class QwenReader:
    """Qwen2.5-Coder-0.5B-Instruct through transformers (torch, fp32 on CPU: this machine has no bf16
    instructions, and bf16 ran 2-3x slower than fp32 here). The system prompt's KV cache is computed
    once and reused, so each passage costs only its own tokens and the question's."""

    name = "qwen2.5-coder-0.5b-instruct"

    def __init__(self, folder: Path, *, threads: int = 2, dtype: str = "float32", max_starts: int = 3,
                 max_span_tokens: int = 24):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(threads)
        self.torch = torch
        self.tok = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype)).eval()
        self.not_id = self.tok(NOT_FOUND, add_special_tokens=False).input_ids[0]
        self.end_id = self.tok.convert_tokens_to_ids("<|im_end|>")
        self.max_starts = max_starts
        self.max_span_tokens = max_span_tokens
        self._prefix_ids = self._ids(prompt_prefix())
        with torch.inference_mode():
            self._prefix_cache = self.model(input_ids=torch.tensor([self._prefix_ids]), use_cache=True).cache
        self._last: tuple[tuple[str, str], object] | None = None

    def _ids(self, text: str) -> list[int]:
        return self.tok(text, add_special_tokens=False).input_ids

    def prompt(self, question: str, context: str) -> str:
        """The chat prompt (the model's own chat template, written out so its prefix can be cached)."""
        return f"{prompt_prefix()} {context}\n\nQuestion: {question}<|im_end|>\n<|im_start|>assistant\n"

    def _first(self, question: str, context: str):
        """One forward pass over the prompt after the cached prefix: (log-probs of the first answer
        token, the KV cache, prompt length). The last one is kept for `span`."""
        key = (question, context)
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        torch = self.torch
        rest = self._ids(f" {context}\n\nQuestion: {question}<|im_end|>\n<|im_start|>assistant\n")
        cache = copy.deepcopy(self._prefix_cache)
        with torch.inference_mode():
            out = self.model(input_ids=torch.tensor([rest]), cache=cache, use_cache=True,
                             logits_to_keep=1)
        result = (torch.log_softmax(out.logits[0, -1].float(), -1), out.cache,
                  len(self._prefix_ids) + len(rest))
        self._last = (key, result)
        return result

    def verdicts(self, question: str, contexts: list[str]) -> list[float]:
        return [1.0 - float(self._first(question, c)[0][self.not_id].exp()) for c in contexts]

    def span(self, question: str, context: str) -> tuple[int, int] | None:
        """The likeliest answer that is a slice of `context`: the likeliest start words by the first
        answer token, then every end within `max_span_tokens`, scored by the full sequence log-prob
        including the end-of-answer token."""
        torch = self.torch
        first, cache, n_prompt = self._first(question, context)
        firsts = {}
        for s in _word_starts(context):
            t = self._ids(context[s:s + 24])
            if t:
                firsts[s] = t[0]
        if not firsts:
            return None
        ranked = sorted(firsts, key=lambda s: (-float(first[firsts[s]]), s))[: self.max_starts]
        conts = []
        for s in ranked:
            enc = self.tok(context[s:], add_special_tokens=False, return_offsets_mapping=True)
            conts.append((s, enc.input_ids[: self.max_span_tokens], enc.offset_mapping[: self.max_span_tokens]))
        width = max(len(c[1]) for c in conts)
        batch = torch.full((len(conts), width), self.end_id, dtype=torch.long)
        for b, (_, toks, _) in enumerate(conts):
            batch[b, : len(toks)] = torch.tensor(toks)
        cache = copy.deepcopy(cache)
        cache.batch_repeat_interleave(len(conts))
        mask = torch.ones((len(conts), n_prompt + width), dtype=torch.long)
        with torch.inference_mode():
            logits = self.model(input_ids=batch, cache=cache, attention_mask=mask).logits
        lp = torch.log_softmax(logits.float(), -1)
        return _best_span(context, conts, lambda t: float(first[t]), lambda b, j, t: float(lp[b, j, t]), self.end_id)


class LlamaCppReader:
    """The same model and prompt through llama.cpp (llama-cpp-python), reading the Q4_K_M GGUF file
    directly: no conversion, loads in under a second, and its 4-bit kernels run several times faster
    than torch fp32 on this CPU (docs/reader.md). The system prompt's KV cache is kept and each prompt
    is evaluated after it; span candidates are evaluated one after the other from the prompt's end."""

    name = "qwen2.5-coder-0.5b-instruct (llama.cpp Q4_K_M)"

    def __init__(self, gguf: Path, *, threads: int = 2, n_ctx: int = 2048, max_starts: int = 2,
                 max_span_tokens: int = 20):
        import numpy as np
        from llama_cpp import Llama

        self.np = np
        self.llm = Llama(model_path=str(gguf), n_ctx=n_ctx, n_batch=n_ctx, n_ubatch=512, n_threads=threads,
                         n_threads_batch=threads, logits_all=True, verbose=False)
        self.not_id = self._ids(NOT_FOUND)[0]
        self.end_id = self._ids("<|im_end|>")[0]
        self.max_starts = max_starts
        self.max_span_tokens = max_span_tokens
        self._prefix = self._ids(prompt_prefix())
        self._eval(0, self._prefix, all_logits=False)
        self._last: tuple[tuple[str, str], tuple] | None = None

    def _ids(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def _eval(self, n_past: int, tokens: list[int], *, all_logits: bool):
        """Evaluate `tokens` after the first `n_past` cached ones; log-probs of the next token after
        each of them (all_logits) or after the last only."""
        llm = self.llm
        llm.n_tokens = n_past  # eval() drops the cache beyond this point first
        llm._logits_all = all_logits  # logits for every token only where they are needed (152k-word vocabulary)
        llm.eval(tokens)
        if all_logits:
            rows = llm.scores[n_past:n_past + len(tokens)].astype(self.np.float64)
        else:
            rows = self.np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(1, llm.n_vocab())).astype(self.np.float64)
        rows -= rows.max(axis=1, keepdims=True)
        return rows - self.np.log(self.np.exp(rows).sum(axis=1, keepdims=True))

    def _first(self, question: str, context: str):
        """Log-probs of the answer's first token, and the prompt's length. The passage comes before the
        question, so a question on the passage just read reuses its KV cache (a follow-up, or the eval
        asking questions grouped by passage) and pays only for the question."""
        key = (question, context)
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        full = (self._prefix + self._ids(f" {context}\n\n")
                + self._ids(f"Question: {question}<|im_end|>\n<|im_start|>assistant\n"))
        cached = self.llm.input_ids[: self.llm.n_tokens].tolist()
        same = next((i for i, (a, b) in enumerate(zip(cached, full)) if a != b), min(len(cached), len(full)))
        n_past = max(len(self._prefix), min(same, len(full) - 1))
        first = self._eval(n_past, full[n_past:], all_logits=False)[0]
        result = (first, len(full))
        self._last = (key, result)
        return result

    def verdicts(self, question: str, contexts: list[str]) -> list[float]:
        return [1.0 - float(self.np.exp(self._first(question, c)[0][self.not_id])) for c in contexts]

    def _offsets(self, tokens: list[int]) -> list[tuple[int, int]]:
        """Character offsets of each token in the text they spell (bytes decoded as they complete)."""
        out, raw, prev = [], b"", 0
        for t in tokens:
            raw += self.llm.detokenize([t])
            n = len(raw.decode("utf-8", errors="ignore"))
            out.append((prev, n))
            prev = n
        return out

    def span(self, question: str, context: str) -> tuple[int, int] | None:
        first, n_prompt = self._first(question, context)
        firsts = {s: t[0] for s in _word_starts(context) if (t := self._ids(context[s:s + 24]))}
        if not firsts:
            return None
        ranked = sorted(firsts, key=lambda s: (-float(first[firsts[s]]), s))[: self.max_starts]
        conts, rows = [], []
        for s in ranked:
            toks = self._ids(context[s:])[: self.max_span_tokens]
            conts.append((s, toks, self._offsets(toks)))
            rows.append(self._eval(n_prompt, toks, all_logits=True))
        return _best_span(context, conts, lambda t: float(first[t]), lambda b, j, t: float(rows[b][j, t]),
                          self.end_id)


def _best_span(context: str, conts, first_lp, rows_lp, end_id: int) -> tuple[int, int] | None:
    """Over candidate starts `conts` [(start, tokens, offsets)], with `first_lp(token)` the log-prob of
    the answer's first token and `rows_lp(b, j, token)` that of `token` after the first j + 1 tokens of
    candidate b: the (start, end) at word boundaries whose whole answer, end-of-answer included, is
    likeliest."""
    best, best_score = None, -float("inf")
    for b, (s, toks, offs) in enumerate(conts):
        total = first_lp(toks[0])
        for j in range(len(toks)):
            if j > 0:
                total += rows_lp(b, j - 1, toks[j])
            end = s + offs[j][1]
            if end < len(context) and context[end].isalnum() and context[end - 1].isalnum():
                continue  # not a word boundary
            score = total + rows_lp(b, j, end_id)
            if score > best_score:
                best, best_score = (s, end), score
    if best is None:
        return None
    s, e = trim_span(context, *best)
    return (s, e) if e > s else None


def _word_starts(text: str) -> list[int]:
    """Offsets where a word (or a CJK character, a number, an opening quote) starts."""
    out = []
    for m in _WORD.finditer(text):
        ch = m.group(0)
        if ch[0].isalnum() or ch in "“\"‘'($¥":
            out.append(m.start())
    return out


RUNTIMES = ("llama.cpp", "torch")


def load_reader(folder: Path | None = None, runtime: str | None = None) -> Reader:
    """Prepare (first time: join and check the six parts) and load the packaged reader model.
    `runtime`: "llama.cpp" (default; reads the GGUF directly) or "torch" (the bf16 conversion, fp32 at
    run time; kept to compare in `qa bench`). `QA_READER_RUNTIME` sets the default."""
    import os

    from qa.answer.reader_model import gguf_path, hf_folder
    from qa.errors import ReaderUnavailable

    runtime = runtime or os.environ.get("QA_READER_RUNTIME") or RUNTIMES[0]
    t0 = time.perf_counter()
    if runtime == "torch":
        reader: Reader = QwenReader(hf_folder(folder))
    elif runtime == "llama.cpp":
        try:
            import llama_cpp  # noqa: F401
        except ImportError as e:
            raise ReaderUnavailable(f"llama-cpp-python is not installed ({e}); `make setup` builds it") from e
        reader = LlamaCppReader(gguf_path(folder))
    else:
        raise ReaderUnavailable(f"unknown reader runtime {runtime!r}; choose {' or '.join(RUNTIMES)}")
    log.info("reader (%s) loaded in %.1f s", runtime, time.perf_counter() - t0)
    return reader


class ReaderSlot:
    """The reader once it is loaded. The app starts loading it in the background and answers without it
    meanwhile (`state` says "loading"); the CLI loads it at once. A missing model or a checksum mismatch
    leaves `state` = "unavailable: <why>" and answers go on without the reader. Reads are serialised:
    one model, one lock."""

    def __init__(self, loader=None, reader: Reader | None = None, settings: ReaderSettings | None = None):
        self._loader = loader or load_reader
        self._reader = reader
        self.settings = settings or ReaderSettings()
        self.state = "on" if reader is not None else "loading"
        self.seconds: float | None = None
        self._lock = threading.Lock()
        self._done = threading.Event()
        if reader is not None:
            self._done.set()

    def load(self) -> ReaderSlot:
        from qa.errors import QAError

        t0 = time.perf_counter()
        try:
            self._reader = self._loader()
            self.state = "on"
        except (QAError, OSError, RuntimeError, ValueError, ImportError) as e:
            self.state = f"unavailable: {e}"
            log.warning("reader off: %s", e)
        finally:
            self.seconds = time.perf_counter() - t0
            self._done.set()
        return self

    def start(self) -> ReaderSlot:
        threading.Thread(target=self.load, name="reader-load", daemon=True).start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def read(self, question: str, hits: list[Hit]) -> list[Reading | None] | None:
        """Readings of the top hits, or None while the reader is not (yet) there."""
        if self._reader is None:
            return None
        st = self.settings
        with self._lock:
            return read(self._reader, question, hits, top=st.top, cutoff=st.cutoff, neighbours=st.neighbours,
                        whole=st.whole)

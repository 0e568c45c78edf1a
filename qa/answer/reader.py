"""Read: does a retrieved passage *answer* the question, and which of its words do? (the reader stage)

Retrieval finds passages *about* a question; the reader reads the question with each of the top
passages and returns a `Reading`: a score for "this passage answers it" and the answer span, the
shortest words of the passage that answer it — always a verbatim slice of the passage, by offsets.

A `Reader` is anything with `verdicts(question, contexts)` and `span(question, context)`:
- `QwenReader`: Qwen2.5-Coder-0.5B-Instruct (bf16, converted once by `qa.answer.reader_model`). The verdict is
  1 − P(first answer token starts "NOT_FOUND") in one forward pass under the prompt below. The span is
  decoded *constrained to the passage*: the model's likeliest start words, then, in one batched pass that
  continues the cached prompt, the likeliest end — so the quote is the model's own answer, restricted to
  words the passage really holds, and never text it made up.
- `FakeReader`: rules for fast unit tests.

What it reads (`context_of`): by default the top passage's highlighted sentence alone (`ReaderSettings`),
which beat the sentence with its neighbours on the tuning half; a Chinese question about an English report
still gets a span quoted from the English passage. Measured in docs/reader.md.
"""

from __future__ import annotations

import copy
import logging
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from qa.ingest.sentences import split_sentences
from qa.types import Hit

log = logging.getLogger(__name__)

SYSTEM = ("Answer strictly from the passage, with the shortest exact words of the passage. If the passage does not "
          "say what the question asks for, reply exactly NOT_FOUND. A passage on the same topic that does not "
          "state the asked fact does not answer.")
NOT_FOUND = "NOT_FOUND"
# Worked examples before the question (made up, not from any report or question set): near misses on the
# passage's own topic answered NOT_FOUND, facts answered with the passage's shortest words. On the tuning
# data (docs/reader.md) they raise the verdict's AUC from 0.72 to 0.84 and cost nothing per question:
# they are part of the prompt prefix, whose KV cache is computed once at load.
EXAMPLES = (
    ("In 2019 the county built 12 new schools and trained 300 rural teachers in modern teaching methods.",
     (("How many teachers were trained?", "300 rural teachers"),
      ("How many hospitals were built?", NOT_FOUND),
      ("What did the training cost?", NOT_FOUND))),
    ("The irrigation project, funded by the provincial government, covered 5,000 hectares of farmland in the "
     "northern valley and raised grain yields by 8 percent.",
     (("Who funded the irrigation project?", "the provincial government"),
      ("How long were the irrigation canals?", NOT_FOUND),
      ("灌溉项目使粮食产量提高了多少？", "8 percent"))),
)


def prompt_prefix(examples=EXAMPLES) -> str:
    """The chat prompt up to the passage: system message, worked examples, and the opening of the user
    turn (the model's own chat template, written out so that this prefix can be cached)."""
    turns = "".join(f"<|im_start|>user\nPassage: {passage}\n\nQuestion: {q}<|im_end|>\n"
                    f"<|im_start|>assistant\n{a}<|im_end|>\n" for passage, qs in examples for q, a in qs)
    return f"<|im_start|>system\n{SYSTEM}<|im_end|>\n{turns}<|im_start|>user\nPassage:"


@dataclass(frozen=True)
class Reading:
    """The reader's view of one passage: `score` in [0, 1] that it answers the question; the answer
    span as offsets into the passage text (None when not found), and how long reading took."""

    score: float
    span_start: int | None = None
    span_end: int | None = None
    ms: float = 0.0


@dataclass(frozen=True)
class ReaderSettings:
    """How the reader is used (chosen on the tuning half; docs/reader.md)."""

    cutoff: float = 0.3  # a passage answers when its reader score is at least this (docs/reader.md)
    sure: float = 0.7  # and is labelled *strong* only from this score up (tuned on the tuning data: docs/reader.md)
    top: int = 1  # how many of the top passages are read (each costs about a second on 2 cores)
    neighbours: int = 0  # sentences either side of the highlighted one shown to the reader
    whole: bool = False  # show the whole paragraph instead


@dataclass(frozen=True)
class Context:
    """The part of a passage the reader is shown: text == passage.text[start:start + len(text)]."""

    text: str
    start: int


class Reader(Protocol):
    name: str

    def verdicts(self, question: str, contexts: list[str]) -> list[float]:
        """For each context, a score in [0, 1] that it answers the question."""
        ...

    def span(self, question: str, context: str) -> tuple[int, int] | None:
        """Character offsets of the shortest answer inside `context`, or None."""
        ...


def context_of(hit: Hit, neighbours: int = 1, whole: bool = False) -> Context:
    """The highlighted sentence with `neighbours` sentences either side (or the whole paragraph)."""
    text = hit.passage.text
    if whole:
        return Context(text, 0)
    sents = split_sentences(text)
    at = next((i for i, s in enumerate(sents) if s.start <= hit.highlight_start < s.end), None)
    if at is None:
        return Context(text, 0)
    lo, hi = max(0, at - neighbours), min(len(sents), at + neighbours + 1)
    s, e = sents[lo].start, sents[hi - 1].end
    return Context(text[s:e], s)


def read(reader: Reader, question: str, hits: list[Hit], *, top: int = 1, cutoff: float = 0.3,
         neighbours: int = 0, whole: bool = False, counted: bool = True) -> list[Reading | None]:
    """Readings for the first `top` hits (None for the rest: not read). A span is looked for only in
    the first hit the reader accepts (score ≥ `cutoff`): that is the passage the answer quotes."""
    out: list[Reading | None] = [None] * len(hits)
    chosen = hits[:top]
    if not chosen:
        return out
    t0 = time.perf_counter()
    contexts = [context_of(h, neighbours, whole) for h in chosen]
    scores = reader.verdicts(question, [c.text for c in contexts])
    ms = (time.perf_counter() - t0) * 1000 / len(chosen)
    for i, s in enumerate(scores):
        out[i] = Reading(float(s), ms=ms)
    best = next((i for i, s in enumerate(scores) if s >= cutoff), None)
    if best is not None:
        t1 = time.perf_counter()
        found = reader.span(question, contexts[best].text)
        if found is not None and _inside(found, contexts[best].text):
            s, e = with_what_it_counts(contexts[best].text, *found) if counted else found
            base = contexts[best].start
            out[best] = Reading(float(scores[best]), base + s, base + e,
                                ms=ms + (time.perf_counter() - t1) * 1000)
    return out


_NUMBER_ONLY = re.compile(r"^(?:[$¥€£]?\d[\d,.]*(?:st|nd|rd|th|%)?|one|two|three|four|five|six|seven|eight|nine|ten|"
                          r"eleven|twelve|twenty|thirty|forty|fifty|hundred|thousand|million|billion|\s)+$", re.I)
_COUNTED_STOP = frozenset("""from to in of for with by at on which that who whom were was are is had have has been as into
per but than while when where after before during under over between across among through each""".split())


def with_what_it_counts(text: str, start: int, end: int, max_words: int = 7) -> tuple[int, int]:
    """A bare number ("64") is quoted with the words it counts ("64 university students"), up to the
    next preposition, verb of being or punctuation: the model often stops right after the figure."""
    if not _NUMBER_ONLY.match(text[start:end]):
        return start, end
    pos, words, good = end, 0, end
    for m in re.finditer(r"[ \t]+([A-Za-z][\w’'-]*)", text[end:]):
        if m.start() != pos - end or words >= max_words or m.group(1).lower() in _COUNTED_STOP:
            break
        pos, words = end + m.end(), words + 1
        if m.group(1).lower() not in ("and", "or"):
            good = pos  # never end on a conjunction
    return start, good


def _inside(span, text: str) -> bool:
    """A span is quoted only if it is a non-empty slice of the text the reader was shown."""
    try:
        s, e = (int(x) for x in span)
    except (TypeError, ValueError):
        return False
    return 0 <= s < e <= len(text) and bool(text[s:e].strip())


def trim_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Drop surrounding spaces and trailing punctuation ("3500 Yuan." → "3500 Yuan")."""
    while start < end and not text[start].isalnum() and text[start] not in "“\"'(‘$¥€£":
        start += 1
    while end > start and (text[end - 1].isspace() or text[end - 1] in ".,;:。，；：、!?！？"):
        end -= 1
    return start, end


_WORD = re.compile(r"[A-Za-z0-9]+|[\u3400-\u9fff]|[^\sA-Za-z0-9\u3400-\u9fff]")


class FakeReader:
    """A rule reader for unit tests: a context answers when it holds every content word of the
    question longer than three letters; the span is the first number in it, else its first word."""

    name = "fake"

    QUESTION_WORDS = frozenset("what which where when many much does were with from that this have their "
                               "there they about".split())

    def __init__(self, stop: frozenset[str] = QUESTION_WORDS):
        self.stop = stop

    def _words(self, question: str) -> list[str]:
        return [w.lower() for w in re.findall(r"[A-Za-z]{4,}", question) if w.lower() not in self.stop]

    def verdicts(self, question: str, contexts: list[str]) -> list[float]:
        words = self._words(question)
        return [1.0 if words and all(w in c.lower() for w in words) else 0.0 for c in contexts]

    def span(self, question: str, context: str) -> tuple[int, int] | None:
        m = re.search(r"\d[\d,.]*\d|\d", context) or re.search(r"\w+", context)
        return (m.start(), m.end()) if m else None


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

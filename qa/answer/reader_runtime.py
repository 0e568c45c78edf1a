"""The reader's model runtime and its loading: a Qwen2.5-Coder-Instruct GGUF model run by llama.cpp through
xllamacpp (a prebuilt wheel: nothing to compile), and `ReaderSlot`, the reader being loaded in the
background while answers go on without it. What is read and how a reading is used: qa/answer/reader.py.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import secrets
import threading
import time
from pathlib import Path

from qa.answer.reader import NOT_FOUND, Reader, ReaderSettings, Reading, prompt_prefix, read, trim_span
from qa.answer.terms import Term
from qa.errors import ReaderUnavailable
from qa.types import Hit

log = logging.getLogger(__name__)

READ_SLOT, GLOSS_SLOT = 0, 1  # llama.cpp slots: one keeps the reading prompt's prefix, the other the gloss's

# What a grammar-constrained span is made of: words, numbers, single CJK characters, single marks.
_PIECE = re.compile(r"[A-Za-z0-9]+|[\u3400-\u9fff]|[^\sA-Za-z0-9\u3400-\u9fff]")


class LlamaReader:
    """A Qwen2.5-Coder-Instruct GGUF model (Q4_K_M as shipped) run in-process by llama.cpp (xllamacpp).

    - The verdict is 1 − P(the answer's first token starts "NOT_FOUND"), from the first token's top
      log-probabilities in one pass.
    - The span is generated greedily under a GBNF grammar that admits only NOT_FOUND or a verbatim slice
      of the passage (any run of its words), or, when `choices` are given, one of those slices: so the
      quote is the model's own answer and never text it made up.
    - The prompt prefix (system message and worked examples) is evaluated once at load; `cache_prompt`
      reuses the KV cache of the prompt shared with the previous call, so a span after its verdict, or a
      follow-up on the same passage, pays only for what is new.
    - llama.cpp also opens its HTTP API on 127.0.0.1; a random API key closes it to other processes.
    """

    def __init__(self, gguf: Path, *, name: str = "qwen2.5-coder-0.5b-instruct", threads: int = 2,
                 n_ctx: int = 4096, max_span_tokens: int = 32, read: bool = True):
        try:
            import xllamacpp
        except ImportError as e:
            raise ReaderUnavailable(f"the reader's runtime is not installed ({e}); `make setup` installs xllamacpp") from e
        p = xllamacpp.CommonParams()
        p.model.path = str(gguf)
        # two slots of n_ctx each (ReaderSlot serialises the calls): 0 reads, 1 glosses, so that each keeps
        # its own prompt prefix in its KV cache and neither evicts the other's
        p.n_ctx = 2 * n_ctx
        p.n_parallel = 2
        p.cpuparams.n_threads = threads
        p.cpuparams_batch.n_threads = threads
        p.warmup = False
        p.fit_params = False  # llama.cpp's memory-fitting probe: 0.6 s of every load, for a model this small
        p.verbosity = -1
        self._key = secrets.token_hex(16)
        p.api_keys = [self._key]
        self._slot_dir = f"{Path(gguf).parent}/"
        p.slot_save_path = self._slot_dir  # the prefix's KV cache is kept beside the model
        self.name = f"{name} (llama.cpp Q4_K_M)"
        self.max_span_tokens = max_span_tokens
        self.srv = xllamacpp.Server(p)
        self._glossing: str | None = None  # the language whose gloss prefix is in the gloss slot
        if read:
            self._load_prefix()
        else:  # a model that only glosses: both gloss prefixes evaluated (or restored) at load, not at a gloss
            for language in ("en", "zh"):
                self._load_prefix(gloss_prompt("", language, prefix_only=True), GLOSS_SLOT)
            self._glossing = "zh"

    def _load_prefix(self, prefix: str | None = None, slot: int = READ_SLOT) -> None:
        """A prompt prefix's KV cache in its slot: restored from the file saved at the first load (3 ms),
        else evaluated (about 3.5 s for the reading prefix of the 0.5B model on 2 cores) and saved. The
        file is named by a hash of the prefix, so a changed prompt is evaluated anew; any failure falls
        back to evaluating it."""
        prefix = prefix or prompt_prefix()
        name = f"prefix-{hashlib.sha1(prefix.encode()).hexdigest()[:16]}.bin"
        try:
            if (Path(self._slot_dir) / name).is_file():
                done = self._slot("restore", name, slot)
                if done.get("n_restored", 0) > 0:
                    return
        except (OSError, ValueError) as e:
            log.info("reader: prompt cache not restored (%s); evaluating the prompt", e)
        self._complete(prefix, slot=slot, n_predict=1)
        try:
            self._slot("save", name, slot)
        except (OSError, ValueError) as e:
            log.info("reader: prompt cache not saved (%s)", e)

    def _slot(self, action: str, filename: str, slot: int = READ_SLOT) -> dict:
        """llama.cpp's slot save / restore, through its HTTP API on 127.0.0.1 (the only way xllamacpp
        offers), with this process's own API key."""
        import json
        import urllib.request

        addr = self.srv.listening_address
        url = f"{addr if addr.startswith('http') else 'http://' + addr}/slots/{slot}?action={action}"
        req = urllib.request.Request(url, data=json.dumps({"filename": filename}).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {self._key}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def _complete(self, prompt: str, slot: int = READ_SLOT, **extra) -> dict:
        r = self.srv.handle_completions({"prompt": prompt, "temperature": 0, "cache_prompt": True, "id_slot": slot,
                                         **extra})
        if not isinstance(r, dict) or "choices" not in r:
            raise ReaderUnavailable(f"the reader's runtime failed: {str(r)[:200]}")
        return r["choices"][0]

    @staticmethod
    def prompt(question: str, context: str) -> str:
        """The chat prompt: the cached prefix, the passage, then the question (a question on the passage
        just read reuses its KV cache)."""
        return f"{prompt_prefix()} {context}\n\nQuestion: {question}<|im_end|>\n<|im_start|>assistant\n"

    def verdicts(self, question: str, contexts: list[str]) -> list[float]:
        out = []
        for c in contexts:
            choice = self._complete(self.prompt(question, c), n_predict=1, n_probs=20)
            top = choice["logprobs"]["content"][0]["top_logprobs"]
            p_not = sum(math.exp(t["logprob"]) for t in top if _starts_not_found(t["token"]))
            out.append(max(0.0, min(1.0, 1.0 - p_not)))
        return out

    def span(self, question: str, context: str, choices: list[tuple[int, int]] | None = None) -> tuple[int, int] | None:
        """Offsets of the answer inside `context` (one of `choices` when given), or None for NOT_FOUND."""
        grammar = choice_grammar([context[s:e] for s, e in choices]) if choices else slice_grammar(context)
        text = self._complete(self.prompt(question, context), n_predict=self.max_span_tokens, grammar=grammar,
                              stop=["<|im_end|>"])["text"].strip()
        if not text or text == NOT_FOUND:
            return None
        if choices:
            found = next(((s, e) for s, e in choices if context[s:e] == text), None)
        else:
            at = context.find(text)
            found = (at, at + len(text)) if at >= 0 else None
        if found is None:
            return None
        s, e = trim_span(context, *found)
        return (s, e) if e > s else None


    def gloss(self, text: str, language: str, terms: tuple[Term, ...] = ()) -> str | None:
        """`text` translated into `language` ("en" or "zh") by the same model, greedily, in its own slot
        (its prompt prefix cached there, as the reading prefix is in slot 0); `terms` go into the prompt."""
        if self._glossing != language:  # the other language's prefix: restored from its file (3 ms)
            self._load_prefix(gloss_prompt("", language, prefix_only=True), GLOSS_SLOT)
            self._glossing = language
        out = self._complete(gloss_prompt(text, language, terms=terms), slot=GLOSS_SLOT,
                             n_predict=min(160, 8 + 3 * len(text)),
                             stop=["<|im_end|>", "\n"])["text"].strip()
        return out or None


# Few-shot examples from another domain than the reports: the 0.5B model copied the words of report-like
# examples into its glosses ("the poverty line of 3500 Yuan" came back as 人均纯收入3500元的贫困线, the
# example's "per capita net income" added; "trained 1,200 farm workers" gained the example's 新疆在2010年).
# The second example shows a termbase's line (qa/answer/terms.py): its term is used as given.
_GLOSS_EXAMPLES = {
    "zh": (("12 new bridges over the river", "河上的12座新桥"),
           ("Terms: Old Town = 老城区\nthe museum of the Old Town was repaired in 1998", "老城区博物馆于1998年修缮"),
           ("a ticket price of 45 Yuan", "45元的票价")),
    "en": (("河上的12座新桥", "12 new bridges over the river"),
           ("Terms: Old Town = 老城区\n老城区博物馆于1998年修缮", "the museum of the Old Town was repaired in 1998"),
           ("票价为45元", "a ticket price of 45 yuan")),
}


def gloss_prompt(text: str, language: str, prefix_only: bool = False, terms: tuple[Term, ...] = ()) -> str:
    """The chat prompt for a gloss: translate a quote, every figure kept, nothing added (up to the quote
    with `prefix_only`, the part cached in the gloss slot). `terms`: a line before the quote giving the
    report's renderings of the terms it names."""
    name = {"en": "English", "zh": "Chinese"}[language]
    system = (f"You translate short quotes from reports into {name}. Translate faithfully and completely; keep "
              "every number, year and percentage exactly; add nothing; where a Terms line is given, use its "
              "terms. Reply with the translation only.")
    turns = "".join(f"<|im_start|>user\n{src}<|im_end|>\n<|im_start|>assistant\n{dst}<|im_end|>\n"
                    for src, dst in _GLOSS_EXAMPLES[language])
    prefix = f"<|im_start|>system\n{system}<|im_end|>\n{turns}<|im_start|>user\n"
    if prefix_only:
        return prefix
    given = "; ".join(f"{t.en} = {t.zh}" for t in terms)
    return f"{prefix}{f'Terms: {given}' + chr(10) if terms else ''}{text}<|im_end|>\n<|im_start|>assistant\n"


def _starts_not_found(token: str) -> bool:
    t = token.strip()
    return len(t) >= 2 and NOT_FOUND.startswith(t)


def _literal(text: str) -> str:
    """A GBNF string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r") + '"'


def choice_grammar(options: list[str]) -> str:
    """GBNF: exactly one of `options`, or NOT_FOUND."""
    alts = list(dict.fromkeys(o for o in options if o)) + [NOT_FOUND]
    return "root ::= " + " | ".join(_literal(o) for o in alts)


def slice_grammar(context: str) -> str:
    """GBNF admitting NOT_FOUND or any verbatim run of the context's pieces (words, numbers, CJK
    characters, marks) with the context's own spacing: rule s_i is piece i, optionally followed by the
    text up to piece i + 1 and rule s_(i+1). Linear in the context's length."""
    pieces = list(_PIECE.finditer(context))
    if not pieces:
        return choice_grammar([])
    rules = []
    for i, m in enumerate(pieces):
        if i + 1 < len(pieces):
            gap = context[m.end():pieces[i + 1].start()]
            rest = f" ({_literal(gap) + ' ' if gap else ''}s{i + 1})?"
        else:
            rest = ""
        rules.append(f"s{i} ::= {_literal(m.group(0))}{rest}")
    starts = [f"s{i}" for i, m in enumerate(pieces) if m.group(0)[0].isalnum() or m.group(0) in "“\"‘'($¥"]
    return "root ::= " + " | ".join([*starts, _literal(NOT_FOUND)]) + "\n" + "\n".join(rules)


def load_reader(folder: Path | None = None, model: str | None = None, *, read: bool = True) -> Reader:
    """Prepare (first time: join and check the model's parts) and load a packaged reader model: "0.5b"
    (default) or "1.5b" (`QA_READER_MODEL` sets the default). `read=False`: a model that only glosses
    (its reading prompt is not prepared)."""
    from qa.answer.reader_model import gguf_path, spec_of

    spec = spec_of(model)
    t0 = time.perf_counter()
    reader = LlamaReader(gguf_path(folder, spec.name), name=spec.title.lower(), read=read)
    reader.gloss_words = spec.gloss_words
    log.info("%s (%s) loaded in %.1f s", "reader" if read else "gloss model", spec.name, time.perf_counter() - t0)
    return reader


class ReaderSlot:
    """The reader once it is loaded. The app starts loading it in the background and answers without it
    meanwhile (`state` says "loading"); the CLI loads it at once. A missing model or a checksum mismatch
    leaves `state` = "unavailable: <why>" and answers go on without the reader. Reads are serialised:
    one model, one lock."""

    def __init__(self, loader=None, reader: Reader | None = None, settings: ReaderSettings | None = None, *,
                 wait: bool = False, when_loaded=None, gloss_loader=None, glosser: Reader | None = None):
        """`wait`: a read while the model is still loading waits for it (the CLI) instead of answering
        without it (the app); `when_loaded(state)` is called once loading has ended. `gloss_loader` (or a
        loaded `glosser`): another model for the glosses. The app loads it in the background once it has
        answered (`load_glosser`), the CLI at its first gloss; until it is there, and if it cannot load,
        the glosses are the reader model's."""
        self._gloss_loader = gloss_loader
        self._glosser = glosser
        self._gloss_lock = threading.Lock()  # one gloss at a time on the gloss model
        self._gloss_loading = threading.Lock()  # one load of it
        self._gloss_tried = gloss_loader is None
        self._wait = wait
        self._when_loaded = when_loaded
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
        if self._when_loaded is not None:
            self._when_loaded(self.state)
        return self

    def load_glosser(self) -> ReaderSlot:
        """Load the gloss model (once; a second call returns when the first load has ended)."""
        from qa.errors import QAError

        with self._gloss_loading:
            if not self._gloss_tried:
                try:
                    self._glosser = self._gloss_loader()
                except (QAError, OSError, RuntimeError, ValueError, ImportError) as e:
                    log.warning("gloss model off (%s): the reader's model writes the glosses", e)
                finally:
                    self._gloss_tried = True
        return self

    def start(self) -> ReaderSlot:
        threading.Thread(target=self.load, name="reader-load", daemon=True).start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def read(self, question: str, hits: list[Hit]) -> list[Reading | None] | None:
        """Readings of the top hits, or None while the reader is not (yet) there."""
        if self._wait:
            self._done.wait()
        if self._reader is None:
            return None
        st = self.settings
        with self._lock:
            return read(self._reader, question, hits, top=st.top, cutoff=st.cutoff, neighbours=st.neighbours,
                        whole=st.whole)

    def _gloss_model(self) -> tuple[Reader | None, threading.Lock]:
        """The model that writes the glosses and its lock: the gloss model once loaded (the CLI waits for
        it at its first gloss), else the reader's."""
        if self._wait:
            self.load_glosser()
        if self._glosser is not None:
            return self._glosser, self._gloss_lock
        return self._reader, self._lock

    @property
    def gloss_model(self) -> str | None:
        """The name of the model that writes the glosses now (None without one)."""
        return getattr(self._gloss_model()[0], "name", None)

    @property
    def gloss_words(self) -> int | None:
        """The longest span its model glosses (words), None without a limit (or without a model)."""
        return getattr(self._gloss_model()[0], "gloss_words", None)

    def gloss(self, text: str, language: str, terms: tuple[Term, ...] = ()) -> str | None:
        """The gloss model's translation of `text` into `language`, or None while no model is there (or
        a reader without `gloss`)."""
        model, lock = self._gloss_model()
        if model is None or not hasattr(model, "gloss"):
            return None
        with lock:
            return model.gloss(text, language, terms)

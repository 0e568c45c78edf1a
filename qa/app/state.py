"""Opening the service in the background so the app page can show progress instead of a blank wait.

`QAHolder` runs a factory (load or build the index, warm the model) in a thread and reports a status
line and a fraction; the UI polls it with `gr.Progress` and every handler waits for it.
`ProgressEmbedder` wraps an embedder to count the texts embedded during an index build.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np

log = logging.getLogger(__name__)

ProgressFn = Callable[[str, float | None], None]


@dataclass(frozen=True)
class Status:
    message: str
    fraction: float | None  # None while the length of the step is unknown
    ready: bool
    error: str | None = None


class ProgressEmbedder:
    """Delegates to `inner`; a build-time `encode(progress=True)` is split in chunks and reported."""

    def __init__(self, inner, report: ProgressFn, chunk: int = 64, name: str = ""):
        self.inner, self.report, self.chunk = inner, report, chunk
        self.name = f"{name} " if name else ""
        self.model_id = inner.model_id
        self.max_words = inner.max_words

    @property
    def dim(self) -> int:
        return self.inner.dim

    def component_columns(self, model_id: str):
        """The inner embedder's part for one model (e5's second opinion); None if it has none. Without
        this the app ranked without e5's second opinion, unlike `python -m qa` and the evaluation."""
        inner = getattr(self.inner, "component_columns", None)
        return inner(model_id) if inner else None

    def encode(self, texts: list[str], *, query: bool = False, progress: bool = False) -> np.ndarray:
        if not progress or len(texts) <= self.chunk:
            return self.inner.encode(texts, query=query)
        parts = []
        bar = _tqdm(len(texts), f"{self.name}embedding")
        for i in range(0, len(texts), self.chunk):
            self.report(f"Building the index: {self.name}embedded {i:,} of {len(texts):,} sentences",
                        i / len(texts))
            parts.append(self.inner.encode(texts[i:i + self.chunk], query=query))
            if bar is not None:
                bar.update(len(parts[-1]))
        if bar is not None:
            bar.close()
        self.report("Building the index: saving", 1.0)
        return np.vstack(parts)


def _tqdm(total: int, desc: str):
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit="sentence")


class QAHolder:
    """A ReportQA that is being opened in a thread; `get()` waits for it."""

    def __init__(self, factory: Callable[[ProgressFn], object] | None = None, *, qa: object = None):
        self._factory = factory
        self._qa = qa
        self._error: str | None = None
        self._status = Status("Ready", 1.0, True) if qa is not None else Status("Starting…", None, False)
        self._ready = threading.Event()
        self.answered = threading.Event()  # set once a question has been answered (app.py's background loads wait for it)
        self._lock = threading.Lock()
        # what last changed the served index (a key of qa.words and its fields), and when
        self._event: tuple[str, dict, datetime] | None = None
        if qa is not None:
            self._ready.set()

    @classmethod
    def of(cls, qa_or_holder) -> QAHolder:
        return qa_or_holder if isinstance(qa_or_holder, QAHolder) else cls(qa=qa_or_holder)

    def start(self) -> QAHolder:
        if not self._ready.is_set():
            threading.Thread(target=self._run, name="open-report-qa", daemon=True).start()
        return self

    def _report(self, message: str, fraction: float | None) -> None:
        with self._lock:
            self._status = Status(message, fraction, False)

    def _run(self) -> None:
        try:
            qa = self._factory(self._report)
        except Exception as e:  # shown in the page; the process stays up so the message is readable
            log.exception("could not open the reports")
            with self._lock:
                self._error = str(e) or e.__class__.__name__
                self._status = Status(f"Could not open the reports: {self._error}", None, False, self._error)
        else:
            build = getattr(qa, "build_report", None)
            with self._lock:
                self._qa = qa
                self._status = Status("Ready", 1.0, True)
                self._event = (("rebuilt", {"why": build.reason, "seconds": f"{build.seconds:.0f}"}) if build
                               else ("opened", {})) + (datetime.now().astimezone(),)
            log.info("Report QA ready")
        self._ready.set()

    def status(self) -> Status:
        with self._lock:
            return self._status

    def wait(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    def replace(self, qa: object, what: str = "updated", **fields) -> None:
        """Swap in a newer ReportQA (after reports were added, or a replica's switch to a new build;
        `what` and `fields` say which, for the status line: a key of qa.words, "added" with `names`,
        "switched" with `name`); requests already running keep the old one."""
        with self._lock:
            self._qa = qa
            self._error = None
            self._status = Status("Ready", 1.0, True)
            self._event = (what, fields, datetime.now().astimezone())
        self._ready.set()

    def last_event(self, lang: str = "en") -> str:
        """What last changed the served index, and when, in `lang`: "Added a.pdf at 14:02 UTC,
        2026-12-07."; "" before the index is open."""
        from qa.words import localize, say

        with self._lock:
            event = self._event
        if event is None:
            return ""
        what, fields, when = event
        fields = {k: localize(v, lang) if k == "why" else v for k, v in fields.items()}
        stamp = f"{when:%Y-%m-%d %H:%M}（{when:%z}）" if lang == "zh" else f"{when:%H:%M %Z, %Y-%m-%d}"
        return say("at", lang, what=say(what, lang, **fields), when=stamp)

    def get(self, timeout: float | None = 900):
        """The ReportQA; RuntimeError if opening failed or did not finish in time."""
        if not self._ready.wait(timeout):
            raise RuntimeError("the reports are still being indexed; try again in a moment")
        if self._qa is None:
            raise RuntimeError(f"the reports could not be opened: {self._error}")
        return self._qa


def follow_builds(holder: QAHolder, index_dir, reopen: Callable[[object], object], every: float = 5.0,
                  stop: threading.Event | None = None) -> threading.Thread:
    """A replica follows its writer: every `every` seconds, if the index folder's `CURRENT` names another
    build than the one being served, `reopen(current ReportQA, or None if none could be opened yet)` opens
    it (read-only, the loaded models reused) and it is swapped in; questions already running finish on the
    old one. A build that cannot be opened is logged and the old one kept, until `CURRENT` changes again."""
    from pathlib import Path

    from qa.errors import QAError
    from qa.index.folder import current_folder

    stop = stop or threading.Event()

    def run() -> None:
        tried = None
        while not stop.wait(every):
            try:
                name = current_folder(Path(index_dir)).name
            except (QAError, OSError):
                continue  # no build yet
            status = holder.status()
            if not status.ready and status.error is None:
                continue  # the first build still opening
            qa = holder.get(timeout=0) if status.error is None else None  # None: the first open failed
            serving = qa.index.folder.name if qa is not None else None
            if name in (serving, tried):
                continue
            tried = name
            try:
                holder.replace(reopen(qa), "switched", name=name)
                log.info("now serving %s", name)
            except Exception as e:  # an engine's own error too (MilvusException): keep following, say why
                log.warning("kept %s: could not open %s (%s: %s)", serving, name, e.__class__.__name__, e)

    t = threading.Thread(target=run, name="follow-builds", daemon=True)
    t.start()
    return t

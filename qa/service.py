"""The question-answering service: one object the CLI, the UI and the evaluation share."""

from __future__ import annotations

import logging
from pathlib import Path

from qa.answer import Thresholds, compose, make_hits
from qa.embed import Embedder, SentenceTransformerEmbedder
from qa.index import BuildReport, LoadedIndex, open_index
from qa.question import clean_question, resolve
from qa.retrieve import Retriever
from qa.types import Answer, Passage

log = logging.getLogger(__name__)

DEFAULT_MODE = "dense"


class ReportQA:
    """Ask questions about the reports in one index. Build with `ReportQA.open(...)`."""

    def __init__(self, index: LoadedIndex, embedder: Embedder, *, thresholds: Thresholds | None = None,
                 build_report: BuildReport | None = None):
        self.index = index
        self.embedder = embedder
        self.thresholds = thresholds or Thresholds()
        self.build_report = build_report
        self.retriever = Retriever(index, embedder)
        self._row_of = index.passage_index()

    @classmethod
    def open(cls, corpus_dir: Path, index_dir: Path, embedder: Embedder | None = None, *,
             progress: bool = False, force: bool = False) -> "ReportQA":
        embedder = embedder or SentenceTransformerEmbedder()
        index, report = open_index(Path(corpus_dir), Path(index_dir), embedder, progress=progress, force=force)
        return cls(index, embedder, build_report=report)

    @property
    def passages(self) -> list[Passage]:
        return self.index.passages

    def ask(self, question: str, history: list[str] | None = None, *, k: int = 5,
            mode: str = DEFAULT_MODE, docs: set[str] | None = None) -> Answer:
        """Answer one question (BadQuestion if it cannot be searched)."""
        question, notices = clean_question(question)
        cleaned_history = []
        for h in history or []:
            try:
                cleaned_history.append(clean_question(h)[0])
            except Exception:  # an unusable earlier turn is simply ignored
                continue
        searched = resolve(question, cleaned_history)
        allowed = None
        if docs:
            allowed = {i for i, p in enumerate(self.index.passages) if p.doc in docs}
        candidates = self.retriever.search(searched, k=max(1, min(k, 50)), mode=mode, allowed=allowed)
        hits = make_hits(self.index, candidates, self.thresholds)
        return compose(question, searched, hits, self.thresholds, mode=mode, notices=notices)

    def context(self, passage_id: str, before: int = 1, after: int = 1) -> list[Passage]:
        """The passage with its neighbours in the same document, in reading order."""
        row = self._row_of[passage_id]
        doc = self.index.passages[row].doc
        lo, hi = max(0, row - before), min(len(self.index.passages), row + after + 1)
        return [p for p in self.index.passages[lo:hi] if p.doc == doc]

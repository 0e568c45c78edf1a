"""The question-answering service: one object the CLI, the UI and the evaluation share."""

from __future__ import annotations

import logging
from pathlib import Path

from qa.answer import THRESHOLDS, Thresholds, compose, make_hits
from qa.embed import Embedder, MultilingualUSEEmbedder, SentenceTransformerEmbedder
from qa.index import BuildReport, LoadedIndex, open_index
from qa.lexical import has_cjk, tokenize
from qa.question import clean_question, named_terms, resolve
from qa.retrieve import Retriever
from qa.types import Answer, Passage

log = logging.getLogger(__name__)

DEFAULT_MODE = "hybrid"


class ReportQA:
    """Ask questions about the reports in one index. Build with `ReportQA.open(...)`."""

    def __init__(self, index: LoadedIndex, embedder: Embedder, *, thresholds: dict[str, Thresholds] | None = None,
                 build_report: BuildReport | None = None, xling: Embedder | None = None):
        self.index = index
        self.embedder = embedder
        self.thresholds = {**THRESHOLDS, **(thresholds or {})}
        self.build_report = build_report
        self.retriever = Retriever(index, embedder, xling=xling)
        self._row_of = index.passage_index()

    @classmethod
    def open(cls, corpus_dir: Path, index_dir: Path, embedder: Embedder | None = None, *,
             progress: bool = False, force: bool = False, xling: Embedder | None | bool = None) -> "ReportQA":
        """Load (or build) the index. `xling`: a cross-lingual embedder, None for the default
        (multilingual USE with the real model, none with an injected test embedder), False for none."""
        if xling is None:
            xling = MultilingualUSEEmbedder() if embedder is None else False
        embedder = embedder or SentenceTransformerEmbedder()
        xling = xling or None
        index, report = open_index(Path(corpus_dir), Path(index_dir), embedder, progress=progress, force=force,
                                   xling=xling)
        return cls(index, embedder, build_report=report, xling=xling)

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
        key = f"{mode}-cross" if candidates and candidates[0].cross else mode
        t = self.thresholds.get(key, self.thresholds[mode])
        missing = self.missing_terms(question)
        if missing:
            notices.append(f"The reports do not mention {_join(missing)}.")
        hits = make_hits(self.index, candidates, t)
        # A question about a year, place or body the reports never name is not answered from them.
        refuse = bool(missing) and mode != "dense" and (
            any(m.isdigit() for m in missing) or not candidates or candidates[0].score < t.strong)
        return compose(question, searched, hits, t, mode=mode, notices=notices, refuse=refuse)

    def missing_terms(self, question: str) -> list[str]:
        """Names and years in the question that appear nowhere in the reports (same script only)."""
        vocab = self.retriever.lexical.df
        corpus_cjk = any(self.retriever._passage_cjk)
        out = []
        for term in named_terms(question):
            if has_cjk(term) and not corpus_cjk:
                continue
            toks = tokenize(term)
            if toks and not any(t in vocab for t in toks):
                out.append(term)
        return out

    def context(self, passage_id: str, before: int = 1, after: int = 1) -> list[Passage]:
        """The passage with its neighbours in the same document, in reading order."""
        row = self._row_of[passage_id]
        doc = self.index.passages[row].doc
        lo, hi = max(0, row - before), min(len(self.index.passages), row + after + 1)
        return [p for p in self.index.passages[lo:hi] if p.doc == doc]


def _join(terms: list[str]) -> str:
    return terms[0] if len(terms) == 1 else ", ".join(terms[:-1]) + " or " + terms[-1]

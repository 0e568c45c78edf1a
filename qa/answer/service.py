"""The question-answering service: one object the CLI, the UI and the evaluation share.

`ReportQA.ask` reads top to bottom: resolve (clean the question, fold in a follow-up's topic) → retrieve
(ranked candidates within the filters) → read (the reader checks the best passage, when it is on and the
rules that need no model left the question open) → judge (every reason to abstain or lower a label,
qa/answer/judge.py) → compose (the cited answer, qa/answer/compose.py). Filters (`docs`, `years`) restrict
the passages a question may be answered from (`qa.search.filters`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from pathlib import Path

from qa.answer import judge
from qa.answer.compose import compose, two_reports
from qa.answer.judge import THRESHOLDS, Thresholds, make_hits
from qa.answer.reader_runtime import ReaderSlot
from qa.answer.terms import NO_TERMS, TermsUnreadable, load_terms
from qa.errors import BackendUnavailable, BadQuestion, IndexUnusable
from qa.index.build import BuildReport, open_built, open_index
from qa.index.embed import CrossLingualEmbedder, Embedder
from qa.index.folder import LoadedIndex, load_manifest_only
from qa.index.onnx_encoder import default_embedder
from qa.search.backend import SearchBackend, Where
from qa.search.filters import allowed_rows, check_reports, parse_years
from qa.search.lexical import Vocabulary, has_cjk, tokenize
from qa.search.question import clean_question, named_terms, resolve
from qa.search.records import Records
from qa.search.retrieve import Candidate, Retriever
from qa.search.translate import english_name
from qa.types import Answer, Passage

log = logging.getLogger(__name__)

DEFAULT_MODE = "hybrid"
BACKENDS = ("local", "milvus")


class ReportQA:
    """Ask questions about the reports in one index. Build with `ReportQA.open(...)`."""

    RULES = judge.DEFAULT_RULES

    def __init__(self, index: LoadedIndex, embedder: Embedder, *, thresholds: dict[str, Thresholds] | None = None,
                 build_report: BuildReport | None = None, xling: Embedder | None = None,
                 reader: ReaderSlot | None = None, backend: SearchBackend | None = None,
                 records: Records | None = None, vocabulary: Vocabulary | None = None):
        """`records`, `vocabulary`: a lean replica's, read from Milvus (None: the index in this process)."""
        self.index = index
        self.reader = reader  # None: no reader at all (answers without it)
        self.rules = set(self.RULES)  # the judging rules in force (switched off one by one in experiments)
        self.embedder = embedder
        self.thresholds = {**THRESHOLDS, **(thresholds or {})}
        self.build_report = build_report
        self.retriever = Retriever(index, embedder, xling=xling, backend=backend, records=records, vocabulary=vocabulary)
        self.lean = records is not None  # no passage, unit or vector held here: all read from Milvus
        self.store = None  # the Milvus store behind `backend`, when `open` made one
        self.terms = NO_TERMS  # the reports' termbase, for the glosses (`open` reads the corpus folder's)

    @classmethod
    def open(cls, corpus_dir: Path, index_dir: Path, embedder: Embedder | None = None, *,
             progress: bool = False, force: bool = False, xling: Embedder | None | bool = None,
             reader: ReaderSlot | None = None, backend: str = "local", milvus_uri: str | None = None,
             milvus_collection: str | None = None, read_only: bool = False, store=None) -> ReportQA:
        """Load (or build) the index. `xling`: a cross-lingual embedder, None for the default
        (multilingual USE + e5 with the real model, none with an injected test embedder), False for none.
        `backend`: "local" (FAISS + bm25s in this process) or "milvus" (candidates from Milvus at
        `milvus_uri`, default milvus-lite at index/milvus.db; the index is written there too).
        `read_only`: serve the current build as its writer left it; never build, never write (a replica).
        With `backend="milvus"` the replica is *lean*: it reads only the build's manifest and document list,
        and each question's passages, units and vectors from Milvus (docs/scaling.md).
        `store`: an open Milvus store to use again (`ReportQA.store`: a replica switching builds keeps one
        connection)."""
        if backend not in BACKENDS:
            raise BackendUnavailable(f"unknown search backend {backend!r}; choose {' or '.join(BACKENDS)}")
        if xling is None:
            xling = CrossLingualEmbedder() if embedder is None else False
        embedder = embedder or default_embedder()
        xling = xling or None
        if backend != "milvus":
            store = None
        elif store is None:  # pymilvus is imported only here: the default path stays without it
            from qa.search.milvus_backend import open_store

            store = open_store(index_dir, milvus_uri, milvus_collection)
        if read_only and store is not None:
            qa = cls._open_lean(Path(index_dir), embedder, xling, reader, store)
            qa.store = store
            return qa
        if read_only:
            index, report = open_built(Path(index_dir), embedder, xling=xling), None
        else:
            index, report = open_index(Path(corpus_dir), Path(index_dir), embedder, progress=progress, force=force,
                                       xling=xling, sync=store)
        engine = None
        if store is not None:
            from qa.search.milvus_backend import MilvusBackend

            engine = MilvusBackend(store.client, store.name, index)
        qa = cls(index, embedder, build_report=report, xling=xling, reader=reader, backend=engine)
        qa.store = store
        try:
            qa.terms = load_terms(Path(corpus_dir))
        except TermsUnreadable as e:  # the answers go on; the glosses without the termbase
            log.warning("termbase not used: %s", e)
        return qa

    @classmethod
    def _open_lean(cls, index_dir: Path, embedder: Embedder, xling: Embedder | None, reader: ReaderSlot | None,
                   store) -> ReportQA:
        """A lean replica: the current build's manifest and documents, everything else from Milvus."""
        from qa.search.milvus_backend import MilvusBackend
        from qa.search.milvus_records import LeanPassages, MilvusRecords

        index = load_manifest_only(index_dir, model_id=embedder.model_id, xling_id=xling.model_id if xling else None)
        if store.synced_build() is None:
            held = [name for name in store.collections() if name != store.name]
            raise IndexUnusable(
                f"Milvus at {store.uri} holds no complete index named {store.name} in this version's layout "
                f"(it holds: {', '.join(held) or 'no other index'}). Name the writer's with --milvus-collection, "
                "or build this one: python -m qa index --backend milvus")
        counts = index.manifest.get("counts", {})
        records = MilvusRecords(store.client, store.name, has_xling=xling is not None, units=counts.get("units", 0))
        index.passages = LeanPassages(records, counts.get("passages", 0))
        return cls(index, embedder, xling=xling, reader=reader, backend=MilvusBackend(store.client, store.name, index, records),
                   records=records, vocabulary=records.vocabulary())

    @property
    def passages(self) -> list[Passage]:
        return self.index.passages

    def ask(self, question: str, history: list[str] | None = None, *, k: int = 5,
            mode: str = DEFAULT_MODE, docs: Iterable[str] | None = None,
            years: str | tuple[int, int] | None = None, read: bool = True) -> Answer:
        """Answer one question (BadQuestion if it cannot be searched; BadFilter if the filter matches
        no report). `docs`: document ids to search in; `years`: "2011", "2010-2012" or (2010, 2012).
        `read=False` skips the reader for a fast answer without the span."""
        question, notices = clean_question(question)
        earlier = _usable(history)
        searched = resolve(question, earlier)
        candidates = self._retrieve(searched, question, k=k, mode=mode, docs=docs, years=years)
        t = self._thresholds(candidates, mode)
        hits = make_hits(self.retriever.records, candidates, t, disagreement="disagreement" in self.rules)
        verdict = judge.judge_before_reading(question, hits, mode=mode, missing=self.missing_terms(question),
                                             rules=self.rules)
        readings, reader_state = self._read(question, verdict, read)
        st = self.reader.settings if readings is not None else None
        verdict = judge.judge_after_reading(verdict, readings, st.cutoff if st else 0.0, candidates, t, self.rules,
                                            sure=st.sure if st else None)
        answer = compose(question, searched, verdict.hits, t, mode=mode, notices=[*notices, *verdict.notices],
                         abstain=verdict.abstains)
        return dataclasses.replace(two_reports(answer), reader=reader_state, reasons=tuple(verdict.reasons))

    def gloss(self, answer: Answer, *, sentence: bool = False) -> tuple[Answer, str | None]:
        """The answer with a checked gloss of its span (or of the span's sentence) in the question's
        language, when the report is in the other one (qa/answer/gloss.py); and why there is none, when
        one was wanted but not shown. An abstention or a span the reader did not accept gets none."""
        from qa.answer import gloss as g
        from qa.types import Gloss

        hit = answer.span_hit
        if hit is None or hit.answers is not True or self.reader is None:
            return answer, None
        target = g.wanted(answer.question, hit.span)
        if target is None:
            return answer, None
        text = hit.highlight if sentence else hit.span
        limit = self.reader.gloss_words
        if limit is not None and g.words(text) > limit:
            return answer, "too long to gloss reliably"
        terms = self.terms.found(text, g.language(text))
        written = self.reader.gloss(g.prepared(text, target), target, terms)
        why = g.check(text, written, target, self.retriever.translator, self.terms)
        if why is not None:
            return answer, why
        return dataclasses.replace(answer, gloss=Gloss(written.strip(), target, "sentence" if sentence else "span")), None

    def _retrieve(self, searched: str, question: str, *, k: int, mode: str, docs: Iterable[str] | None,
                  years: str | tuple[int, int] | None) -> list[Candidate]:
        span = parse_years(years) if isinstance(years, str) or years is None else (min(years), max(years))
        wanted = frozenset(d for d in docs or () if d)
        if self.lean:  # Milvus filters by report and year itself; only the report ids are checked here
            check_reports(wanted, {d.id for d in self.index.documents})
            where = None if not wanted and span is None else Where(None, wanted, span)
        else:
            rows = allowed_rows(self.index.passages, docs, span)
            where = None if rows is None else Where(frozenset(rows), wanted, span)
        return self.retriever.search(searched, k=max(1, min(k, 50)), mode=mode, allowed=where, focus=question)

    def _thresholds(self, candidates: list[Candidate], mode: str) -> Thresholds:
        """The mode's thresholds; their cross-lingual variant when the best passage was scored across languages."""
        key = f"{mode}-cross" if candidates and candidates[0].cross else mode
        return self.thresholds.get(key, self.thresholds[mode])

    def _read(self, question: str, verdict: judge.Verdict, read: bool) -> tuple[list | None, str]:
        """The reader's readings of the hits (None when not read) and its state for the answer ("off"
        without a reader or with `read=False`)."""
        if not read or self.reader is None:
            return None, "off"
        if not judge.worth_reading(verdict):
            return None, self.reader.state
        # the question as typed, also for a follow-up: its topic is in the passage retrieval found with it;
        # with the earlier question before it the reader answered that one instead (docs/reader.md)
        readings = self.reader.read(question, verdict.hits)
        return readings, self.reader.state

    def missing_terms(self, question: str) -> list[str]:
        """Names and years in the question that appear nowhere in the reports, in either script: "Gansu"
        is there when a Chinese report names 甘肃 (qa/search/translate.py)."""
        vocab = self.retriever.lexical.df
        corpus_cjk = self.retriever.corpus_has_cjk
        out = []
        for term in named_terms(question):
            if has_cjk(term) and not corpus_cjk:
                continue
            toks = tokenize(term)
            if toks and not all(t in vocab for t in toks) and not (
                    corpus_cjk and not term[0].isdigit() and self.retriever.translator.named_in(english_name(term), True)):
                out.append(term)
        return out

    def context(self, passage_id: str, before: int = 1, after: int = 1) -> list[Passage]:
        """The passage with its neighbours in the same document, in reading order."""
        records = self.retriever.records
        records.begin()
        row = records.row_of(passage_id)
        if row is None:
            raise KeyError(passage_id)
        lo, hi = max(0, row - before), min(len(self.index.passages), row + after + 1)
        records.prefetch(range(lo, hi))
        doc = records.passage(row).doc
        return [p for r in range(lo, hi) if (p := records.passage(r)).doc == doc]


def _usable(history: list[str] | None) -> list[str]:
    """The earlier questions, cleaned; an unusable earlier turn is simply ignored."""
    out = []
    for h in history or []:
        try:
            out.append(clean_question(h)[0])
        except BadQuestion:
            continue
    return out

"""The question-answering service: one object the CLI, the UI and the evaluation share.

Filters (`docs`, `years`) restrict the passages a question may be answered from (`qa.filters`).
When the best passages come from different reports and their highlighted sentences give different
figures, the answer shows each report's sentence with its citation (`two_reports`), not just one.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterable
from pathlib import Path

from qa.answer import THRESHOLDS, Thresholds, compose, disagreement, make_hits
from qa.checks import mismatch
from qa.embed import CrossLingualEmbedder, Embedder
from qa.errors import BadQuestion
from qa.filters import allowed_rows, parse_years
from qa.index import BuildReport, LoadedIndex, open_index
from qa.lexical import has_cjk, numbers, tokenize
from qa.onnx_encoder import default_embedder
from qa.judge import READER_REFUSAL, apply_readings
from qa.question import clean_question, join_or, named_terms, resolve
from qa.reader import ReaderSlot
from qa.retrieve import Retriever
from qa.translate import english_name
from qa.types import Answer, Passage

log = logging.getLogger(__name__)

DEFAULT_MODE = "hybrid"
CONFLICT_MARGIN = 0.15  # a passage from another report this close to the best one answers the same question
_YEAR = re.compile(r"^(19|20)\d\d$")


class ReportQA:
    """Ask questions about the reports in one index. Build with `ReportQA.open(...)`."""

    RULES = frozenset({"threshold", "missing", "near-miss", "disagreement", "reader"})

    def __init__(self, index: LoadedIndex, embedder: Embedder, *, thresholds: dict[str, Thresholds] | None = None,
                 build_report: BuildReport | None = None, xling: Embedder | None = None,
                 reader: ReaderSlot | None = None):
        self.index = index
        self.reader = reader  # None: no reader at all (answers without it)
        self.rules = set(self.RULES)  # the judging rules in force (switched off one by one in experiments)
        self.embedder = embedder
        self.thresholds = {**THRESHOLDS, **(thresholds or {})}
        self.build_report = build_report
        self.retriever = Retriever(index, embedder, xling=xling)
        self._row_of = index.passage_index()

    @classmethod
    def open(cls, corpus_dir: Path, index_dir: Path, embedder: Embedder | None = None, *,
             progress: bool = False, force: bool = False, xling: Embedder | None | bool = None,
             reader: ReaderSlot | None = None) -> "ReportQA":
        """Load (or build) the index. `xling`: a cross-lingual embedder, None for the default
        (multilingual USE + e5 with the real model, none with an injected test embedder), False for none."""
        if xling is None:
            xling = CrossLingualEmbedder() if embedder is None else False
        embedder = embedder or default_embedder()
        xling = xling or None
        index, report = open_index(Path(corpus_dir), Path(index_dir), embedder, progress=progress, force=force,
                                   xling=xling)
        return cls(index, embedder, build_report=report, xling=xling, reader=reader)

    @property
    def passages(self) -> list[Passage]:
        return self.index.passages

    def ask(self, question: str, history: list[str] | None = None, *, k: int = 5,
            mode: str = DEFAULT_MODE, docs: Iterable[str] | None = None,
            years: str | tuple[int, int] | None = None, read: bool = True) -> Answer:
        """Answer one question (BadQuestion if it cannot be searched; BadFilter if the filter matches
        no report). `docs`: document ids to search in; `years`: "2011", "2010-2012" or (2010, 2012)."""
        question, notices = clean_question(question)
        cleaned_history = []
        for h in history or []:
            try:
                cleaned_history.append(clean_question(h)[0])
            except BadQuestion:  # an unusable earlier turn is simply ignored
                continue
        searched = resolve(question, cleaned_history)
        span = parse_years(years) if isinstance(years, str) or years is None else (min(years), max(years))
        allowed = allowed_rows(self.index.passages, docs, span)
        candidates = self.retriever.search(searched, k=max(1, min(k, 50)), mode=mode, allowed=allowed,
                                           focus=question)
        key = f"{mode}-cross" if candidates and candidates[0].cross else mode
        t = self.thresholds.get(key, self.thresholds[mode])
        missing = self.missing_terms(question)
        if missing:
            notices.append(f"The reports do not mention {join_or(missing)}.")
        hits = make_hits(self.index, candidates, t)
        rules = self.rules
        reasons: list[str] = []
        # A question about a year, place or body the reports never name is not answered from them;
        # an unknown acronym ("XPCC") may just be another name for something the reports describe.
        refuse = "missing" in rules and mode != "dense" and any(not _is_acronym(m) for m in missing)
        if refuse:
            reasons.append("missing")
        if (not refuse and "near-miss" in rules and mode != "dense" and hits
                and (why := mismatch(question, hits[0]))):
            notices.append(why)  # a near miss: the passage is on topic but does not hold the answer
            refuse = True
            reasons.append("near-miss")
        reader_state = "off"
        weak = "threshold" in rules and all(h.confidence == "weak" for h in hits)  # abstains anyway: no need to read
        if read and self.reader is not None and "reader" in rules and hits and not refuse and not weak:
            readings = self.reader.read(_reader_question(question, searched, cleaned_history), hits)
            reader_state = self.reader.state
            if readings is not None:
                hits = apply_readings(hits, readings, self.reader.settings.cutoff)
                if hits[0].answers is False:
                    notices.append(READER_REFUSAL)
                    refuse = True
                    reasons.append("reader")
        elif read and self.reader is not None:
            reader_state = self.reader.state
        if not refuse and "disagreement" in rules and (split := disagreement(candidates, hits, t)):
            notices.append(split)
            reasons.append("disagreement")
        # The retrieval threshold stays in force with the reader: on the check half, letting the reader's
        # "answers" override it answered one more unanswerable question (docs/reader.md).
        answer = compose(question, searched, hits, t, mode=mode, notices=notices, refuse=refuse,
                         threshold="threshold" in rules)
        if answer.abstained and not refuse:
            reasons.append("threshold")
        return dataclasses.replace(two_reports(answer, t), reader=reader_state, reasons=tuple(reasons))

    def missing_terms(self, question: str) -> list[str]:
        """Names and years in the question that appear nowhere in the reports, in either script: "Gansu"
        is there when a Chinese report names 甘肃 (qa/translate.py)."""
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
        row = self._row_of[passage_id]
        doc = self.index.passages[row].doc
        lo, hi = max(0, row - before), min(len(self.index.passages), row + after + 1)
        return [p for p in self.index.passages[lo:hi] if p.doc == doc]


def _reader_question(question: str, searched: str, history: list[str]) -> str:
    """What the reader is asked: the question, with the earlier one when it is a follow-up."""
    if searched == question or not history:
        return question
    return f"{history[-1]} {question}"


def _figures(text: str) -> set[str]:
    """The numbers of a sentence other than years (which tell reports apart, not answers)."""
    return {n for n in numbers(text) if not _YEAR.match(n)}


def two_reports(answer: Answer, t: Thresholds) -> Answer:
    """When a passage from another report answers nearly as well as the best one but its highlighted
    sentence gives different figures, answer with both, each named and cited, and say so."""
    if answer.abstained or len(answer.hits) < 2:
        return answer
    first = answer.hits[0]
    figures = _figures(first.highlight)
    asked_years = {int(n) for n in numbers(answer.searched) if _YEAR.match(n)}
    if not figures:
        return answer
    for other in answer.hits[1:]:
        if other.passage.doc == first.passage.doc or other.confidence == "weak":
            continue
        if first.score - other.score > CONFLICT_MARGIN:
            break
        if asked_years and other.passage.year not in asked_years:
            continue  # the question names a year this report is not about
        theirs = _figures(other.highlight)
        if theirs and theirs != figures:
            text = (f"{first.passage.report_label()}: {first.highlight} [{first.rank}]; "
                    f"{other.passage.report_label()}: {other.highlight} [{other.rank}]")
            notice = (f"Two reports give different figures: {first.passage.report_label()} [{first.rank}] "
                      f"and {other.passage.report_label()} [{other.rank}]; both are shown.")
            return dataclasses.replace(answer, answer=text, notices=(*answer.notices, notice))
    return answer


def _is_acronym(term: str) -> bool:
    return term.isupper() and term.isalpha() and len(term) <= 6

"""Retrieve: a query → ranked passages, each with the sentence that best answers it.

Modes:
- `dense`  — the query vector against every embedded unit (sentence or sentence window) in FAISS;
             a passage scores the best of its units (the baseline).
- `bm25`   — BM25 over passage text, section heading and title (see qa/search/lexical.py).
- `hybrid` — dense + normalised BM25 + sentence-level evidence: the share of the question's
             (IDF-weighted) terms found in the passage's best sentence, with matching numbers counted.
The highlight is the passage's best sentence by the same sentence score.

Cross-lingual: when the question and a passage are in different scripts (a Chinese question about an
English report, or the reverse) and the index has cross-lingual vectors, the dense scores for that
passage come from the multilingual model instead of the English-only one.

A second opinion: with cross-lingual vectors, multilingual-e5-small's own cosine (its part of those
vectors) is added to the hybrid ranking score of same-script passages too. It ranks this report's
English questions better than all-MiniLM-L6-v2 alone (dense-only Hit@1 0.88 vs 0.81 on the shipped set),
and the two together better than either; the confidence labels and the abstention keep the calibrated
score without it. e5 encodes an English question only when its opinion can change the outcome
(`second_opinion_can_change`): its encode was most of such a question's time.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

import numpy as np

from qa.index.embed import E5SmallEmbedder, Embedder
from qa.index.folder import LoadedIndex
from qa.search.answer_type import asked_ordinal, expected_type, offers, starts_item
from qa.search.backend import LocalBackend, Query, SearchBackend, Where
from qa.search.coalesce import Coalescing
from qa.search.lexical import LexicalIndex, Vocabulary, has_cjk, numbers, tokenize
from qa.search.question import without_excluded
from qa.search.records import LocalRecords, Records
from qa.search.translate import TermSets, Translator, mentions, question_names

MODES = ("dense", "bm25", "hybrid")


@dataclass(frozen=True)
class Weights:
    """Fusion weights (tuned on the tuning half of the shipped question set and SciFact train)."""

    bm25: float = 0.25  # normalised BM25 (÷ the best passage's BM25) added to the dense cosine
    coverage: float = 0.35  # best sentence's share of query term weight
    number: float = 0.0  # extra bonus for a matching number; 0: numbers already count as rare terms
    answer_type: float = 0.10  # bonus when the sentence offers the kind of answer asked for (qa/search/answer_type.py)
    # Lexical evidence for a question in another script than the passage, from its dictionary
    # translation (qa/search/translate.py): noisier than same-language terms, so it counts half.
    cross_lexical: float = 0.5
    # Ranking: BM25's part shrinks by (this × the share of the question's IDF mass the reports never use).
    unmatched: float = 1.0
    highlight_type: float = 0.20  # answer-type bonus when choosing the sentence to highlight
    ordinal: float = 0.50  # bonus for list item n when the question asks for the n-th ("sixth point")
    context: float = 0.8  # credit for a question term found only in the passage's earlier sentences
    sentence_dense: float = 1.0  # weight of the sentence's own cosine when picking the highlight
    # Ranking: + this × the passage's best multilingual-e5-small cosine (same-script passages; needs the
    # cross-lingual vectors). Not in the calibrated evidence score.
    second_dense: float = 1.0
    # Candidates in both scripts: score and calibrated evidence lose this × the share of the question's
    # names (places, bodies, people) a passage does not name, in either script, title included.
    unnamed: float = 1.0


@dataclass(frozen=True)
class Candidate:
    row: int  # passage row
    score: float  # the mode's ranking score
    sentence: int  # unit row of the best sentence in the passage (-1 if none)
    sentence_score: float
    dense: float = 0.0  # best unit cosine
    lexical: float = 0.0  # BM25 normalised by the best passage's BM25 for this query
    coverage: float = 0.0  # best sentence's share of the query's term weight
    cross: bool = False  # scored by the cross-lingual model
    fused: float | None = None  # the calibrated evidence score that confidence and abstention use (None: = score)
    # Does the second model (e5) also rank this passage first among the candidates? None: not asked.
    second_first: bool | None = None

    @property
    def evidence(self) -> float:
        return self.score if self.fused is None else self.fused


class Retriever:
    def __init__(self, index: LoadedIndex, embedder: Embedder, weights: Weights | None = None,
                 xling: Embedder | None = None, backend: SearchBackend | None = None,
                 records: Records | None = None, vocabulary: Vocabulary | None = None):
        """`records` and `vocabulary` None: the whole index in this process (`LocalRecords`, and a
        `LexicalIndex` over its passages). A lean replica passes Milvus's (qa/search/milvus_records.py)."""
        self.index = index
        self.embedder = embedder
        self.weights = weights or Weights()
        if vocabulary is None:
            vocabulary = LexicalIndex([p.lexical_text() for p in index.passages])
        self.lexical = vocabulary  # the term statistics (with BM25 in this process: a LexicalIndex)
        if records is None:
            records = LocalRecords(index, getattr(vocabulary, "docs", None))
        self.records = records
        self.xling = xling if records.has_xling else None
        self.corpus_has_cjk = records.has_script(True)
        if backend is None:
            backend = LocalBackend(index, vocabulary, records.passage_cjk)
        self.backend = backend
        self.translator = Translator(self.lexical.df)
        # (e5 embedder, the columns of its block of the cross-lingual unit vectors, cosine scale)
        self._second = (self.xling.component_columns(E5SmallEmbedder.model_id)
                        if self.xling is not None and hasattr(self.xling, "component_columns") else None)
        self._queries: dict[int, Coalescing] = {}
        self.second_calls: Counter[str] = Counter()  # e5's second opinion: "encoded", "reused", "skipped"
        self.second_always = False  # True: e5 on every question, as before the rule (`qa bench` compares)

    def _encode_query(self, model, text: str) -> np.ndarray:
        """The question's vector: concurrent users' questions share one call per model (qa/search/coalesce.py)."""
        c = self._queries.get(id(model))
        if c is None or c.inner is not model:
            c = self._queries[id(model)] = Coalescing(model)
        return c.encode([text], query=True)[0]

    def search(self, query: str, k: int = 5, mode: str = "hybrid",
               allowed: set[int] | Where | None = None, focus: str | None = None) -> list[Candidate]:
        """Top-k passages for `query`, within `allowed` (passage rows, or a `Where` filter; None: all).
        `focus`: the user's own question when `query` adds the topic of earlier turns — the topic finds
        the passage, but the highlight must answer the new question."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        if not self.index.passages:
            return []
        self.records.begin()
        q_tokens = tokenize(query)
        q_numbers = numbers(query)
        q_type = expected_type(query) if mode == "hybrid" else None
        q_cjk = has_cjk(query)
        records = self.records
        # Passages in the other script: scored by the multilingual model (hybrid) and, lexically, by
        # the question's dictionary translation (qa/search/translate.py).
        cross = mode != "dense" and records.has_script(not q_cjk)
        # MiniLM scores only passages in the question's script when the multilingual model scores the
        # others: with none in its script (a Chinese question, English reports) it is not run (−7 ms a
        # question; the same figures on all 450 questions of the five sets).
        mini = mode == "dense" or (mode == "hybrid" and (self.xling is None or records.has_script(q_cjk)))
        qv = self._encode_query(self.embedder, query) if mini else None
        xq = (self._encode_query(self.xling, query)
              if cross and mode == "hybrid" and self.xling is not None else None)
        q_sets = _singletons(q_tokens)
        x_sets = self.translator(query) if cross else ()
        where = allowed if isinstance(allowed, Where) or allowed is None else Where(frozenset(allowed))
        legs = self.backend.candidates(Query(query, tuple(q_tokens) if mode != "dense" else (), q_cjk, qv,
                                             tuple(x_sets), xq), k, where)
        dense = {**legs.dense, **legs.cross_dense}
        pool = legs.rows()
        records.prefetch(pool)
        in_cross = {r for r in pool if records.cjk(r) != q_cjk} if cross else set()
        if xq is not None:  # a cross-script candidate found by another leg: its cross-lingual cosine
            for r in sorted(in_cross):
                if r not in legs.cross_dense and (units := records.units_of(r)):
                    dense[r] = float((records.xvectors(units) @ xq).max())
        # The highlight answers the user's own question (`focus`), minus a "Besides X, …" clause.
        asked = without_excluded(focus or query)
        focus_sets = None
        if asked != query and mode == "hybrid":
            focus_sets = (_singletons(tokenize(asked)), self.translator(asked) if cross else (),
                          (expected_type(asked), asked))
        out = []
        for row in sorted(pool):
            is_cross = row in in_cross
            scores, top_score = ((legs.cross_lexical, legs.cross_lexical_best) if is_cross
                                 else (legs.lexical, legs.lexical_best))
            lexical = scores.get(row, 0.0) / top_score if top_score else 0.0
            sims = self._cross_sims(row, xq) if is_cross else None
            sets = x_sets if is_cross else q_sets
            c = self._score(row, mode, qv, dense.get(row), lexical, sets, q_numbers, sims, (q_type, query), is_cross)
            if focus_sets is not None:
                f_sets = focus_sets[1] if is_cross else focus_sets[0]
                c = replace(c, sentence=self._best_sentence(row, qv, sims, f_sets, focus_sets[2])[0])
            out.append(c)
        if mode == "hybrid":
            unknown = self.lexical.unknown_share(q_tokens)
            out = self._discount_unmatched(out, unknown)
            out = self._second_opinion(out, query, q_cjk, xq)
            out = self._unnamed(out, query)
        out.sort(key=lambda c: (-c.score, c.row))
        return out[:k]

    def _discount_unmatched(self, out: list[Candidate], unknown: float) -> list[Candidate]:
        """Rank with less BM25 when the question's words are not the reports' words. If a share of the
        question's IDF mass is words no report uses (a paraphrase: "college" for "university"), BM25
        can only match its common words and would favour whichever passage repeats them; its part of
        the ranking score shrinks by that share. The calibrated evidence score (`fused`), which decides
        confidence labels and abstention, is kept as it was."""
        share = unknown * self.weights.unmatched  # `unknown`: the share of the question's IDF mass no report uses
        if not share:
            return out
        return [c if c.cross else replace(c, score=c.score - share * self.weights.bm25 * c.lexical, fused=c.score)
                for c in out]

    def _second_opinion(self, out: list[Candidate], query: str, q_cjk: bool,
                        xq: np.ndarray | None) -> list[Candidate]:
        """Add the second model's best unit cosine to each same-script passage's ranking score (the
        calibrated evidence score, `fused`, stays as it was). Its query vector is the cross-lingual one's
        e5 block when that was encoded anyway; else e5 encodes the question only when its opinion can
        change the outcome (`second_opinion_can_change`): the encode is most of an English question's time."""
        if self._second is None or not self.weights.second_dense or all(c.cross for c in out):
            return out
        model, columns, scale = self._second
        if xq is not None:
            self.second_calls["reused"] += 1
            qv = scale * xq[columns]
        elif q_cjk or self.second_always or second_opinion_can_change(out):
            self.second_calls["encoded"] += 1
            qv = scale * self._encode_query(model, query)
        else:
            self.second_calls["skipped"] += 1
            return out
        w = self.weights.second_dense
        # only the candidates' units are scored (not every unit of a large corpus)
        units_of = self.records.units_of
        best = {c.row: float((self.records.xvectors(units_of(c.row), columns) @ qv).max()) for c in out
                if not c.cross and units_of(c.row)}
        if not best:
            return out
        first = max(best, key=lambda r: (best[r], -r))
        return [replace(c, score=c.score + w * best[c.row], fused=c.evidence, second_first=c.row == first)
                if c.row in best else c for c in out]

    def _unnamed(self, out: list[Candidate], query: str) -> list[Candidate]:
        """Names count across scripts. Between passages in two scripts the scores are not alike (a
        same-script passage has full lexical evidence and the second model's cosine, one in the other
        script half of the one and none of the other), so a Chinese report about Gansu lost to an English
        one about poverty elsewhere. When the candidates span both scripts, a passage that does not name
        what the question names loses `unnamed` × the share of names it misses, from its ranking score
        and its calibrated evidence alike. A name counts against a passage in the other script than its
        own only if some report in that script names it in a form the dictionary knows: else 'not named'
        may only mean the dictionary lacks it."""
        w = self.weights.unnamed
        if not w or len({c.cross for c in out}) < 2:
            return out
        names = question_names(query)
        if not names:
            return out
        counted = {cjk: [n for n in names if n.chinese == cjk or self.translator.named_in(n, cjk)]
                   for cjk in (False, True)}
        ranked = []
        for c in out:
            ns = counted[self.records.cjk(c.row)]
            terms = set(self.records.terms(c.row))  # title, section and text
            missed = sum(not mentions(n, terms) for n in ns) / len(ns) if ns else 0.0
            ranked.append(replace(c, score=c.score - w * missed, fused=c.evidence - w * missed) if missed else c)
        return ranked

    def _cross_sims(self, row: int, xq: np.ndarray | None) -> np.ndarray | None:
        """Cross-lingual cosines of a passage's sentences (in `records.sentences_of` order), or None without them."""
        if xq is None:
            return None
        return self.records.xvectors(self.records.sentences_of(row)) @ xq

    def _score(self, row: int, mode: str, qv, dense: float | None, lexical: float,
               q_sets: TermSets, q_numbers: set[str], xsims: np.ndarray | None = None,
               q_type: tuple[str | None, str] = (None, ""), cross: bool = False) -> Candidate:
        """Score one passage; `xsims` (cross-lingual unit similarities) replaces the dense ones;
        `cross`: the passage is in another script than the question (`q_sets` then translated)."""
        w = self.weights
        if dense is None and qv is not None:  # found by BM25 only: score its units exactly
            units = self.records.units_of(row)
            dense = float((self.records.vectors(units) @ qv).max()) if units else 0.0
        dense = dense or 0.0
        best, best_score, best_cov, best_typed = self._best_sentence(
            row, qv, xsims, q_sets if mode != "dense" else (), q_type, q_numbers)
        if mode == "dense":
            score = dense
        elif mode == "bm25":
            score = lexical
        else:
            num = 1.0 if best >= 0 and q_numbers & self.records.unit_numbers(best) else 0.0
            lex_part = w.bm25 * lexical + w.coverage * best_cov + w.number * num + best_typed
            score = dense + (w.cross_lexical if cross else 1.0) * lex_part
        return Candidate(row, float(score), best, float(best_score), dense, lexical, best_cov, cross)

    def _best_sentence(self, row: int, qv, xsims, q_sets: TermSets, q_type: tuple[str | None, str],
                       q_numbers: set[str] = frozenset()) -> tuple[int, float, float, float]:
        """The passage's best sentence for a query: (unit row to highlight, and for ranking the passage:
        the best sentence score, its term coverage, its answer-type bonus)."""
        w, records = self.weights, self.records
        sents = records.sentences_of(row)
        if xsims is not None:
            sims = xsims
        elif qv is not None and sents:
            sims = records.vectors(sents) @ qv
        else:
            sims = np.zeros(len(sents))
        section = records.section_tokens(row)
        best = (-1, -np.inf, 0.0, 0.0)  # by the sentence alone: what the passage's rank uses
        shown = (-1, -np.inf)  # with credit for terms its earlier sentences hold: the highlight
        context: set[str] = set()  # the terms of the passage's earlier sentences
        ordinal = asked_ordinal(q_type[1]) if w.ordinal else None
        cover = self.lexical.coverage(tuple(q_sets)) if q_sets else None
        for j, unit in enumerate(sents):
            tokens = records.unit_tokens(unit)
            present = set(tokens).union(section)
            cov = cover.of(present) if cover else 0.0
            in_context = cover.of(present, context, w.context) if cover and w.context else cov
            context.update(tokens)
            num = 1.0 if q_numbers and q_numbers & records.unit_numbers(unit) else 0.0
            text = records.unit(unit).text
            offered = offers(text, *q_type)
            typed = w.answer_type if offered else 0.0
            base = w.sentence_dense * float(sims[j]) + w.number * num
            if base + typed + w.coverage * cov > best[1]:
                best = (unit, base + typed + w.coverage * cov, cov, typed)
            shown_score = base + w.coverage * in_context + (w.highlight_type if offered else 0.0)
            if ordinal and starts_item(text, ordinal):
                shown_score += w.ordinal
            if shown_score > shown[1]:
                shown = (unit, shown_score)
        return (shown[0], best[1], best[2], best[3])


# "Close": the margin within which hybrid's second passage joins the answer (qa/answer/judge.py,
# THRESHOLDS["hybrid"].second_margin): a top this close to the next is open.
SECOND_CLOSE = 0.08


def second_opinion_can_change(out: list[Candidate]) -> bool:
    """The one rule for asking e5 about a question in the script of its candidates (an English question
    over English reports; a Chinese question always asks). e5 is asked when the first opinion leaves the
    best passage open:
    - BM25's best candidate, MiniLM's best and the ranking's best are not one passage; or
    - the best two are close (ranking scores within `SECOND_CLOSE`): the paraphrase e5 was added for
      ("Where did investigators travel…" for "field research") has all three on one wrong passage, 0.02
      ahead of the next.
    Chosen on the tuning half of the shipped set and the tuning set (135 English questions): e5 changed the
    top passage, its label or an abstention for 10 of them, all 10 among the 41 (30 %) this rule asks
    about. It replaced "or most of the question's IDF mass is words no report uses", which asked 10 more
    there and changed none (docs/speed.md). Below the top, e5 may still reorder the other cards of a
    question it skips."""
    same = sorted((c for c in out if not c.cross), key=lambda c: (-c.score, c.row))  # the ranking's order
    if len(same) < 2:
        return False
    if same[0].score - same[1].score < SECOND_CLOSE:
        return True

    def best(key):
        return max(same, key=lambda c: (key(c), c.score, -c.row)).row

    return not same[0].row == best(lambda c: c.lexical) == best(lambda c: c.dense)


def _singletons(tokens: list[str]) -> TermSets:
    return tuple(frozenset([t]) for t in dict.fromkeys(tokens))

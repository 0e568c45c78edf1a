"""Retrieve: a query → ranked passages, each with the sentence that best answers it.

Modes:
- `dense`  — the query vector against every embedded unit (sentence or sentence window) in FAISS;
             a passage scores the best of its units (the baseline).
- `bm25`   — BM25 over passage text, section heading and title (see qa/lexical.py).
- `hybrid` — dense + normalised BM25 + sentence-level evidence: the share of the question's
             (IDF-weighted) terms found in the passage's best sentence, with matching numbers counted.
The highlight is the passage's best sentence by the same sentence score.

Cross-lingual: when the question and a passage are in different scripts (a Chinese question about an
English report, or the reverse) and the index has cross-lingual vectors, the dense scores for that
passage come from the multilingual model instead of the English-only one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qa.embed import Embedder
from qa.index import LoadedIndex
from qa.lexical import LexicalIndex, has_cjk, numbers, tokenize

MODES = ("dense", "bm25", "hybrid")


@dataclass(frozen=True)
class Weights:
    """Fusion weights (tuned on the tuning half of the shipped question set and SciFact train)."""

    bm25: float = 0.25  # normalised BM25 (÷ the best passage's BM25) added to the dense cosine
    coverage: float = 0.35  # best sentence's share of query term weight
    number: float = 0.15  # bonus when a number in the question appears in the sentence
    sentence_dense: float = 1.0  # weight of the sentence's own cosine when picking the highlight


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


class Retriever:
    def __init__(self, index: LoadedIndex, embedder: Embedder, weights: Weights | None = None,
                 xling: Embedder | None = None):
        self.index = index
        self.embedder = embedder
        self.xling = xling if index.xling_vectors is not None else None
        self._passage_cjk = [has_cjk(p.text) for p in index.passages]
        self._units_of: list[list[int]] = [[] for _ in index.passages]
        for i, u in enumerate(index.units):
            self._units_of[u.passage].append(i)
        self.weights = weights or Weights()
        self._sentences_of: list[list[int]] = [[] for _ in index.passages]
        for i, u in enumerate(index.units):
            if u.kind == "sentence":
                self._sentences_of[u.passage].append(i)
        self.lexical = LexicalIndex([f"{p.title}\n{p.section or ''}\n{p.text}" for p in index.passages])
        self._unit_tokens = [tokenize(u.text) if u.kind == "sentence" else [] for u in index.units]
        self._section_tokens = [tokenize(p.section or "") for p in index.passages]
        self._unit_numbers = [numbers(u.text) if u.kind == "sentence" else set() for u in index.units]

    def search(self, query: str, k: int = 5, mode: str = "hybrid",
               allowed: set[int] | None = None) -> list[Candidate]:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        if not self.index.passages:
            return []
        q_tokens = tokenize(query)
        q_numbers = numbers(query)
        qv = self.embedder.encode([query], query=True)[0] if mode != "bm25" else None
        dense = self._dense_by_passage(qv, k) if qv is not None else {}
        xsims, cross = None, set()
        if mode == "hybrid" and self.xling is not None:
            q_cjk = has_cjk(query)
            cross = {r for r, c in enumerate(self._passage_cjk) if c != q_cjk}
            if cross:
                xsims = self.index.xling_vectors @ self.xling.encode([query], query=True)[0]
                for r in cross:
                    dense[r] = float(xsims[self._units_of[r]].max())
        lex = self.lexical.scores(q_tokens) if mode != "dense" else None
        pool = set(dense)
        if lex is not None:
            top = np.argsort(-lex)[: max(50, 10 * k)]
            pool |= {int(i) for i in top if lex[i] > 0}
        if allowed is not None:
            pool &= allowed
        lex_max = float(lex.max()) if lex is not None and lex.size and lex.max() > 0 else 0.0
        out = []
        for row in pool:
            lexical = float(lex[row]) / lex_max if lex_max else 0.0
            sims = xsims if row in cross else None
            out.append(self._score(row, mode, qv, dense.get(row), lexical, q_tokens, q_numbers, sims))
        out.sort(key=lambda c: (-c.score, c.row))
        return out[:k]

    def _dense_by_passage(self, qv: np.ndarray, k: int) -> dict[int, float]:
        n = self.index.faiss_index.ntotal
        depth = n if n <= 4096 else min(n, max(400, 40 * k))
        scores, ids = self.index.faiss_index.search(qv.reshape(1, -1).astype(np.float32), depth)
        best: dict[int, float] = {}
        for s, i in zip(scores[0], ids[0]):
            if i >= 0:
                row = self.index.units[i].passage
                if s > best.get(row, -np.inf):
                    best[row] = float(s)
        return best

    def _score(self, row: int, mode: str, qv, dense: float | None, lexical: float,
               q_tokens: list[str], q_numbers: set[str], xsims: np.ndarray | None = None) -> Candidate:
        """Score one passage; `xsims` (cross-lingual unit similarities) replaces the dense ones."""
        w = self.weights
        sents = self._sentences_of[row]
        if dense is None and qv is not None:  # found by BM25 only: score its units exactly
            units = self._units_of[row]
            dense = float((self.index.vectors[units] @ qv).max()) if units else 0.0
        dense = dense or 0.0
        best, best_score, best_cov = -1, -np.inf, 0.0
        if xsims is not None:
            sims = xsims[sents]
        elif qv is not None and sents:
            sims = self.index.vectors[sents] @ qv
        else:
            sims = np.zeros(len(sents))
        section = self._section_tokens[row]
        for j, unit in enumerate(sents):
            cov = self.lexical.coverage(q_tokens, self._unit_tokens[unit] + section) if mode != "dense" else 0.0
            num = 1.0 if q_numbers and q_numbers & self._unit_numbers[unit] else 0.0
            s = w.sentence_dense * float(sims[j]) + w.coverage * cov + w.number * num
            if s > best_score:
                best, best_score, best_cov = unit, s, cov
        if mode == "dense":
            score = dense
        elif mode == "bm25":
            score = lexical
        else:
            num = 1.0 if best >= 0 and q_numbers & self._unit_numbers[best] else 0.0
            score = dense + w.bm25 * lexical + w.coverage * best_cov + w.number * num
        return Candidate(row, float(score), best, float(best_score), dense, lexical, best_cov, xsims is not None)

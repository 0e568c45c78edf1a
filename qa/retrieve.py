"""Retrieve: a query → ranked passages, each with the sentence that best answers it.

Dense leg: the query vector against every unit (sentence or sentence window) in FAISS; a passage
scores the best of its units. The highlight is the passage's best-scoring sentence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qa.embed import Embedder
from qa.index import LoadedIndex

MODES = ("dense",)


@dataclass(frozen=True)
class Candidate:
    row: int  # passage row
    score: float
    sentence: int  # unit row of the best sentence in the passage
    sentence_score: float


class Retriever:
    def __init__(self, index: LoadedIndex, embedder: Embedder):
        self.index = index
        self.embedder = embedder
        self._sentences_of: list[list[int]] = [[] for _ in index.passages]
        for i, u in enumerate(index.units):
            if u.kind == "sentence":
                self._sentences_of[u.passage].append(i)

    def search(self, query: str, k: int = 5, mode: str = "dense",
               allowed: set[int] | None = None) -> list[Candidate]:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        if not self.index.units:
            return []
        qv = self.embedder.encode([query], query=True)[0]
        return self._dense(qv, k, allowed)

    def _dense(self, qv: np.ndarray, k: int, allowed: set[int] | None) -> list[Candidate]:
        n = self.index.faiss_index.ntotal
        depth = n if n <= 4096 else min(n, max(200, 40 * k))
        scores, ids = self.index.faiss_index.search(qv.reshape(1, -1).astype(np.float32), depth)
        best: dict[int, float] = {}
        for s, i in zip(scores[0], ids[0]):
            if i < 0:
                continue
            row = self.index.units[i].passage
            if allowed is not None and row not in allowed:
                continue
            if s > best.get(row, -np.inf):
                best[row] = float(s)
        ranked = sorted(best.items(), key=lambda kv: -kv[1])[:k]
        return [self._with_highlight(row, score, qv) for row, score in ranked]

    def _with_highlight(self, row: int, score: float, qv: np.ndarray) -> Candidate:
        sents = self._sentences_of[row]
        if not sents:
            return Candidate(row, score, -1, score)
        sims = self.index.vectors[sents] @ qv
        j = int(np.argmax(sims))
        return Candidate(row, score, sents[j], float(sims[j]))

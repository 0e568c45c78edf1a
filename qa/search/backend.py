"""Search backends: candidate generation behind one interface.

A backend is given a `Query` (its text, BM25 terms, vectors) and the passage rows a filter allows, and
returns `Legs`: the top candidates of each leg with their scores. Everything after that (sentence
evidence, the highlight, the reader, abstention) stays in `qa.search.retrieve` and later stages, and sees
the same candidates whatever the backend:

| leg             | what it scores                                                   | local backend     |
|-----------------|------------------------------------------------------------------|-------------------|
| `dense`         | best MiniLM unit cosine per passage                              | FAISS             |
| `lexical`       | BM25 of the question's terms (passages in the question's script) | bm25s             |
| `cross_lexical` | BM25 of the question's dictionary translation (other script)     | bm25s             |
| `cross_dense`   | best cross-lingual unit cosine (passages in the other script)    | FAISS (or numpy)  |

Each leg's top is `depth(k)` passages. The lexical legs also score every other candidate of their
script (a passage found by its vector still gets its exact BM25), and carry their normaliser: the best
BM25 among all passages of their script, filter or not (the hybrid score divides by it).

`LocalBackend` is what ran in one process before: FAISS and bm25s in memory. Its per-question work is
bounded by k on the vector legs; BM25 (bm25s) adds each query term's postings into one array over the
passages, and the top and the normaliser then look only at the rows it matched (docs/scaling.md,
"Hybrid query at scale", has the measured curve).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from qa.index import vectorstore
from qa.index.folder import LoadedIndex
from qa.search.lexical import LexicalIndex, has_cjk

EXACT_UNITS = 4096  # up to this many units a leg scores every unit exactly (cheap, and no approximation)


def depth(k: int) -> int:
    """Passages each leg returns for a top-k question."""
    return max(50, 10 * k)


@dataclass(frozen=True, eq=False)
class Query:
    """What the backend searches with: the question's text, its BM25 terms, and vectors (None when the
    mode does not use them)."""

    text: str
    tokens: tuple[str, ...]
    cjk: bool  # the question is in Chinese script
    vector: np.ndarray | None = None  # MiniLM, normalised
    cross_sets: tuple[frozenset[str], ...] = ()  # dictionary translation: alternative terms per word
    cross_vector: np.ndarray | None = None  # cross-lingual (hybrid, when the index has those vectors)


@dataclass(frozen=True)
class Where:
    """A question's filter: its reports and years, and the passage rows they select (`allowed_rows`).
    The local backend filters by the rows; an engine turns docs and years into its filter expression."""

    rows: frozenset[int] | None  # None: not worked out (a lean replica: the engine filters by docs and years)
    docs: frozenset[str] = frozenset()
    years: tuple[int, int] | None = None


@dataclass(frozen=True)
class Legs:
    """Candidates per leg: passage row → score. The lexical legs hold every candidate of their script
    (found by any leg, score 0.0 when BM25 does not match it), with their normaliser (`*_best`)."""

    dense: dict[int, float] = field(default_factory=dict)
    lexical: dict[int, float] = field(default_factory=dict)
    lexical_best: float = 0.0
    cross_lexical: dict[int, float] = field(default_factory=dict)
    cross_lexical_best: float = 0.0
    cross_dense: dict[int, float] = field(default_factory=dict)

    def rows(self) -> set[int]:
        """Every candidate row (the pool the retriever scores)."""
        return set(self.dense) | set(self.cross_dense) | set(self.lexical) | set(self.cross_lexical)


class SearchBackend(Protocol):
    name: str

    def candidates(self, query: Query, k: int, where: Where | None = None) -> Legs:
        """The legs' top candidates for a top-k question, inside the filter (None: all passages)."""
        ...


class LocalBackend:
    """FAISS and bm25s in this process (the default)."""

    name = "local"

    def __init__(self, index: LoadedIndex, lexical: LexicalIndex, passage_cjk: np.ndarray | None = None):
        self.index = index
        self.lexical = lexical
        # which passages are Chinese: given by the retriever, which works it out once for both
        self.passage_cjk = (passage_cjk if passage_cjk is not None
                            else np.array([has_cjk(p.text) for p in index.passages], dtype=bool))
        self._unit_passage = np.array([u.passage for u in index.units], dtype=np.int64)
        self._units_of: list[list[int]] = [[] for _ in index.passages]
        for i, u in enumerate(index.units):
            self._units_of[u.passage].append(i)
        self._xling_index = None
        xv = index.xling_vectors
        if xv is not None and len(xv) > EXACT_UNITS:
            self._xling_index = vectorstore.build(xv, vectorstore.choose_index(len(xv), xv.shape[1]))

    def candidates(self, query: Query, k: int, where: Where | None = None) -> Legs:
        want = depth(k)
        allowed = where.rows if where is not None else None
        dense = self._dense(query.vector, k, keep_all=allowed is not None) if query.vector is not None else {}
        cross_dense = self._cross_dense(query, want) if query.cross_vector is not None else {}
        lex = self.lexical.scores(list(query.tokens)) if query.tokens else None
        xlex = self.lexical.set_scores(query.cross_sets) if query.cross_sets else None
        # The rows BM25 matched (score > 0): the lexical legs' top and normalisers look at these only.
        lex_rows, xlex_rows = (None if s is None else np.flatnonzero(s > 0) for s in (lex, xlex))
        pool = set(dense) | set(cross_dense)
        for scores, matched in ((lex, lex_rows), (xlex, xlex_rows)):
            if scores is not None:
                pool |= _top(scores, matched, want)
        if allowed is not None:
            pool &= allowed
        same = {r for r in pool if self.passage_cjk[r] == query.cjk}
        return Legs({r: s for r, s in dense.items() if r in pool},
                    _pick(lex, same), self._best(lex, lex_rows, query.cjk),
                    _pick(xlex, pool - same), self._best(xlex, xlex_rows, not query.cjk),
                    {r: s for r, s in cross_dense.items() if r in pool})

    def _best(self, scores: np.ndarray | None, matched: np.ndarray | None, cjk: bool) -> float:
        """The best positive BM25 among one script's passages (0.0 if none): that leg's normaliser.
        Only the `matched` rows (score > 0) can hold it, so no pass over every passage."""
        if scores is None:
            return 0.0
        rows = matched[self.passage_cjk[matched] == cjk]
        return float(scores[rows].max()) if len(rows) else 0.0

    def _dense(self, qv: np.ndarray, k: int, keep_all: bool = False) -> dict[int, float]:
        """Best unit cosine per passage, for the passages of the top units (the top `depth(k)` passages
        only, unless a filter needs them all)."""
        n = self.index.faiss_index.ntotal
        deep = n if n <= EXACT_UNITS else min(n, max(400, 40 * k))
        scores, ids = vectorstore.search(self.index.faiss_index, qv, deep)
        best: dict[int, float] = {}
        for s, i in zip(scores[0], ids[0]):
            if i >= 0:
                row = int(self._unit_passage[i])
                if s > best.get(row, -np.inf):
                    best[row] = float(s)
        cap = depth(k)
        if keep_all or len(best) <= cap:
            return best
        return dict(sorted(best.items(), key=lambda kv: -kv[1])[:cap])

    def _cross_dense(self, query: Query, want: int) -> dict[int, float]:
        """Best cross-lingual unit cosine per passage in the other script than the question: every such
        passage on a small index (exact), the passages of the top units on a large one."""
        other = not query.cjk
        if self._xling_index is None:
            sims = self.index.xling_vectors @ query.cross_vector
            return {r: float(sims[units].max()) for r in np.flatnonzero(self.passage_cjk == other).tolist()
                    if (units := self._units_of[r])}
        scores, ids = vectorstore.search(self._xling_index, query.cross_vector, max(400, 8 * want))
        best: dict[int, float] = {}
        for s, i in zip(scores[0], ids[0]):
            if i >= 0:
                row = int(self._unit_passage[i])
                if self.passage_cjk[row] == other and s > best.get(row, -np.inf):
                    best[row] = float(s)
        return dict(sorted(best.items(), key=lambda kv: -kv[1])[:want])



def _top(scores: np.ndarray, matched: np.ndarray, want: int) -> set[int]:
    """Rows of the `want` best positive scores; `matched`: the rows with a positive score, ascending.
    Without a tie at the cut the top is found among the matched rows alone. With one, which of the tied
    rows get in is argpartition's own choice over all rows, as it always was (the results stay exactly
    as they were; taking the lowest tied rows instead would be cheaper but change them)."""
    if len(matched) <= want:
        return set(matched.tolist())
    values = scores[matched]
    cut = np.partition(values, len(values) - want)[len(values) - want]  # the want-th best score
    above = matched[values > cut]
    if np.count_nonzero(values == cut) == want - len(above):
        return set(above.tolist()) | set(matched[values == cut].tolist())
    top = np.argpartition(-scores, want - 1)[:want]
    return {int(i) for i in top if scores[i] > 0}


def _pick(scores: np.ndarray | None, rows: set[int]) -> dict[int, float]:
    return {} if scores is None else {r: float(scores[r]) for r in rows}

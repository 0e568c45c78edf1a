"""The Milvus search backend: candidate generation in Milvus (phase 1 of issue 15).

The collections are written by `qa.index.milvus_store` (see its docstring for the layout). Per question:

- `dense`, `cross_dense`: a vector search (metric IP on normalised vectors = cosine) of the units
  collection, with the question's filter as a Milvus expression on `doc` and `year` (and `cjk` for the
  other script); a passage scores its best unit. Depths as `LocalBackend`: every unit on an index of up
  to `EXACT_UNITS` units, else the top max(400, 40k) units.
- `lexical`, `cross_lexical`: Milvus's own BM25 full-text search over the passages collection finds the
  top `depth(k)` passages of the question's script inside the filter (one search; the translated question
  searches once per distinct term, all terms in one call, and a passage's set score is the sum over sets
  of its best term, as `LexicalIndex.set_scores`). The other candidates' terms are fetched by id.
  Scores are then computed exactly from the passages' terms and the corpus statistics the store keeps
  (`{name}_terms`): milvus-lite keeps BM25 statistics per segment, so after an incremental update its own
  scores drift from the corpus-wide ones; a cluster's are corpus-wide but count deleted rows until
  compaction. Milvus picks the candidates; the scores do not depend on how it stores them.
  The normaliser is the best score of an unfiltered search of the script.

Rows: Milvus returns passage ids. With a local index (phase 1), the local index folder maps them to rows,
a passage id the local index does not hold (a row written by an update that has not switched in yet) is
ignored, and everything after candidates (sentence evidence, highlight) reads the local index. A lean
replica passes `records` (qa/search/milvus_records.py) instead: rows are the `row` field Milvus holds,
and the candidates' passages and units are read from Milvus too.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable

import numpy as np

from qa.index.folder import LoadedIndex
from qa.index.milvus_client import encode_term
from qa.index.milvus_store import STATS
from qa.search.backend import EXACT_UNITS, Legs, Query, Where, depth
from qa.search.lexical import BM25_B, BM25_K1, has_cjk

MAX_LIMIT = 16384  # Milvus's largest top-k


def where_expression(where: Where | None, cjk: bool | None = None) -> str:
    """A Milvus filter expression for a question's reports and years (and a script): '' for none."""
    parts = []
    if where is not None and where.docs:
        parts.append(f"doc in {json.dumps(sorted(where.docs), ensure_ascii=False)}")
    if where is not None and where.years is not None:
        parts.append(f"(year >= {int(where.years[0])} and year <= {int(where.years[1])})")
    if cjk is not None:
        parts.append(f"cjk == {'true' if cjk else 'false'}")
    return " and ".join(parts)


class MilvusBackend:
    """Candidates from Milvus collections written by `qa.index.milvus_store.MilvusStore`."""

    name = "milvus"

    def __init__(self, client, collection: str, index: LoadedIndex, records=None):
        self.client = client
        self.passages, self.units, self.terms = f"{collection}_passages", f"{collection}_units", f"{collection}_terms"
        self.records = records
        if records is None:  # phase 1: the local index maps ids to rows
            row_of = index.passage_index()
            cjk = np.array([has_cjk(p.text) for p in index.passages], dtype=bool)
            self._rows_of = lambda pids: {p: row_of[p] for p in pids if p in row_of}
            self._pid = lambda row: index.passages[row].id
            self._cjk = lambda row: bool(cjk[row])
            self._scripts = {bool(c) for c in np.unique(cjk)}
            self._n_units = len(index.units)
        else:  # a lean replica: Milvus's own rows
            self._rows_of = records.rows_of
            self._pid = lambda row: records.passage(row).id
            self._cjk = records.cjk
            self._scripts = {c for c in (False, True) if records.has_script(c)}
            self._n_units = records.n_units
        for name in (self.passages, self.units, self.terms):
            client.load_collection(name)

    def candidates(self, query: Query, k: int, where: Where | None = None) -> Legs:
        want = depth(k)
        dense = self._dense(query.vector, k, where) if query.vector is not None else {}
        cross_dense = self._cross_dense(query, want, where) if query.cross_vector is not None else {}
        sets = [frozenset([t]) for t in dict.fromkeys(query.tokens)] if query.tokens else []
        lex = self._lexical(sets, query.cjk, want, where, singles=list(query.tokens)) if sets else None
        xlex = self._lexical(list(query.cross_sets), not query.cjk, want, where) if query.cross_sets else None
        pool = set(dense) | set(cross_dense)
        for found in (lex, xlex):
            if found is not None:
                pool |= set(found[0])
        if where is not None and where.rows is not None:
            pool &= where.rows
        if self.records is not None:
            self.records.prefetch(pool)
        same = {r for r in pool if self._cjk(r) == query.cjk}
        return Legs({r: s for r, s in dense.items() if r in pool},
                    self._pick(lex, same), lex[1] if lex else 0.0,
                    self._pick(xlex, pool - same), xlex[1] if xlex else 0.0,
                    {r: s for r, s in cross_dense.items() if r in pool})

    # -- dense -----------------------------------------------------------------------------------------
    def _unit_search(self, field: str, vector: np.ndarray, limit: int, expr: str) -> dict[int, float]:
        """Best unit score per passage row among the top `limit` units."""
        res = self.client.search(self.units, [np.asarray(vector, dtype=np.float32).tolist()], anns_field=field,
                                 limit=max(1, min(limit, MAX_LIMIT)), filter=expr, output_fields=["pid"],
                                 search_params={"metric_type": "IP"})
        rows = self._rows_of(hit["entity"]["pid"] for hit in res[0])
        best: dict[int, float] = {}
        for hit in res[0]:
            row = rows.get(hit["entity"]["pid"])
            if row is not None and hit["distance"] > best.get(row, -np.inf):
                best[row] = float(hit["distance"])
        return best

    def _dense(self, qv: np.ndarray, k: int, where: Where | None) -> dict[int, float]:
        n = self._n_units
        deep = n if n <= EXACT_UNITS else min(n, max(400, 40 * k))
        best = self._unit_search("vec", qv, deep, where_expression(where))
        cap = depth(k)
        if where is not None or len(best) <= cap:
            return best
        return dict(sorted(best.items(), key=lambda kv: -kv[1])[:cap])

    def _cross_dense(self, query: Query, want: int, where: Where | None) -> dict[int, float]:
        exact = self._n_units <= EXACT_UNITS
        limit = self._n_units if exact else max(400, 8 * want)
        best = self._unit_search("xvec", query.cross_vector, limit, where_expression(where, not query.cjk))
        if exact:
            return best
        return dict(sorted(best.items(), key=lambda kv: -kv[1])[:want])

    # -- lexical ---------------------------------------------------------------------------------------
    def _lexical(self, sets: list[frozenset[str]], cjk: bool, want: int, where: Where | None,
                 singles: list[str] | None = None) -> tuple[dict[int, float], float, Callable] | None:
        """(top `want` rows inside the filter → exact score, the normaliser, the scorer) for term sets.
        As `LocalBackend`, the top is taken over both scripts and the normaliser over `cjk`'s."""
        stats = self._stats({t for s in sets for t in s})
        sets = [s2 for s in sets if (s2 := frozenset(t for t in s if t in stats["df"]))]
        if not sets:
            return {}, 0.0, lambda found: {}
        if singles is not None:  # the question's own terms: one search (Milvus sums them, as BM25 does)
            singles = [t for t in singles if t in stats["df"]]
            texts = [" ".join(encode_term(t) for t in singles)]
        else:  # a translation: one search per distinct term, in one call (a set counts by its best term)
            texts = sorted({encode_term(t) for s in sets for t in s})

        def scorer(found: dict[int, list[str]]) -> dict[int, float]:
            return _bm25(found, sets, stats, singles)

        scores = scorer(self._bm25_search(texts, want, where_expression(where)))
        top = dict(sorted(((r, v) for r, v in scores.items() if v > 0), key=lambda kv: (-kv[1], kv[0]))[:want])
        if where is None and self._scripts <= {cjk}:
            best = scores  # a corpus in one script: the unfiltered search already holds the script's best
        else:  # the script's best, unfiltered: every row this search returns is in the script
            best = scorer(self._bm25_search(texts, want, where_expression(None, cjk)))
        return top, max([*best.values(), 0.0]), scorer

    def _bm25_search(self, texts: list[str], limit: int, expr: str) -> dict[int, list[str]]:
        """Passage row → its terms, for the top `limit` passages of each query text."""
        res = self.client.search(self.passages, texts, anns_field="sparse", limit=limit, filter=expr,
                                 output_fields=["id", "terms"], search_params={"metric_type": "BM25"})
        rows = self._rows_of(hit["entity"]["id"] for hits in res for hit in hits)
        out = {}
        for hits in res:
            for hit in hits:
                row = rows.get(hit["entity"]["id"])
                if row is not None:
                    out[row] = hit["entity"]["terms"].split()
        return out

    def _stats(self, terms: set[str]) -> dict:
        """Document frequencies of the query's terms (term → count) and the corpus's size and length."""
        keys = {encode_term(t): t for t in terms}
        rows = self.client.get(self.terms, ids=[STATS, *keys], output_fields=["df", "info"])
        df, info = {}, {"passages": 0, "length": 0}
        for r in rows:
            if r["term"] == STATS:
                info = json.loads(r["info"])
            else:
                df[keys[r["term"]]] = int(r["df"])
        return {"df": df, "n": info["passages"], "avgdl": info["length"] / max(info["passages"], 1)}

    def _pick(self, found, rows: set[int]) -> dict[int, float]:
        """The leg's score of every candidate of its script: from its top, or from the terms of the other
        candidates fetched by id (0.0 when none of the query's terms is in them)."""
        if found is None:
            return {}
        top, _, scorer = found
        missing = [r for r in rows if r not in top]
        out = {r: top[r] for r in rows if r in top}
        if missing:
            row_of = {self._pid(r): r for r in missing}
            got = self.client.get(self.passages, ids=list(row_of), output_fields=["terms"])
            scored = scorer({row_of[g["id"]]: g["terms"].split() for g in got if g["id"] in row_of})
            out.update({r: scored.get(r, 0.0) for r in missing})
        return out


def _bm25(found: dict[int, list[str]], sets: list[frozenset[str]], stats: dict,
          singles: list[str] | None) -> dict[int, float]:
    """Exact BM25 (bm25s's Lucene variant: no (k1 + 1) factor) of each passage from its terms: the sum over
    the question's terms (`singles`, repeats counted as bm25s does), or over `sets` of each set's best term."""
    n, avgdl, df = stats["n"], stats["avgdl"], stats["df"]
    idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
    out = {}
    for row, terms in found.items():
        tf, norm = Counter(terms), BM25_K1 * (1 - BM25_B + BM25_B * len(terms) / avgdl)
        part = {}
        for t in idf:
            c = tf.get(encode_term(t), 0)
            part[t] = idf[t] * c / (c + norm) if c else 0.0
        total = sum(part[t] for t in singles) if singles is not None else sum(max(part[t] for t in s) for s in sets)
        out[row] = float(np.float32(total))
    return out


def open_store(index_dir, uri: str | None = None, collection: str | None = None):
    """The Milvus collections of an index folder: `uri` (default: milvus-lite at index/milvus.db) and
    `collection` (default: the one the current build's manifest records, else named from the folder).
    BackendUnavailable if Milvus cannot be used."""
    from pathlib import Path

    from qa.index.folder import recorded_engine
    from qa.index.milvus_client import collection_name, connect, default_uri
    from qa.index.milvus_store import MilvusStore
    from qa.search.lexical import tokenize

    uri = uri or default_uri(Path(index_dir))
    if collection is None:
        engine = recorded_engine(Path(index_dir)) or {}
        collection = engine.get("collection") if engine.get("backend") == "milvus" else None
    return MilvusStore(connect(uri), collection or collection_name(Path(index_dir)), tokenize, has_cjk, uri,
                       bm25=(BM25_K1, BM25_B))

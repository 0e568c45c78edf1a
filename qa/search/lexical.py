"""Lexical leg: BM25 (bm25s) over passages, with a tokeniser for English and Chinese.

English words are lower-cased, stop-word filtered and Snowball-stemmed (PyStemmer); runs of CJK
characters are segmented with jieba, so Chinese questions and Chinese reports score above zero.
Numbers are normalised ("246,600" → "246600") so figures in a question match figures in the text.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# English words that name no topic: left out of the BM25 index and of a question's content words.
STOPWORDS = frozenset("""
a an the and or but of to in on at by for with from into about as is are was were be been being do does
did done have has had what which who whom whose when where why how many much more most less least some
any all each every other than then so such very can could would should will shall may might must this
that these those there here it its they them their theirs he him his she her hers we us our you your
i me my not no nor also too just only again further please tell say said give show list explain
describe know find get got make made set same one ones s t did
""".split())
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[A-Za-z][A-Za-z'’]*|[\u3400-\u9fff]+")
_CJK = re.compile(r"[\u3400-\u9fff]")
_CJK_RUN = re.compile(r"[\u3400-\u9fff]+")
_ZH_STOP = frozenset(("的 了 是 在 和 与 及 对 为 有 多少 什么 哪些 哪个 怎么 如何 吗 呢 个 年 其 该 "
                      "这 那 它 他们 一 共 中 从 到 被 把 就 都 也 还 又 等").split())

# BM25's constants, for every backend (bm25s here; Milvus's own BM25 gets them from open_store): Pyserini's BEIR
# defaults
BM25_K1, BM25_B = 0.9, 0.4


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def _jieba():
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


def load_segmenter() -> None:
    """Load jieba's word list now (1–2 s) rather than at the first Chinese text."""
    _jieba().initialize()


def chinese_words(text: str) -> list[str]:
    """The words (jieba) of a text's CJK runs, less stop words."""
    return [w for run in _CJK_RUN.findall(text) for w in _jieba().cut(run) if w.strip() and w not in _ZH_STOP]


def normalise_number(tok: str) -> str:
    tok = tok.replace(",", "")
    return tok[:-2] if tok.endswith(".0") else tok


def tokenize(text: str) -> list[str]:
    """Index terms of a text: stems for English, jieba words for Chinese, normalised numbers."""
    out: list[str] = []
    stem = _stemmer().stemWord
    for m in _TOKEN.finditer(text):
        tok = m.group(0)
        if tok[0].isdigit():
            out.append(normalise_number(tok))
        elif _CJK.match(tok):
            out.extend(chinese_words(tok))
        else:
            low = tok.lower().strip("'’")
            if low and low not in STOPWORDS and len(low) > 1:
                out.append(stem(low.replace("’", "'")))
    return out


def numbers(text: str) -> set[str]:
    return {normalise_number(t) for t in re.findall(r"\d+(?:[.,]\d+)*", text)}


@dataclass(frozen=True)
class Coverage:
    """A question's alternative-term sets with their weights (each set: its rarest term's IDF)."""

    sets: tuple[frozenset[str], ...]
    weights: tuple[float, ...]
    total: float

    def of(self, present: set[str], context: set[str] = frozenset(), context_credit: float = 0.0) -> float:
        """Share of the weight whose sets are in `present` (`context_credit` of it for sets only in `context`)."""
        got = 0.0
        for s, w in zip(self.sets, self.weights):
            if not present.isdisjoint(s):
                got += w
            elif context_credit and not context.isdisjoint(s):
                got += context_credit * w
        return got / self.total


class Vocabulary:
    """Corpus term statistics: document frequencies and what they weigh (IDF-weighted term coverage, the
    share of a question's IDF mass no passage holds). A lean replica holds only this (from Milvus's terms
    collection); `LexicalIndex` adds BM25 over the passages."""

    def __init__(self, df: dict[str, int], n: int):
        self.df = df
        self.idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        self.unknown_idf = math.log(1 + (n + 0.5) / 0.5)
        self._coverage: dict[tuple[frozenset[str], ...], Coverage] = {}

    def set_coverage(self, term_sets, text_tokens, context_tokens=(), context_credit: float = 0.0) -> float:
        """`coverage` for alternative-term sets: a set is present when any of its terms is, and
        weighs its rarest term's IDF. A set found only in `context_tokens` (what the text's earlier
        sentences said: "he", "it" refer back to them) counts `context_credit` of its weight."""
        if not term_sets:
            return 0.0
        return self.coverage(tuple(term_sets)).of(set(text_tokens), set(context_tokens), context_credit)

    def coverage(self, term_sets: tuple[frozenset[str], ...]) -> Coverage:
        """`set_coverage` with the sets' weights worked out once (a question scores many sentences)."""
        cached = self._coverage.get(term_sets)
        if cached is None:
            weights = tuple(max(self.idf.get(t, self.unknown_idf) for t in s) for s in term_sets)
            total = 0.0
            for w in weights:  # summed in order, as `set_coverage` always did
                total += w
            cached = Coverage(term_sets, weights, total)
            if len(self._coverage) >= 64:  # the last few questions' sets; a question scores ~100 passages
                self._coverage.clear()
            self._coverage[term_sets] = cached
        return cached

    def unknown_share(self, query_tokens: list[str]) -> float:
        """Share of a query's IDF mass in terms no passage contains (0…1)."""
        q = sorted(set(query_tokens))  # sorted: a float sum in set order varied with PYTHONHASHSEED
        if not q:
            return 0.0
        total = sum(self.idf.get(t, self.unknown_idf) for t in q)
        return sum(self.unknown_idf for t in q if t not in self.idf) / total


class LexicalIndex(Vocabulary):
    """BM25 over passage texts (with their section and title), plus the vocabulary's statistics."""

    def __init__(self, texts: list[str], k1: float = BM25_K1, b: float = BM25_B):
        import logging

        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets DEBUG on import
        self.docs = [tokenize(t) for t in texts]
        self.bm25 = bm25s.BM25(k1=k1, b=b)
        self.bm25.index([d or ["\u2205"] for d in self.docs], show_progress=False)
        df: dict[str, int] = {}
        for d in self.docs:
            for t in set(d):
                df[t] = df.get(t, 0) + 1
        super().__init__(df, len(self.docs))

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        known = [t for t in query_tokens if t in self.df]
        if not known:
            return np.zeros(len(self.docs), dtype=np.float32)
        return np.asarray(self.bm25.get_scores(known), dtype=np.float32)

    def set_scores(self, term_sets) -> np.ndarray:
        """BM25 for a query of alternative-term sets (a translated question, see qa/search/translate.py):
        each set counts once, by its best-scoring term in each passage."""
        total = np.zeros(len(self.docs), dtype=np.float32)
        per = {t: np.asarray(self.bm25.get_scores([t]), dtype=np.float32)
               for t in {t for s in term_sets for t in s if t in self.df}}
        for s in term_sets:
            found = [per[t] for t in s if t in per]
            if found:
                total += np.max(found, axis=0)
        return total

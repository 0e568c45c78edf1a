"""Records: what the retriever reads of each candidate passage after the backend has found it.

Candidate generation (qa/search/backend.py) gives passage rows. Scoring them (sentence evidence, the
highlight, the second opinion, names) then reads, for those rows only: the passage, its units (sentences
and windows) with their text, index terms and numbers, and their vectors. `Records` is that read:

- `LocalRecords` (the default) holds the whole index in this process, as the retriever always did: every
  passage and unit, their terms worked out once at start, the vectors memory-mapped.
- `qa.search.milvus_records.MilvusRecords` holds none of it: `prefetch` reads the candidates' passages
  and units (with vectors) from Milvus, once per question (a *lean* replica, docs/scaling.md).

Unit ids are the retriever's handle on a unit (`Candidate.sentence`): the unit's row in the local index,
or in a lean replica `row * UNIT_SLOTS + position in its passage`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import numpy as np

from qa.index.folder import LoadedIndex
from qa.search.lexical import has_cjk, numbers, tokenize
from qa.types import Passage, Unit


class Records(Protocol):
    passage_cjk: np.ndarray | None  # per row: Chinese script? (LocalBackend's; None when not held)
    has_xling: bool  # the index has cross-lingual vectors

    def begin(self) -> None:
        """A new question starts (a remote store looks rows up afresh: a writer may have moved them)."""
        ...

    def prefetch(self, rows: Iterable[int]) -> None:
        """Make these rows' passages and units cheap to read (a remote store fetches them in one go)."""
        ...

    def passage(self, row: int) -> Passage: ...
    def cjk(self, row: int) -> bool: ...  # the passage is in Chinese script
    def has_script(self, cjk: bool) -> bool: ...  # does any passage use that script?
    def units_of(self, row: int) -> Sequence[int]: ...  # unit ids, in the passage's order
    def sentences_of(self, row: int) -> Sequence[int]: ...  # the sentence units among them
    def unit(self, uid: int) -> Unit: ...
    def unit_tokens(self, uid: int) -> list[str]: ...  # a sentence's index terms ([] for a window)
    def unit_numbers(self, uid: int) -> set[str]: ...
    def section_tokens(self, row: int) -> list[str]: ...
    def terms(self, row: int) -> list[str]: ...  # the passage's index terms: title, section and text
    def vectors(self, uids: Sequence[int]) -> np.ndarray: ...  # MiniLM unit vectors
    def xvectors(self, uids: Sequence[int], columns: slice | None = None) -> np.ndarray:
        """Cross-lingual unit vectors (`columns`: one model's block of them)."""
        ...

    def row_of(self, pid: str) -> int | None: ...  # a passage id's row (None: not in the index)


class LocalRecords:
    """The whole index in this process; per-unit terms and numbers worked out once."""

    def __init__(self, index: LoadedIndex, terms: list[list[str]] | None = None):
        self.index = index
        self.passage_cjk = np.array([has_cjk(p.text) for p in index.passages], dtype=bool)
        self._scripts = {bool(c) for c in np.unique(self.passage_cjk)}
        self._units_of: list[list[int]] = [[] for _ in index.passages]
        self._sentences_of: list[list[int]] = [[] for _ in index.passages]
        for i, u in enumerate(index.units):
            self._units_of[u.passage].append(i)
            if u.kind == "sentence":
                self._sentences_of[u.passage].append(i)
        self._unit_tokens = [tokenize(u.text) if u.kind == "sentence" else [] for u in index.units]
        self._section_tokens = [tokenize(p.section or "") for p in index.passages]
        self._unit_numbers = [numbers(u.text) if u.kind == "sentence" else set() for u in index.units]
        self._terms = terms  # the lexical index's token lists, when it has them (shared, not copied)
        self.has_xling = index.xling_vectors is not None
        self._row_of: dict[str, int] | None = None

    def begin(self) -> None:
        pass

    def prefetch(self, rows: Iterable[int]) -> None:
        pass

    def passage(self, row: int) -> Passage:
        return self.index.passages[row]

    def cjk(self, row: int) -> bool:
        return bool(self.passage_cjk[row])

    def has_script(self, cjk: bool) -> bool:
        return cjk in self._scripts

    def units_of(self, row: int) -> list[int]:
        return self._units_of[row]

    def sentences_of(self, row: int) -> list[int]:
        return self._sentences_of[row]

    def unit(self, uid: int) -> Unit:
        return self.index.units[uid]

    def unit_tokens(self, uid: int) -> list[str]:
        return self._unit_tokens[uid]

    def unit_numbers(self, uid: int) -> set[str]:
        return self._unit_numbers[uid]

    def section_tokens(self, row: int) -> list[str]:
        return self._section_tokens[row]

    def terms(self, row: int) -> list[str]:
        if self._terms is not None:
            return self._terms[row]
        p = self.index.passages[row]
        return tokenize(p.lexical_text())

    def vectors(self, uids: Sequence[int]) -> np.ndarray:
        return self.index.vectors[uids]

    def xvectors(self, uids: Sequence[int], columns: slice | None = None) -> np.ndarray:
        xv = self.index.xling_vectors
        return (xv if columns is None else xv[:, columns])[uids]

    def row_of(self, pid: str) -> int | None:
        if self._row_of is None:
            self._row_of = self.index.passage_index()
        return self._row_of.get(pid)

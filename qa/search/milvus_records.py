"""A lean replica's records: the candidates' passages, units and vectors read from Milvus per question.

`MilvusRecords` implements `qa.search.records.Records` over the collections `qa.index.milvus_store` writes.
The process holds no passage, unit or vector of its own: `prefetch` reads, for one question's candidate
rows, their passages and all their units with both vectors, by primary key (the ids the candidate search
returned; a unit's key is its passage id and position). What is read is kept by the passage's `sig`, a
hash of everything its row holds, so it never goes stale (the last few thousand passages). What else
stays in memory: the term statistics (`vocabulary`, read once per build), and the build's manifest and
document list.

Rows: each question looks rows up afresh (`begin`; a thread's question sees one consistent row ↔ id
map, as Milvus gave it), since a writer's update moves them. Unit ids are `row * UNIT_SLOTS + position in
the passage` (the units keep the build's order, so ties break as they do locally); a unit's text is its
passage's text between its offsets.

During an update, Milvus briefly holds both the old and the new rows of a changed report (the writer
upserts before it switches `CURRENT`, and deletes after); a question asked then may see either, and where
two passages claim one row, the first the question met keeps it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from qa.index.milvus_client import decode_term
from qa.index.milvus_store import STATS
from qa.search.lexical import Vocabulary, numbers, tokenize
from qa.types import Passage, Unit

UNIT_SLOTS = 4096  # unit ids per passage row (a passage has far fewer units)
CACHE_PASSAGES = 4096  # passages kept between questions, by id (a question's candidates are ~50–150)
BATCH = 512  # ids per Milvus query
FIELDS = ["id", "row", "sig", "record", "section", "text", "cjk"]  # a passage, as read


@dataclass(frozen=True)
class _Content:
    """A passage as one `sig` has it (a sig hashes everything the passage row holds: it never goes stale)."""

    passage: Passage
    cjk: bool
    units: tuple[tuple[int, int, str], ...]  # (start, end, kind) per unit, in the passage's order
    vectors: np.ndarray  # MiniLM, a row per unit
    xvectors: np.ndarray | None
    tokens: tuple[list[str], ...]  # per unit: a sentence's index terms ([] for a window)
    numbers: tuple[set[str], ...]
    section_tokens: list[str]


class MilvusRecords:
    """Records read from Milvus per question (see the module docstring)."""

    passage_cjk = None  # not held: LocalBackend cannot run on these records

    def __init__(self, client, collection: str, *, has_xling: bool, units: int):
        self.client = client
        self.passages, self.units, self.terms = f"{collection}_passages", f"{collection}_units", f"{collection}_terms"
        self.has_xling = has_xling
        self.n_units = units  # the build's unit count (the backend's exact-search depth)
        for name in (self.passages, self.units, self.terms):
            client.load_collection(name)
        self._scripts = {cjk for cjk in (False, True)
                         if client.query(self.passages, filter=f"cjk == {str(cjk).lower()}", output_fields=["id"],
                                         limit=1)}
        self._content: dict[str, _Content] = {}  # by the passage's `sig` (what it holds), shared by every question
        self._local = threading.local()  # this thread's question: row ↔ passage id as Milvus said then

    # -- one question's view of rows --------------------------------------------------------------------
    def begin(self) -> None:
        """A new question: rows are looked up afresh (a writer may have moved them since the last one)."""
        self._local.pid_at, self._local.row_of, self._local.sig = {}, {}, {}

    def _view(self) -> tuple[dict[int, str], dict[str, int], dict[str, str]]:
        if not hasattr(self._local, "pid_at"):
            self.begin()
        return self._local.pid_at, self._local.row_of, self._local.sig

    def _bind(self, r: dict) -> None:
        """Record a passage row Milvus returned (id, row, sig) in this question's view."""
        pid_at, row_of, sig = self._view()
        pid, row = r["id"], int(r["row"])
        if row not in pid_at and pid not in row_of:  # during an update two ids may claim a row: the first stays
            pid_at[row], row_of[pid], sig[pid] = pid, row, r["sig"]

    # -- the Records protocol ---------------------------------------------------------------------------
    def prefetch(self, rows: Iterable[int]) -> None:
        pid_at, _, sig = self._view()
        rows = {int(r) for r in rows}
        missing = sorted(rows - pid_at.keys())
        fetched: dict[str, dict] = {}
        for i in range(0, len(missing), BATCH):  # rows not met through a search (neighbours, a listing)
            for r in self.client.query(self.passages, filter=f"row in {missing[i:i + BATCH]}", output_fields=FIELDS):
                self._bind(r)
                fetched[r["id"]] = r
        wanted = {pid_at[r] for r in rows if r in pid_at and sig[pid_at[r]] not in self._content}
        if wanted:
            self._load(wanted, fetched)

    def _load(self, pids: set[str], fetched: dict[str, dict]) -> None:
        """Read these passages (those not in `fetched` yet) and all their units with their vectors, by key."""
        todo = sorted(pids - fetched.keys())
        for i in range(0, len(todo), BATCH):
            for r in self.client.get(self.passages, ids=todo[i:i + BATCH], output_fields=FIELDS):
                fetched[r["id"]] = r
        got = {pid: fetched[pid] for pid in sorted(pids & fetched.keys())}
        keys = [f"{pid}:{j}" for pid, r in got.items() for j in range(json.loads(r["record"]).get("units", 0))]
        fields = ["pid", "pos", "start", "end", "kind", "vec"] + (["xvec"] if self.has_xling else [])
        units: dict[str, list[dict]] = {}
        for i in range(0, len(keys), BATCH):
            for u in self.client.get(self.units, ids=keys[i:i + BATCH], output_fields=fields):
                units.setdefault(u["pid"], []).append(u)
        if len(self._content) + len(got) > CACHE_PASSAGES:
            self._content.clear()
        for pid, r in got.items():
            self._content[r["sig"]] = _content(r, sorted(units.get(pid, []), key=lambda u: u["pos"]), self.has_xling)

    def _get(self, row: int) -> _Content:
        pid_at, _, sig = self._view()
        if row not in pid_at or sig[pid_at[row]] not in self._content:
            self.prefetch([row])
        pid = pid_at.get(row)
        if pid is None:
            raise KeyError(f"no passage at row {row} in Milvus")
        return self._content[sig[pid]]

    def passage(self, row: int) -> Passage:
        return self._get(row).passage

    def cjk(self, row: int) -> bool:
        return self._get(row).cjk

    def has_script(self, cjk: bool) -> bool:
        return cjk in self._scripts

    def units_of(self, row: int) -> list[int]:
        return [row * UNIT_SLOTS + j for j in range(len(self._get(row).units))]

    def sentences_of(self, row: int) -> list[int]:
        return [row * UNIT_SLOTS + j for j, u in enumerate(self._get(row).units) if u[2] == "sentence"]

    def unit(self, uid: int) -> Unit:
        row, j = divmod(uid, UNIT_SLOTS)
        c = self._get(row)
        start, end, kind = c.units[j]
        return Unit(row, start, end, kind, c.passage.text[start:end])

    def unit_tokens(self, uid: int) -> list[str]:
        return self._get(uid // UNIT_SLOTS).tokens[uid % UNIT_SLOTS]

    def unit_numbers(self, uid: int) -> set[str]:
        return self._get(uid // UNIT_SLOTS).numbers[uid % UNIT_SLOTS]

    def section_tokens(self, row: int) -> list[str]:
        return self._get(row).section_tokens

    def terms(self, row: int) -> list[str]:
        p = self._get(row).passage
        return tokenize(p.lexical_text())

    def vectors(self, uids: Sequence[int]) -> np.ndarray:
        return self._block(uids, lambda c: c.vectors)

    def xvectors(self, uids: Sequence[int], columns: slice | None = None) -> np.ndarray:
        out = self._block(uids, lambda c: c.xvectors)
        return out if columns is None else out[:, columns]

    def _block(self, uids: Sequence[int], which) -> np.ndarray:
        """The vectors of these units, in order (one passage's units: rows of its block)."""
        rows = {uid // UNIT_SLOTS for uid in uids}
        if len(rows) == 1:
            (row,) = rows
            return which(self._get(row))[[uid % UNIT_SLOTS for uid in uids]]
        return np.vstack([which(self._get(uid // UNIT_SLOTS))[uid % UNIT_SLOTS] for uid in uids])

    # -- what the backend and the service ask besides ----------------------------------------------------
    def rows_of(self, pids: Iterable[str]) -> dict[str, int]:
        """Passage id → row for this question, for ids Milvus holds (one read by key for the ids not seen yet)."""
        _, row_of, _ = self._view()
        pids = list(dict.fromkeys(pids))
        todo = [p for p in pids if p not in row_of]
        for i in range(0, len(todo), BATCH):
            for r in self.client.get(self.passages, ids=todo[i:i + BATCH], output_fields=["id", "row", "sig"]):
                self._bind(r)
        return {p: row_of[p] for p in pids if p in row_of}

    def row_of(self, pid: str) -> int | None:
        return self.rows_of([pid]).get(pid)

    def vocabulary(self) -> Vocabulary:
        """The corpus's term statistics, read once (every row of the terms collection)."""
        df, n = {}, 0
        it = self.client.query_iterator(self.terms, batch_size=8192, filter="", output_fields=["term", "df", "info"])
        while batch := it.next():
            for r in batch:
                if r["term"] == STATS:
                    n = json.loads(r["info"])["passages"]
                elif not r["term"].startswith("__"):
                    df[decode_term(r["term"])] = int(r["df"])
        it.close()
        return Vocabulary(dict(sorted(df.items())), n)

    def scan(self) -> list[Passage]:
        """Every passage, in row order (reads the whole collection: the Sources tab of a small corpus)."""
        got = {}
        it = self.client.query_iterator(self.passages, batch_size=BATCH, filter="",
                                        output_fields=["row", "record", "section", "text"])
        while batch := it.next():
            for r in batch:
                got.setdefault(int(r["row"]), r)
        it.close()
        return [_passage(r) for _, r in sorted(got.items())]


def _content(r: dict, units: list[dict], has_xling: bool) -> _Content:
    p = _passage(r)
    spans = tuple((int(u["start"]), int(u["end"]), u["kind"]) for u in units)
    vec = _matrix([u["vec"] for u in units])
    xvec = _matrix([u["xvec"] for u in units]) if has_xling else None
    texts = [(p.text[a:b], kind) for a, b, kind in spans]
    tokens = tuple(tokenize(t) if kind == "sentence" else [] for t, kind in texts)
    nums = tuple(numbers(t) if kind == "sentence" else set() for t, kind in texts)
    return _Content(p, bool(r["cjk"]), spans, vec, xvec, tokens, nums, tokenize(p.section or ""))


def _matrix(rows: list[list[float]]) -> np.ndarray:
    return np.array(rows, dtype=np.float32) if rows else np.zeros((0, 1), dtype=np.float32)


def _passage(r: dict) -> Passage:
    return Passage.from_dict({**json.loads(r["record"]), "section": r["section"] or None, "text": r["text"]})


class LeanPassages(Sequence):
    """`LoadedIndex.passages` for a lean replica: its length from the manifest, each passage read on demand."""

    def __init__(self, records: MilvusRecords, count: int):
        self.records, self.count = records, count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self.records.passage(r) for r in range(*i.indices(self.count))]
        if i < 0:
            i += self.count
        if not 0 <= i < self.count:
            raise IndexError(i)
        return self.records.passage(i)

    def __iter__(self):
        return iter(self.records.scan())

"""Write an index to Milvus (`pymilvus.MilvusClient`): the engine side of the Milvus search backend.

Three collections per index, named from the index folder (or chosen with `--milvus-collection`):

| collection        | a row per | fields                                                                   |
|-------------------|-----------|--------------------------------------------------------------------------|
| `{name}_passages` | passage   | id (pk), row, doc, year (-1: none), section, text, record, cjk, sig, terms → BM25 |
| `{name}_units`    | unit      | key (pk), sig, pid, pos, start, end, kind, doc, year, cjk, vec (MiniLM), xvec (cross-lingual) |
| `{name}_terms`    | term      | term (pk), df; meta rows `__stats__` (passages, length), `__build__`     |

A unit's key is its passage id and its position among the passage's units; a passage's and a unit's
`sig` hash what they hold (a passage's row included), so a changed one is written again. `record` holds
the rest of the `Passage` (title, paragraph, offsets, page) and its unit count, and a unit's text is its
passage's between its offsets, so a lean replica (qa/search/milvus_records.py) reads whole passages and
units from here alone, by key.

Why not one collection: Milvus's BM25 function turns every row of a collection into a document, so its
statistics (document count, average length, document frequencies) must count passages, not units; and
units come 3–6 to a passage, each with two vectors, while BM25 text is per passage. Two collections keep
both exact. The terms collection holds the exact corpus statistics, so the query side can score BM25
exactly whatever the engine's own statistics are (milvus-lite keeps them per segment, see
qa/search/milvus_backend.py).

BM25 text: the `terms` field holds our own index terms (`qa.search.lexical.tokenize` of title, section
and text: stems, jieba words for Chinese, normalised numbers), space-joined and encoded so that Milvus's
`standard` analyzer (`\\w+`, lower-case) keeps each one whole: a term of ASCII letters and digits stays
as it is, any other ("3.5", "don't", 扶贫) becomes `u_` + its UTF-8 in hex. milvus-lite has no
`whitespace` tokenizer, and a real Milvus `standard` tokenizer would split Chinese into characters.

Incremental and crash-safe: `write` upserts only the passages and units whose content key is new or
changed (and every passage whose row moved), then the term statistics; `prune` deletes what the index no
longer has; `mark` records the build. `qa.index.build` calls `write` before it switches `CURRENT` and
`prune` + `mark` after, so a SIGKILL mid-write leaves the old local index live, with extra rows in Milvus
that the query side ignores (their passage id is not in the local index); the next run sees the stale
index and completes the update.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from qa.index.milvus_client import encode_term
from qa.ingest.units import embedding_text

log = logging.getLogger(__name__)

BATCH = 500  # rows per upsert
EMPTY_TERM = "\u2205"  # bm25s indexes an empty passage as this one term; so does the store
STATS, BUILD = "__stats__", "__build__"  # meta rows of the terms collection (no encoded term starts with "_")
MAX_TEXT = 65535
# 2: passage records, units keyed by position (lean replicas); 3: records up to MAX_TEXT bytes (a long title
# no longer cut mid-JSON). A store marked with another layout is rewritten.
LAYOUT = 3


class MilvusStore:
    """One index's collections in Milvus. `tokenize` and `has_cjk` are the lexical stage's (injected:
    this stage comes before qa.search)."""

    def __init__(self, client, name: str, tokenize: Callable[[str], list[str]], has_cjk: Callable[[str], bool],
                 uri: str | None = None, *, bm25: tuple[float, float]):
        self.client = client
        self.uri = uri
        self.name = name
        self.tokenize = tokenize
        self.has_cjk = has_cjk
        self.bm25 = bm25  # (k1, b) of Milvus's own BM25 function: the lexical stage's (open_store passes them)
        self.passages, self.units, self.terms = f"{name}_passages", f"{name}_units", f"{name}_terms"

    def describe(self) -> dict:
        """What a build's manifest records of the engine it was written to (not the uri: a replica on
        another machine may reach the same engine by another address)."""
        return {"backend": "milvus", "collection": self.name, "layout": LAYOUT}

    def collections(self) -> list[str]:
        """The names of the indexes this engine holds (each is three collections)."""
        return sorted(n[:-len("_terms")] for n in self.client.list_collections() if n.endswith("_terms"))

    def close(self) -> None:
        """Close the client; for milvus-lite also stop its in-process server, which frees the .db file for
        another process (milvus-lite lets one process at a time open a file)."""
        self.client.close()
        if self.uri and "://" not in self.uri:
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(self.uri)

    # -- schema ---------------------------------------------------------------------------------------
    def ensure(self, dim: int, xdim: int | None) -> None:
        """Create the collections if missing (or recreate them when the vector dimensions changed), and
        load them."""
        c = self.client
        if c.has_collection(self.units):
            fields = {f["name"]: f for f in c.describe_collection(self.units)["fields"]}
            have = (fields["vec"]["params"].get("dim"), fields.get("xvec", {}).get("params", {}).get("dim"))
            if (int(have[0]), int(have[1]) if have[1] else None) != (dim, xdim):
                log.info("Milvus collections %s: vector dimensions changed, recreating", self.name)
                self.drop()
            elif "sig" not in fields or (c.has_collection(self.passages) and _record_bytes(c, self.passages) < MAX_TEXT):
                log.info("Milvus collections %s: written by an older version, recreating", self.name)
                self.drop()
        if not c.has_collection(self.passages):
            self._create_passages()
        if not c.has_collection(self.units):
            self._create_units(dim, xdim)
        if not c.has_collection(self.terms):
            self._create_terms()
        for name in (self.passages, self.units, self.terms):
            c.load_collection(name)

    def drop(self) -> None:
        for name in (self.passages, self.units, self.terms):
            if self.client.has_collection(name):
                self.client.drop_collection(name)

    def _create_passages(self) -> None:
        from pymilvus import DataType, Function, FunctionType

        s = self.client.create_schema(auto_id=False)
        s.add_field("id", DataType.VARCHAR, is_primary=True, max_length=256)
        s.add_field("row", DataType.INT64)
        s.add_field("doc", DataType.VARCHAR, max_length=256)
        s.add_field("year", DataType.INT64)
        s.add_field("cjk", DataType.BOOL)
        s.add_field("sig", DataType.VARCHAR, max_length=64)
        s.add_field("section", DataType.VARCHAR, max_length=MAX_TEXT)
        s.add_field("text", DataType.VARCHAR, max_length=MAX_TEXT)
        s.add_field("record", DataType.VARCHAR, max_length=MAX_TEXT)
        s.add_field("terms", DataType.VARCHAR, max_length=MAX_TEXT, enable_analyzer=True,
                    analyzer_params={"tokenizer": "standard"})
        s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        s.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["terms"],
                                output_field_names=["sparse"]))
        ip = self.client.prepare_index_params()
        ip.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                     params={"bm25_k1": self.bm25[0], "bm25_b": self.bm25[1]})
        ip.add_index("row", index_type="INVERTED")  # a lean replica reads candidates by row
        self.client.create_collection(self.passages, schema=s, index_params=ip)

    def _create_units(self, dim: int, xdim: int | None) -> None:
        from pymilvus import DataType

        s = self.client.create_schema(auto_id=False)
        s.add_field("key", DataType.VARCHAR, is_primary=True, max_length=320)
        s.add_field("pid", DataType.VARCHAR, max_length=256)
        s.add_field("sig", DataType.VARCHAR, max_length=64)
        s.add_field("pos", DataType.INT64)
        s.add_field("start", DataType.INT64)
        s.add_field("end", DataType.INT64)
        s.add_field("kind", DataType.VARCHAR, max_length=16)
        s.add_field("doc", DataType.VARCHAR, max_length=256)
        s.add_field("year", DataType.INT64)
        s.add_field("cjk", DataType.BOOL)
        s.add_field("vec", DataType.FLOAT_VECTOR, dim=dim)
        ip = self.client.prepare_index_params()
        ip.add_index("vec", index_type="FLAT", metric_type="IP")  # exact; a cluster would choose HNSW/IVF
        ip.add_index("pid", index_type="INVERTED")  # a lean replica reads a passage's units by its id
        if xdim:
            s.add_field("xvec", DataType.FLOAT_VECTOR, dim=xdim)
            ip.add_index("xvec", index_type="FLAT", metric_type="IP")
        self.client.create_collection(self.units, schema=s, index_params=ip)

    def _create_terms(self) -> None:
        from pymilvus import DataType

        s = self.client.create_schema(auto_id=False)
        s.add_field("term", DataType.VARCHAR, is_primary=True, max_length=1024)
        s.add_field("df", DataType.INT64)
        s.add_field("info", DataType.VARCHAR, max_length=4096)
        s.add_field("dummy", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants a vector field in every collection
        ip = self.client.prepare_index_params()
        ip.add_index("dummy", index_type="FLAT", metric_type="IP")
        self.client.create_collection(self.terms, schema=s, index_params=ip)

    # -- writing --------------------------------------------------------------------------------------
    def synced_build(self) -> str | None:
        """The build folder name Milvus was last completely updated to (None: never, unfinished, or written
        in an older layout, which the next `write` recreates)."""
        if not self.client.has_collection(self.terms):
            return None
        self.client.load_collection(self.terms)
        rows = self.client.get(self.terms, ids=[BUILD], output_fields=["info"])
        info = json.loads(rows[0]["info"]) if rows else {}
        return info.get("build") if info.get("layout") == LAYOUT else None

    def write(self, index, progress: bool = False) -> dict[str, int]:
        """Upsert the index's new or changed passages and units and the term statistics (removed ones
        stay until `prune`). Returns counts of rows written."""
        self.ensure(index.vectors.shape[1], None if index.xling_vectors is None else index.xling_vectors.shape[1])
        rows, terms = self._passage_rows(index)
        have = self._existing(self.passages, "id", "sig")
        changed = [r for r in rows if have.get(r["id"]) != r["sig"]]
        self._upsert(self.passages, changed, progress, "passages")
        units = self._unit_rows(index)
        have_units = self._existing(self.units, "key", "sig")
        new_units = [i for i, (key, sig) in enumerate(units) if have_units.get(key) != sig]
        self._upsert(self.units, self._materialise_units(index, units, new_units), progress, "units")
        self._write_stats(terms)
        self.client.flush(self.passages)
        self.client.flush(self.units)
        return {"passages": len(changed), "units": len(new_units)}

    def prune(self, index) -> dict[str, int]:
        """Delete the passages and units the index no longer holds (removed or changed reports)."""
        keep = {p.id for p in index.passages}
        gone = [pid for pid in self._existing(self.passages, "id") if pid not in keep]
        keys = {key for key, _ in self._unit_rows(index)}
        gone_units = [k for k in self._existing(self.units, "key") if k not in keys]
        for name, ids in ((self.passages, gone), (self.units, gone_units)):
            for i in range(0, len(ids), BATCH):
                self.client.delete(name, ids=ids[i:i + BATCH])
            self.client.flush(name)
        return {"passages": len(gone), "units": len(gone_units)}

    def mark(self, build: str) -> None:
        self.client.upsert(self.terms, [{"term": BUILD, "df": 0, "info": json.dumps({"build": build, "layout": LAYOUT}),
                                         "dummy": [0.0, 0.0]}])
        self.client.flush(self.terms)

    def _passage_rows(self, index) -> tuple[list[dict], list[list[str]]]:
        """A row per passage, and each passage's index terms (as `LexicalIndex` tokenises them)."""
        rows, all_terms = [], []
        n_units = Counter(u.passage for u in index.units)
        for row, p in enumerate(index.passages):
            terms = self.tokenize(p.lexical_text()) or [EMPTY_TERM]
            all_terms.append(terms)
            fields = {"id": p.id, "row": row, "doc": p.doc, "year": p.year if p.year is not None else -1,
                      "cjk": self.has_cjk(p.text), "section": (p.section or "")[:MAX_TEXT // 4],
                      "text": p.text[:MAX_TEXT // 4], "record": passage_record(p, n_units[row]),
                      "terms": " ".join(map(encode_term, terms))[:MAX_TEXT]}
            fields["sig"] = hashlib.sha256(json.dumps(fields, ensure_ascii=False, sort_keys=True).encode()).hexdigest()
            rows.append(fields)
        return rows, all_terms

    @staticmethod
    def _unit_rows(index) -> list[tuple[str, str]]:
        """Each unit's key, `{passage id}:{position among the passage's units}` (read back by key, the
        fastest read an engine has), and its `sig`: a hash of its offsets, kind and the text embedded (with
        the year it carries), so an edited unit is written again and an unchanged one is left alone."""
        rows, pos, last = [], 0, None
        for u in index.units:
            pos = pos + 1 if u.passage == last else 0
            last = u.passage
            p = index.passages[u.passage]
            sig = f"{u.start}\0{u.end}\0{u.kind}\0{embedding_text(p, u)}\0{u.text}\0{p.year}"
            rows.append((f"{p.id}:{pos}", hashlib.sha256(sig.encode()).hexdigest()[:16]))
        return rows

    def _materialise_units(self, index, keys: list[tuple[str, str]], which: list[int]):
        """Unit rows for the positions `which` (generated in batches: vectors are read as they go)."""
        xv = index.xling_vectors
        for i in which:
            u = index.units[i]
            p = index.passages[u.passage]
            key, sig = keys[i]
            row = {"key": key, "sig": sig, "pid": p.id, "pos": int(key.rsplit(":", 1)[1]), "start": u.start, "end": u.end,
                   "kind": u.kind, "doc": p.doc, "year": p.year if p.year is not None else -1,
                   "cjk": self.has_cjk(p.text), "vec": np.asarray(index.vectors[i], dtype=np.float32).tolist()}
            if xv is not None:
                row["xvec"] = np.asarray(xv[i], dtype=np.float32).tolist()
            yield row

    def _write_stats(self, terms: list[list[str]]) -> None:
        """Document frequency of every term, the passage count and total length (exact BM25 statistics)."""
        df = Counter(encode_term(t) for doc in terms for t in set(doc))
        have = self._existing(self.terms, "term", "df")
        changed = [{"term": t, "df": n, "info": "", "dummy": [0.0, 0.0]} for t, n in df.items() if have.get(t) != n]
        self._upsert(self.terms, changed, False, "terms")
        gone = [t for t in have if t not in df and t not in (STATS, BUILD)]
        for i in range(0, len(gone), BATCH):
            self.client.delete(self.terms, ids=gone[i:i + BATCH])
        info = {"passages": len(terms), "length": sum(len(d) for d in terms)}
        self.client.upsert(self.terms, [{"term": STATS, "df": 0, "info": json.dumps(info), "dummy": [0.0, 0.0]}])
        self.client.flush(self.terms)

    def _existing(self, collection: str, key: str, value: str | None = None) -> dict:
        """Every row's primary key (→ one field) in a collection, read with an iterator."""
        out = {}
        it = self.client.query_iterator(collection, batch_size=4096, filter="",
                                        output_fields=[key] + ([value] if value else []))
        while batch := it.next():
            for r in batch:
                out[r[key]] = r.get(value) if value else None
        it.close()
        return out

    def _upsert(self, collection: str, rows, progress: bool, label: str) -> None:
        batch, done = [], 0
        for r in rows:
            batch.append(r)
            if len(batch) >= BATCH:
                self.client.upsert(collection, batch)
                done += len(batch)
                batch = []
                if progress:
                    log.info("Milvus %s: %d rows written", label, done)
        if batch:
            self.client.upsert(collection, batch)


def passage_record(p, units: int) -> str:
    """The rest of a passage (title, paragraph, offsets, page, year) and its unit count, as JSON that fits
    the `record` field: a title too long for it (a report whose first line is a whole paragraph) is
    shortened, never the JSON cut."""
    record = {k: v for k, v in p.to_dict().items() if k not in ("section", "text")} | {"units": units}
    out = json.dumps(record, ensure_ascii=False)
    while len(out.encode("utf-8")) > MAX_TEXT and record["title"]:
        record["title"] = record["title"][: len(record["title"]) // 2].rstrip() + "…"
        out = json.dumps(record, ensure_ascii=False)
    return out


def _record_bytes(client, collection: str) -> int:
    """The `record` field's size in a passages collection (0: none, as an older version wrote it)."""
    fields = {f["name"]: f for f in client.describe_collection(collection)["fields"]}
    return int(fields.get("record", {}).get("params", {}).get("max_length", 0))

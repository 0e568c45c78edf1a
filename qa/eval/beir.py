"""BEIR benchmarks: load a dataset in BEIR layout, index it as passages, score each retrieval mode.

Layout: `corpus.jsonl` ({"_id", "title", "text"}), `queries.jsonl` ({"_id", "text"}) and
`qrels/SPLIT.tsv` (query-id, corpus-id, score; one header line). Each BEIR document becomes one
passage whose section is the document title, so the embedded units read "title: sentence". The index
is the project's own format (qa.index.build), cached under `.cache/beir/<name>-<fingerprint>/`, where the
fingerprint covers the corpus file, the selected documents and the model. Metrics come from
ir_measures (trec_eval), with the graded qrels as given.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from qa.errors import BenchmarkInvalid, IndexUnusable
from qa.paths import cache_dir
from qa.types import Corpus, Document, Passage

log = logging.getLogger(__name__)

MEASURES = ("nDCG@10", "R@100", "RR@10", "R@10")


@dataclass(frozen=True)
class BeirDoc:
    id: str
    title: str
    text: str


@dataclass
class BeirData:
    name: str
    split: str
    docs: list[BeirDoc]
    queries: dict[str, str]  # only queries judged in the split, in file order
    qrels: dict[str, dict[str, int]]
    corpus_sha256: str
    limit: int | None = None


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        raise BenchmarkInvalid(f"{path} is missing (BEIR layout: corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv)")
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict) or "_id" not in row:
                    raise ValueError('expected an object with "_id"')
            except ValueError as e:
                raise BenchmarkInvalid(f"{path} line {lineno}: {e}") from None
            rows.append(row)
    return rows


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    if not path.is_file():
        splits = sorted(p.stem for p in path.parent.glob("*.tsv")) if path.parent.is_dir() else []
        raise BenchmarkInvalid(f"{path} is missing" + (f"; splits here: {', '.join(splits)}" if splits else ""))
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8", newline="") as f:
        for lineno, row in enumerate(csv.reader(f, delimiter="\t"), 1):
            if not row or (lineno == 1 and not row[-1].strip().lstrip("-").isdigit()):
                continue  # blank line or the header
            if len(row) != 3:
                raise BenchmarkInvalid(f"{path} line {lineno}: expected query-id, corpus-id, score")
            try:
                qrels.setdefault(row[0], {})[row[1]] = int(row[2])
            except ValueError:
                raise BenchmarkInvalid(f"{path} line {lineno}: score {row[2]!r} is not an integer") from None
    return qrels


def load_beir(folder: Path, split: str = "test", limit: int | None = None) -> BeirData:
    """Read a BEIR dataset. `limit` keeps the first N judged queries, their relevant documents and
    the first 10·N documents of the corpus (a small slice for smoke tests)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BenchmarkInvalid(f"benchmark folder {folder} does not exist")
    docs = [BeirDoc(str(d["_id"]), str(d.get("title") or ""), str(d.get("text") or "")) for d in _read_jsonl(folder / "corpus.jsonl")]
    queries_all = {str(q["_id"]): str(q.get("text") or "") for q in _read_jsonl(folder / "queries.jsonl")}
    qrels = _read_qrels(folder / "qrels" / f"{split}.tsv")
    queries = {qid: text for qid, text in queries_all.items() if qid in qrels and text.strip()}
    if not queries:
        raise BenchmarkInvalid(f"no query of {folder / 'queries.jsonl'} is judged in qrels/{split}.tsv")
    if limit is not None:
        queries = dict(list(queries.items())[:max(1, limit)])
        keep = {d for qid in queries for d, s in qrels[qid].items() if s > 0}
        keep.update(d.id for d in docs[: 10 * max(1, limit)])
        docs = [d for d in docs if d.id in keep]
    qrels = {qid: qrels[qid] for qid in queries}
    h = hashlib.sha256()
    with open(folder / "corpus.jsonl", "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return BeirData(folder.resolve().name, split, docs, queries, qrels, h.hexdigest(), limit)


def as_corpus(data: BeirData) -> Corpus:
    """One Document of one Passage per BEIR document; the title is the passage's section."""
    documents = []
    for d in data.docs:
        text = d.text.strip() or d.title.strip()
        if not text:
            continue
        p = Passage(d.id, d.id, d.title or d.id, d.title or None, 1, 0, len(text), text)
        documents.append(Document(d.id, f"corpus.jsonl#{d.id}", p.title, "", (p,)))
    if not documents:
        raise BenchmarkInvalid("the benchmark corpus holds no text")
    return Corpus(tuple(documents))


def fingerprint_inputs(data: BeirData) -> dict[str, str]:
    """What the cached index depends on (besides the model, which the manifest checks)."""
    selection = "all" if data.limit is None else hashlib.sha256("\n".join(d.id for d in data.docs).encode()).hexdigest()
    return {"corpus.jsonl": data.corpus_sha256, "selection": selection}


def index_folder(data: BeirData, model_id: str, cache_root: Path | None = None, xling_id: str | None = None) -> Path:
    from qa.index.folder import fingerprint

    extra = {"xling": xling_id} if xling_id else {}  # (the folder of an index without them keeps its name)
    key = fingerprint({**fingerprint_inputs(data), "model": model_id, "units": "whole", **extra})[:12]
    slug = f"{data.name}-limit{data.limit}" if data.limit is not None else data.name
    return Path(cache_root or cache_dir("beir")) / f"{slug}-{key}"


def open_beir_index(data: BeirData, embedder, cache_root: Path | None = None, *, progress: bool = False,
                    xling=None):
    """The cached index for this dataset and model, built (with progress) when missing or stale; with
    `xling`, with the cross-lingual vectors too (so hybrid adds e5's second opinion — slow to build).
    Returns (LoadedIndex, built: bool)."""
    from qa.index.build import build_index, build_lock
    from qa.index.folder import load_index

    hashes = fingerprint_inputs(data)
    xling_id = xling.model_id if xling is not None else None
    folder = index_folder(data, embedder.model_id, cache_root, xling_id)
    load = lambda: load_index(folder, model_id=embedder.model_id, hashes=hashes, xling_id=xling_id)  # noqa: E731
    try:
        return load(), False
    except IndexUnusable as e:
        reason = e.reason
    with build_lock(folder):
        try:
            return load(), False
        except IndexUnusable:
            pass
        log.info("indexing %s (%d documents) into %s: %s", data.name, len(data.docs), folder, reason)
        build_index(as_corpus(data), hashes, embedder, folder, reason=reason, progress=progress,
                    whole_passages=True, xling=xling)
    return load(), True


@dataclass
class BeirReport:
    name: str
    split: str
    queries: int
    documents: int
    metrics: dict[str, dict[str, float]]  # mode → measure → value
    runs: dict[str, dict[str, list[tuple[str, float]]]] = field(default_factory=dict, repr=False)
    seconds: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"name": self.name, "split": self.split, "queries": self.queries, "documents": self.documents,
                "metrics": self.metrics, "seconds": self.seconds}

    def to_markdown(self) -> str:
        from qa.eval.render import table

        modes = list(self.metrics)
        rows = [[m, *(f"{self.metrics[mode][m]:.3f}" for mode in modes)] for m in MEASURES]
        rows.append(["seconds", *(f"{self.seconds.get(mode, 0):.1f}" for mode in modes)])
        head = f"BEIR {self.name} ({self.split}): {self.queries} queries, {self.documents} documents"
        return head + "\n\n" + table(["measure", *modes], rows) + "\n"


def evaluate_beir(data: BeirData, index, embedder, modes: list[str], *, k: int = 100,
                  progress: bool = False, xling=None) -> BeirReport:
    """Search every query in every mode (top k passages = documents) and score with ir_measures."""
    import time

    import ir_measures
    from tqdm import tqdm

    from qa.answer.service import ReportQA

    retriever = ReportQA(index, embedder, xling=xling).retriever
    measures = [ir_measures.parse_measure(m) for m in MEASURES]
    qrels = [ir_measures.Qrel(q, d, s) for q, docs in data.qrels.items() for d, s in docs.items()]
    metrics, runs, seconds = {}, {}, {}
    for mode in modes:
        t0 = time.perf_counter()
        run: dict[str, list[tuple[str, float]]] = {}
        for qid, text in tqdm(data.queries.items(), desc=f"{data.name} {mode}", unit="q", disable=not progress):
            run[qid] = [(index.passages[c.row].id, float(c.score)) for c in retriever.search(text, k=k, mode=mode)]
        seconds[mode] = time.perf_counter() - t0
        scored = [ir_measures.ScoredDoc(q, d, s) for q, ranked in run.items() for d, s in ranked]
        per_query: dict[str, dict[str, float]] = {str(m): {} for m in measures}
        for row in ir_measures.iter_calc(measures, qrels, scored):
            per_query[str(row.measure)][row.query_id] = float(row.value)
        # trec_eval skips queries with no results; they count as 0 here, as they should
        metrics[mode] = {m: sum(v.get(q, 0.0) for q in data.queries) / len(data.queries) for m, v in per_query.items()}
        runs[mode] = run
    return BeirReport(data.name, data.split, len(data.queries), len(index.passages), metrics, runs, seconds)

"""BEIR layout: the loader on a tiny fixture, the cached index, metrics per mode, and the CLI.
The full SciFact run is marked slow (minutes of indexing) and skipped unless asked for."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from qa.errors import BenchmarkInvalid
from qa.eval.beir import as_corpus, evaluate_beir, index_folder, load_beir, open_beir_index
from qa.index.embed import HashEmbedder
from qa.search.retrieve import MODES

SCIFACT = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "scifact"

DOCS = [
    ("d1", "Wells", "The town dug twelve deep wells for clean drinking water."),
    ("d2", "Roads", "The county paved thirty kilometres of mountain road."),
    ("d3", "Schools", "Two primary schools opened their doors in May."),
    ("d4", "Clinics", "A rural clinic now serves nine villages."),
    ("d5", "", "Solar panels power the pumping stations."),
    ("d6", "Empty", ""),
]
QUERIES = [("q1", "twelve deep wells drinking water"), ("q2", "paved mountain road kilometres"),
           ("q3", "primary schools opened May"), ("q9", "never judged")]
QRELS = [("q1", "d1", 1), ("q2", "d2", 1), ("q3", "d3", 2), ("q3", "d4", 0)]


def require_slow(request) -> None:
    if "slow" not in (request.config.getoption("markexpr") or "") and not os.environ.get("QA_SLOW"):
        pytest.skip("slow benchmark: run with `pytest -m slow` or QA_SLOW=1")


def write_beir(folder: Path, qrels=QRELS, split="test") -> Path:
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, t, x in DOCS), encoding="utf-8")
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": i, "text": x}) + "\n" for i, x in QUERIES), encoding="utf-8")
    (folder / "qrels" / f"{split}.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in qrels), encoding="utf-8")
    return folder


def test_load_keeps_judged_queries_and_graded_qrels(tmp_path):
    data = load_beir(write_beir(tmp_path / "tiny"), "test")
    assert data.name == "tiny" and len(data.docs) == 6
    assert list(data.queries) == ["q1", "q2", "q3"]  # q9 has no judgment in this split
    assert data.qrels["q3"] == {"d3": 2, "d4": 0}


def test_each_document_becomes_one_passage_titled_by_its_section(tmp_path):
    corpus = as_corpus(load_beir(write_beir(tmp_path / "tiny")))
    by_id = {p.id: p for p in corpus.passages}
    assert set(by_id) == {"d1", "d2", "d3", "d4", "d5", "d6"}
    assert by_id["d1"].section == "Wells" and by_id["d1"].text.startswith("The town")
    assert by_id["d5"].section is None and by_id["d5"].title == "d5"
    assert by_id["d6"].text == "Empty"  # a document with only a title is searched by its title


def test_limit_keeps_a_small_slice_with_the_relevant_documents(tmp_path):
    data = load_beir(write_beir(tmp_path / "tiny"), limit=1)
    assert list(data.queries) == ["q1"] and data.limit == 1
    assert {d.id for d in data.docs} >= {"d1"} and data.qrels == {"q1": {"d1": 1}}


@pytest.mark.parametrize("break_it, message", [
    (lambda f: (f / "corpus.jsonl").unlink(), "corpus.jsonl is missing"),
    (lambda f: (f / "queries.jsonl").write_text('{"_id": "q1", "text": "x"}\n{oops\n'), "queries.jsonl line 2"),
    (lambda f: (f / "qrels" / "test.tsv").rename(f / "qrels" / "dev.tsv"), "splits here: dev"),
    (lambda f: (f / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\n"), "test.tsv line 2: expected query-id"),
    (lambda f: (f / "qrels" / "test.tsv").write_text("qx\td1\t1\n"), "no query"),
])
def test_bad_layout_is_a_clear_error(tmp_path, break_it, message):
    folder = write_beir(tmp_path / "tiny")
    break_it(folder)
    with pytest.raises(BenchmarkInvalid, match=message):
        load_beir(folder, "test")


def test_index_is_cached_by_fingerprint(tmp_path):
    data = load_beir(write_beir(tmp_path / "tiny"))
    cache = tmp_path / "cache"
    index, built = open_beir_index(data, HashEmbedder(), cache)
    assert built and len(index.passages) == 6
    assert index_folder(data, "hash-bow-256", cache).parent == cache
    assert open_beir_index(data, HashEmbedder(), cache)[1] is False  # reused
    # another model or another slice gets its own folder
    assert index_folder(data, "other-model", cache) != index_folder(data, "hash-bow-256", cache)
    small = load_beir(tmp_path / "tiny", limit=1)
    assert index_folder(small, "hash-bow-256", cache) != index_folder(data, "hash-bow-256", cache)


def test_cross_lingual_vectors_on_request_in_their_own_folder(tmp_path):
    data = load_beir(write_beir(tmp_path / "tiny"))
    cache = tmp_path / "cache"
    plain, _ = open_beir_index(data, HashEmbedder(), cache)
    index, built = open_beir_index(data, HashEmbedder(), cache, xling=HashEmbedder())
    assert built and plain.xling_vectors is None and index.xling_vectors.shape[0] == len(index.units)
    assert index.folder.parent != plain.folder.parent  # the plain index is kept, not rebuilt
    assert open_beir_index(data, HashEmbedder(), cache, xling=HashEmbedder())[1] is False
    report = evaluate_beir(data, index, HashEmbedder(), ["hybrid"], k=100, xling=HashEmbedder())
    assert report.runs["hybrid"]["q1"][0][0] == "d1"


def test_evaluate_every_mode(tmp_path):
    data = load_beir(write_beir(tmp_path / "tiny"))
    embedder = HashEmbedder()
    index, _ = open_beir_index(data, embedder, tmp_path / "cache")
    report = evaluate_beir(data, index, embedder, list(MODES), k=100)
    assert set(report.metrics) == set(MODES) and report.queries == 3 and report.documents == 6
    for mode in MODES:
        assert report.runs[mode]["q1"][0][0] == "d1"  # the query shares its words with d1 only
        assert set(report.metrics[mode]) == {"nDCG@10", "R@100", "RR@10", "R@10"}
        assert report.metrics[mode]["R@100"] == 1.0
    md = report.to_markdown()
    assert "BEIR tiny (test): 3 queries, 6 documents" in md and "| nDCG@10 " in md


def test_cli_beir_smoke(tmp_path, monkeypatch, capsys):
    import qa.index.embed
    import qa.index.onnx_encoder
    from qa.cli import main

    monkeypatch.setattr(qa.index.onnx_encoder, "default_embedder", lambda model=None, runtime=None: HashEmbedder())
    folder = write_beir(tmp_path / "tiny")
    args = ["eval", "--beir", str(folder), "--cache", str(tmp_path / "cache"), "-q", "--limit", "2"]
    assert main(args + ["--json", "--mode", MODES[0], "--run", str(tmp_path / "run.trec")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["queries"] == 2 and list(data["metrics"]) == [MODES[0]]
    assert (tmp_path / "run.trec").read_text().startswith("q1 Q0 d1 1 ")
    monkeypatch.setattr(qa.index.embed, "CrossLingualEmbedder", lambda: HashEmbedder())
    assert main(args + ["--beir-cross-lingual", "--mode", "hybrid"]) == 0
    assert "| nDCG@10 " in capsys.readouterr().out
    assert index_folder(load_beir(folder, limit=2), "hash-bow-256", tmp_path / "cache", "hash-bow-256").is_dir()
    assert main(["eval", "--beir", str(tmp_path / "nowhere"), "-q"]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_scifact_dense(request, real_embedder):
    """The full SciFact test split, dense mode (indexing 5,183 abstracts takes long on 2 cores; cached)."""
    require_slow(request)
    if not SCIFACT.is_dir():
        pytest.skip("shared SciFact data not present")
    data = load_beir(SCIFACT, "test")  # cached under $QA_CACHE/beir: `QA_CACHE=.cache` keeps it between runs
    index, _ = open_beir_index(data, real_embedder, None, progress=True)
    report = evaluate_beir(data, index, real_embedder, ["dense"], k=100)
    assert report.queries == 300
    assert report.metrics["dense"]["nDCG@10"] >= 0.55 and report.metrics["dense"]["R@100"] >= 0.85

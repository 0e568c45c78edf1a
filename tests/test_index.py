"""The index folder: build, manifest, staleness, corruption, interrupted builds, concurrent builds."""

from __future__ import annotations

import json
import multiprocessing
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from qa.errors import IndexUnusable
from qa.index.build import open_index
from qa.index.embed import HashEmbedder
from qa.index.folder import FORMAT_VERSION, current_folder, load_index
from qa.ingest.corpus import file_hashes
from tests.conftest import write_corpus

REPORT = "Annual report 2020\n\n【Water】 The town built 12 wells.\n\n【Roads】 The county paved 30 km of road.\n"


def _open(corpus, index, embedder=None, **kw):
    return open_index(corpus, index, embedder or HashEmbedder(), **kw)


def test_build_writes_manifest_and_positional_contract(tmp_path):
    corpus = write_corpus(tmp_path / "c", {"r.txt": REPORT})
    index, report = _open(corpus, tmp_path / "i")
    assert report is not None and report.reason == "no index has been built yet"
    m = index.manifest
    assert m["format_version"] == FORMAT_VERSION and m["model_id"] == "hash-bow-256" and m["dim"] == 256
    assert m["normalized"] is True and m["corpus"]["files"] == file_hashes(corpus)
    assert {"faiss-cpu", "numpy"} <= set(m["libraries"]) and m["created"]
    assert index.faiss_index.ntotal == len(index.units) == m["counts"]["units"]
    # FAISS row i is unit i, and every unit's text is a slice of its passage.
    for i, u in enumerate(index.units):
        p = index.passages[u.passage]
        assert p.text[u.start:u.end] == u.text
        assert abs(float(index.vectors[i] @ index.vectors[i]) - 1.0) < 1e-5


def test_second_open_reuses_index(tmp_path):
    corpus = write_corpus(tmp_path / "c", {"r.txt": REPORT})
    first, _ = _open(corpus, tmp_path / "i")
    second, report = _open(corpus, tmp_path / "i")
    assert report is None and second.folder == first.folder


def test_edit_add_delete_or_model_change_triggers_rebuild(tmp_path):
    corpus = write_corpus(tmp_path / "c", {"r.txt": REPORT})
    idx = tmp_path / "i"
    _open(corpus, idx)
    (corpus / "r.txt").write_text(REPORT.replace("12 wells", "14 wells"), encoding="utf-8")
    index, report = _open(corpus, idx)
    assert "changed r.txt" in report.reason
    assert any("14 wells" in p.text for p in index.passages)
    write_corpus(corpus, {"s.txt": "Other report\n\nSome text about schools."})
    _, report = _open(corpus, idx)
    assert "added s.txt" in report.reason
    (corpus / "s.txt").unlink()
    index, report = _open(corpus, idx)
    assert "removed s.txt" in report.reason and {p.doc for p in index.passages} == {"r"}
    _, report = _open(corpus, idx, HashEmbedder(model_id="other-model"))
    assert "model changed" in report.reason


@pytest.mark.parametrize("damage", ["truncate_faiss", "flip_byte", "delete_passages", "bad_manifest", "old_format"])
def test_damaged_index_is_detected_and_rebuilt(tmp_path, damage):
    corpus = write_corpus(tmp_path / "c", {"r.txt": REPORT})
    idx = tmp_path / "i"
    good, _ = _open(corpus, idx)
    folder = current_folder(idx)
    if damage == "truncate_faiss":
        data = (folder / "units.faiss").read_bytes()
        (folder / "units.faiss").write_bytes(data[: len(data) // 2])
    elif damage == "flip_byte":
        data = bytearray((folder / "passages.jsonl").read_bytes())
        data[20] ^= 0x01
        (folder / "passages.jsonl").write_bytes(bytes(data))
    elif damage == "delete_passages":
        (folder / "passages.jsonl").unlink()
    elif damage == "bad_manifest":
        (folder / "manifest.json").write_text("{not json", encoding="utf-8")
    else:
        m = json.loads((folder / "manifest.json").read_text())
        m["format_version"] = 0
        (folder / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(IndexUnusable) as e:
        load_index(idx, model_id="hash-bow-256", hashes=file_hashes(corpus))
    assert e.value.reason  # a one-line reason in plain words
    rebuilt, report = _open(corpus, idx)
    assert report is not None
    assert [p.text for p in rebuilt.passages] == [p.text for p in good.passages]


class _InterruptingEmbedder(HashEmbedder):
    def encode(self, texts, **kw):
        raise KeyboardInterrupt  # the user pressed Ctrl-C in the middle of embedding


def test_interrupted_build_leaves_previous_index_usable(tmp_path):
    corpus = write_corpus(tmp_path / "c", {"r.txt": REPORT})
    idx = tmp_path / "i"
    before, _ = _open(corpus, idx)
    (corpus / "r.txt").write_text(REPORT + "\n【Schools】 Two schools opened.\n", encoding="utf-8")
    with pytest.raises(KeyboardInterrupt):
        _open(corpus, idx, _InterruptingEmbedder())
    assert not list(idx.glob(".tmp-build-*"))
    # The previous build is still there and loads (it is stale for the new corpus, so it is rebuilt).
    assert current_folder(idx) == before.folder
    old_hashes = before.manifest["corpus"]["files"]
    assert len(load_index(idx, model_id="hash-bow-256", hashes=old_hashes).passages) == len(before.passages)


_KILL_SCRIPT = """
import sys, time
from pathlib import Path
from qa.index.embed import HashEmbedder
from qa.index.build import open_index

class Slow(HashEmbedder):
    def encode(self, texts, **kw):
        print("embedding", flush=True)
        time.sleep(60)
        return super().encode(texts, **kw)

open_index(Path(sys.argv[1]), Path(sys.argv[2]), Slow(), force=True)
"""


def test_sigkill_during_build_keeps_previous_index(tmp_path):
    corpus = write_corpus(tmp_path / "c", {"r.txt": REPORT})
    idx = tmp_path / "i"
    before, _ = _open(corpus, idx)
    proc = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT, str(corpus), str(idx)],
                            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parent.parent)
    assert proc.stdout.readline().strip() == "embedding"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    after, report = _open(corpus, idx)
    assert report is None and after.folder == before.folder
    assert [p.id for p in after.passages] == [p.id for p in before.passages]


def _build_in_process(args):
    corpus, idx = args
    index, report = open_index(Path(corpus), Path(idx), HashEmbedder())
    return index.folder.name, report is not None


def test_two_processes_building_at_once_do_not_corrupt(tmp_path):
    corpus = write_corpus(tmp_path / "c", {"r.txt": REPORT, "s.txt": "Second\n\n【A】 alpha beta.\n"})
    idx = tmp_path / "i"
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        results = pool.map(_build_in_process, [(str(corpus), str(idx))] * 2)
    assert sum(built for _, built in results) == 1  # the second waited for the lock, then loaded
    assert len({name for name, _ in results}) == 1
    index = load_index(idx, model_id="hash-bow-256", hashes=file_hashes(corpus))
    assert len(index.passages) == 3


def test_real_model_index_of_seed(seed_qa):
    m = seed_qa.index.manifest
    assert m["model_id"] == "all-MiniLM-L6-v2" and m["dim"] == 384
    assert m["counts"]["passages"] == 15
    assert len(m["dropped"]) == 3
    # No unit is longer than the model can read: nothing is lost to truncation.
    from tokenizers import Tokenizer

    from qa.index.onnx_encoder import MAX_TOKENS
    from qa.ingest.units import embedding_text

    tok = Tokenizer.from_file(str(seed_qa.embedder.model_dir / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    passages = seed_qa.index.passages
    longest = max(len(tok.encode(embedding_text(passages[u.passage], u)).ids) for u in seed_qa.index.units)
    assert 100 < longest <= MAX_TOKENS


@pytest.mark.parametrize("version, reason", [("UNITS_VERSION", "sentence splitting changed"),
                                             ("INGEST_VERSION", "report parsing changed")])
def test_changed_parsing_or_splitting_triggers_rebuild(tmp_path, monkeypatch, version, reason):
    import qa.index.folder

    corpus = write_corpus(tmp_path / "c", {"r.txt": REPORT})
    _open(corpus, tmp_path / "i")
    monkeypatch.setattr(qa.index.folder, version, getattr(qa.index.folder, version) + 1)
    _, report = _open(corpus, tmp_path / "i")
    assert report is not None and reason in report.reason
    assert report.reused > 0  # unchanged sentences keep their vectors

"""Incremental indexing: add, modify, delete — only changed units are embedded, nothing stale is left,
and an interrupted update (Ctrl-C, SIGKILL) leaves the previous index usable."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa.index.build import open_index
from qa.index.cache import text_keys
from qa.index.embed import HashEmbedder
from qa.index.folder import current_folder, load_index
from qa.ingest.corpus import file_hashes
from tests.conftest import write_corpus

ROOT = Path(__file__).resolve().parent.parent


def report(name: str, year: int, n: int = 4) -> str:
    paras = "\n\n".join(f"【Topic {i}】 In {year} the {name} district opened {i + 3} new schools and {i * 7} clinics."
                        for i in range(n))
    return f"{name.title()} Yearbook {year}\n\n{paras}\n"


class CountingEmbedder(HashEmbedder):
    """HashEmbedder that records every text it was asked to embed."""

    def __init__(self, model_id: str = "hash-bow-256"):
        super().__init__(model_id=model_id)
        self.texts: list[str] = []

    def encode(self, texts, **kw):
        self.texts += list(texts)
        return super().encode(texts, **kw)


def _vectors_by_key(index) -> dict[bytes, np.ndarray]:
    keys = np.load(index.folder / "units.keys.npy", allow_pickle=False)
    return {k.tobytes(): v for k, v in zip(keys, index.vectors)}


def test_add_modify_delete_reembed_only_what_changed(tmp_path):
    corpus = write_corpus(tmp_path / "c", {"north.txt": report("north", 2011), "south.txt": report("south", 2012)})
    idx = tmp_path / "i"
    e = CountingEmbedder()
    first, r = open_index(corpus, idx, e)
    assert r.added == ("north.txt", "south.txt") and r.reused == 0 and r.embedded == len(set(e.texts))
    total_units = len(first.units)
    old = _vectors_by_key(first)  # read now: the next build removes this folder

    # Add a file: only its units are embedded; every old unit keeps its vector, every passage its id.
    write_corpus(corpus, {"east.txt": report("east", 2013)})
    e.texts.clear()
    second, r = open_index(corpus, idx, e)
    assert (r.added, r.changed, r.removed) == (("east.txt",), (), ())
    assert r.reused == total_units and r.embedded == len(e.texts) > 0
    assert all("east" in t.lower() or "Topic" in t for t in e.texts)
    assert {p.id for p in first.passages} < {p.id for p in second.passages}
    new = _vectors_by_key(second)
    for k, v in old.items():
        np.testing.assert_array_equal(new[k], v)

    # Modify one paragraph of one file: only that paragraph's units are embedded.
    text = (corpus / "north.txt").read_text(encoding="utf-8")
    (corpus / "north.txt").write_text(text.replace("opened 4 new schools", "opened 40 new schools"), encoding="utf-8")
    e.texts.clear()
    third, r = open_index(corpus, idx, e)
    assert (r.added, r.changed, r.removed) == ((), ("north.txt",), ())
    assert e.texts and all("40 new schools" in t for t in e.texts)
    assert r.embedded == len(e.texts) and r.reused == len(third.units) - r.embedded
    assert not any("opened 4 new schools" in p.text for p in third.passages if p.doc == "north")  # nothing stale
    assert "1 changed" in r.summary() and f"{r.reused:,} reused" in r.summary()

    # Delete a file: nothing embedded, no passage of it left, its vectors gone from the index.
    (corpus / "south.txt").unlink()
    e.texts.clear()
    fourth, r = open_index(corpus, idx, e)
    assert r.removed == ("south.txt",) and r.embedded == 0 and e.texts == []
    assert {p.doc for p in fourth.passages} == {"north", "east"}
    assert fourth.faiss_index.ntotal == len(fourth.units)
    assert not any("south" in u.text.lower() for u in fourth.units)
    # Only the live build folder is kept.
    assert [f.name for f in idx.glob("build-*")] == [fourth.folder.name]


def test_result_equals_a_fresh_build(tmp_path):
    corpus = write_corpus(tmp_path / "c", {"a.txt": report("alpha", 2010), "b.txt": report("beta", 2011)})
    open_index(corpus, tmp_path / "i", HashEmbedder())
    write_corpus(corpus, {"b.txt": report("beta", 2011, n=6), "c.txt": report("gamma", 2012)})
    incremental, r = open_index(corpus, tmp_path / "i", HashEmbedder())
    fresh, _ = open_index(corpus, tmp_path / "fresh", HashEmbedder())
    assert r.reused > 0
    assert [p.to_dict() for p in incremental.passages] == [p.to_dict() for p in fresh.passages]
    assert incremental.units == fresh.units
    np.testing.assert_allclose(incremental.vectors, fresh.vectors, atol=1e-6)


def test_cross_lingual_vectors_are_reused_too(tmp_path):
    corpus = write_corpus(tmp_path / "c", {"a.txt": report("alpha", 2010)})
    x = CountingEmbedder(model_id="hash-xling")
    open_index(corpus, tmp_path / "i", HashEmbedder(), xling=x)
    write_corpus(corpus, {"b.txt": report("beta", 2011)})
    x.texts.clear()
    index, r = open_index(corpus, tmp_path / "i", HashEmbedder(), xling=x)
    assert r.xling_reused > 0 and r.xling_embedded == len(x.texts) and all("beta" in t for t in x.texts)
    keys = np.load(index.folder / "units.xkeys.npy", allow_pickle=False)
    np.testing.assert_array_equal(keys, text_keys([u.text for u in index.units]))
    np.testing.assert_allclose(index.xling_vectors, x.encode([u.text for u in index.units]), atol=1e-6)


def test_other_model_or_forced_rebuild_embeds_everything(tmp_path):
    corpus = write_corpus(tmp_path / "c", {"a.txt": report("alpha", 2010)})
    open_index(corpus, tmp_path / "i", HashEmbedder())
    _, r = open_index(corpus, tmp_path / "i", HashEmbedder(model_id="other"))
    assert r.reused == 0 and r.embedded > 0
    _, r = open_index(corpus, tmp_path / "i", HashEmbedder(model_id="other"), force=True)
    assert r.reused == 0 and r.embedded > 0


def test_tampered_cache_is_not_trusted(tmp_path):
    corpus = write_corpus(tmp_path / "c", {"a.txt": report("alpha", 2010)})
    first, _ = open_index(corpus, tmp_path / "i", HashEmbedder())
    keys = first.folder / "units.keys.npy"
    np.save(keys, np.zeros_like(np.load(keys)), allow_pickle=False)  # checksum no longer matches
    write_corpus(corpus, {"b.txt": report("beta", 2011)})
    index, r = open_index(corpus, tmp_path / "i", HashEmbedder())
    assert r.reused == 0 and r.embedded > 0 and len(index.passages) == 8


class _InterruptOnNew(HashEmbedder):
    def encode(self, texts, **kw):
        raise KeyboardInterrupt  # Ctrl-C while the new paragraphs are being embedded


def _built_then_added(tmp_path):
    """An index of one report, then a second report added to the corpus: (corpus, index dir, index, old hashes)."""
    corpus = write_corpus(tmp_path / "c", {"a.txt": report("alpha", 2010)})
    idx = tmp_path / "i"
    before, _ = open_index(corpus, idx, HashEmbedder())
    old_hashes = file_hashes(corpus)
    write_corpus(corpus, {"b.txt": report("beta", 2011)})
    return corpus, idx, before, old_hashes


def _previous_still_usable_then_updated(corpus, idx, before, old_hashes) -> None:
    assert current_folder(idx) == before.folder
    still = load_index(idx, model_id="hash-bow-256", hashes=old_hashes)
    assert [p.id for p in still.passages] == [p.id for p in before.passages]
    _, r = open_index(corpus, idx, HashEmbedder())  # the next update still reuses the old vectors
    assert r.added == ("b.txt",) and r.reused == len(before.units)
    assert not list(idx.glob(".tmp-build-*"))


def test_interrupted_incremental_update_keeps_previous_index(tmp_path):
    corpus, idx, before, old_hashes = _built_then_added(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        open_index(corpus, idx, _InterruptOnNew())
    assert not list(idx.glob(".tmp-build-*"))
    _previous_still_usable_then_updated(corpus, idx, before, old_hashes)


_KILL_SCRIPT = """
import sys, time
from pathlib import Path
from qa.index.embed import HashEmbedder
from qa.index.build import open_index

class Slow(HashEmbedder):
    def encode(self, texts, **kw):
        print("embedding", len(texts), flush=True)
        time.sleep(60)
        return super().encode(texts, **kw)

open_index(Path(sys.argv[1]), Path(sys.argv[2]), Slow())
"""


def test_sigkill_during_incremental_update_keeps_previous_index(tmp_path):
    corpus, idx, before, old_hashes = _built_then_added(tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT, str(corpus), str(idx)],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    line = proc.stdout.readline().split()
    assert line[0] == "embedding" and 0 < int(line[1]) < len(before.units) * 2  # only the new file's units
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _previous_still_usable_then_updated(corpus, idx, before, old_hashes)


def test_a_report_changed_while_the_index_is_built_is_rebuilt_at_the_next_open(tmp_path, monkeypatch):
    """The build records each report by the hash of the bytes it parsed. A report edited just after it was
    read is seen as changed at the next open, and its new text indexed; before, the build hashed the
    files again after parsing, recorded the new hash with the old passages, and never rebuilt them."""
    import qa.index.build as build
    from qa.ingest.corpus import load_corpus

    corpus = write_corpus(tmp_path / "c", {"north.txt": report("north", 2011)})

    def parse_then_edit(root):
        parsed = load_corpus(root)
        (corpus / "north.txt").write_text(report("north", 2011).replace("clinics", "libraries"), encoding="utf-8")
        return parsed

    monkeypatch.setattr(build, "load_corpus", parse_then_edit)
    first, r = open_index(corpus, tmp_path / "i", CountingEmbedder())
    assert r is not None and all("libraries" not in p.text for p in first.passages)  # what was parsed
    monkeypatch.setattr(build, "load_corpus", load_corpus)
    second, r = open_index(corpus, tmp_path / "i", CountingEmbedder())
    assert r is not None and r.changed == ("north.txt",)
    assert any("libraries" in p.text for p in second.passages)

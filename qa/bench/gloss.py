"""`python -m qa bench --gloss`: glosses of every cross-language answer, per reader model, in one run.

For each question of the sets given (default: the shipped set and the four blind sets), asked over the
bundled report with the reader on: when the answer has a span the reader accepted and the question is in
the other language, the model writes a gloss, which is checked (qa/answer/gloss.py). Prints, per model:
how many glosses were wanted, shown and dropped (by reason), the share of shown glosses whose figures
match the span (100 % by construction: it is the check), and the gloss's own time after the answer
(p50 / p95). `--pairs FILE` writes the (span, gloss) pairs alone, shuffled, for a blind judge; nothing of
the question, the model or the check goes with them. A model "0.5b/1.5b" reads with the first and glosses with the
second, as the app does by default.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

from qa.eval.metrics import timings
from qa.paths import ROOT

BLIND = ("holdout", "unseen", "nearmiss", "reply")  # tests/data/<name>.questions.jsonl, written blind


def default_question_files(corpus: Path) -> list[Path]:
    """The question sets beside the reports, and the blind sets of tests/data."""
    from qa.eval.questions import question_files

    return [*question_files(Path(corpus)), *(ROOT / "tests" / "data" / f"{b}.questions.jsonl" for b in BLIND)]


def gloss_run(qa, questions, model: str) -> dict:
    from qa.answer import gloss as g

    rows, times = [], []
    for q in questions:
        first = qa.ask(q.question, list(q.history), read=False)  # only a question in the other language is read
        if not first.hits or g.wanted(q.question, first.hits[0].highlight) is None:
            continue
        answer = qa.ask(q.question, list(q.history), read=True)
        hit = answer.span_hit
        if hit is None or hit.answers is not True or g.wanted(q.question, hit.span) is None:
            continue
        t0 = time.perf_counter()
        glossed, why = qa.gloss(answer)
        ms = (time.perf_counter() - t0) * 1000
        times.append(ms)
        written = glossed.gloss.text if glossed.gloss else None
        rows.append({"id": q.id, "source": q.source, "span": hit.span, "gloss": written, "dropped": why,
                     "ms": round(ms, 1)})
    shown = [r for r in rows if r["gloss"]]
    return {
        "model": model,
        "wanted": len(rows),
        "shown": len(shown),
        "dropped": dict(Counter(r["dropped"] for r in rows if r["dropped"])),
        "figures_match": (sum(g.figures_match(r["span"], r["gloss"]) for r in shown) / len(shown)) if shown else None,
        **{k: v for k, v in timings(times).items() if k != "n"},
        "rows": rows,
    }


def run(corpus: Path, index: Path, question_files: list[str], models: list[str], pairs: Path | None = None,
        progress: bool = True, terms: str = "on", terms_files: list[Path] = ()) -> list[dict]:
    """Per model, and per `terms` ("on": the corpus's termbase and `terms_files`; "off": none; "both": each,
    in that order), the glosses' figures and rows."""
    from qa.answer.reader_runtime import ReaderSlot, load_reader
    from qa.answer.service import ReportQA
    from qa.answer.terms import NO_TERMS, load_terms
    from qa.errors import ReaderUnavailable
    from qa.eval.questions import load_question_files
    from qa.index.embed import CrossLingualEmbedder
    from qa.index.onnx_encoder import default_embedder

    questions = load_question_files([Path(f) for f in question_files])
    out = []
    for model in models:  # "0.5b": that model reads and glosses; "0.5b/1.5b": the first reads, the second glosses
        reads, _, glosses = model.partition("/")
        try:
            slot = ReaderSlot(reader=load_reader(model=reads),
                              glosser=load_reader(model=glosses, read=False) if glosses else None)
        except ReaderUnavailable as e:
            out.append({"model": model, "error": str(e)})
            continue
        qa = ReportQA.open(corpus, index, default_embedder(), xling=CrossLingualEmbedder(), reader=slot)
        qa.ask("warm up", read=False)
        termbase = load_terms(corpus, *terms_files)
        for label, tb in (("terms", termbase), ("no terms", NO_TERMS)):
            if terms != "both" and (label == "terms") != (terms == "on"):
                continue
            qa.terms = tb
            name = f"{model}, {label} ({len(tb.terms)})" if terms == "both" else model
            if progress:
                print(f"gloss: {name}, {len(questions)} questions…", file=sys.stderr, flush=True)
            out.append(gloss_run(qa, questions, name))
    if pairs is not None:
        shown = [{"span": r["span"], "gloss": r["gloss"]} for res in out for r in res.get("rows", []) if r["gloss"]]
        random.Random(7).shuffle(shown)
        pairs.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in shown), encoding="utf-8")
    return out


def table(results: list[dict]) -> str:
    lines = ["| model | wanted | shown | dropped | figures match (shown) | gloss p50 / p95 ms |",
             "|---|---:|---:|---|---:|---:|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['model']} | – | – | {r['error']} | – | – |")
            continue
        dropped = ", ".join(f"{k}: {v}" for k, v in r["dropped"].items()) or "none"
        fm = "–" if r["figures_match"] is None else f"{r['figures_match']:.0%}"
        p = "–" if r["p50_ms"] is None else f"{r['p50_ms']:.0f} / {r['p95_ms']:.0f}"
        lines.append(f"| {r['model']} | {r['wanted']} | {r['shown']} | {dropped} | {fm} | {p} |")
    return "\n".join(lines)

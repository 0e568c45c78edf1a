"""`python -m qa eval` — registered by the CLI; the evaluation itself lives in qa/eval/evaluate.py and qa/eval/beir.py.

The CLI passes in how it opens the service (`open_qa(args, reader=...)`, the same flags and messages as
`ask`), so this module never imports the CLI back.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from qa.errors import UnknownMode


def add_parser(sub, common, open_qa: Callable) -> None:
    p = sub.add_parser("eval", help="measure retrieval accuracy on a question set or a BEIR benchmark",
                       description="Run a question set (default: corpus/*.questions.jsonl) through every "
                                   "retrieval mode and print metrics overall, per question type, and the failures.")
    common(p)
    p.add_argument("--questions", type=Path, action="append", default=None, metavar="FILE",
                   help="question file in JSON lines (repeatable; default: the corpus's *.questions.jsonl)")
    p.add_argument("--mode", nargs="+", action="extend", default=None, metavar="MODE",
                   help="retrieval mode(s) to compare (default: all)")
    p.add_argument("-k", type=int, default=None,
                   help="passages retrieved per question (default 10; BEIR: 100)")
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    p.add_argument("--plot", type=Path, metavar="FILE.png", help="write a chart: Recall@k per mode, Hit@1 per type")
    p.add_argument("--run", type=Path, metavar="FILE", help="write a TREC run file (one per mode when several)")
    p.add_argument("--failures", type=int, default=30, metavar="N", help="failures listed per mode (default 30)")
    p.add_argument("--half", choices=("tune", "check"), default=None,
                   help="only the half of the questions the settings were tuned on, or the held-out half")
    p.add_argument("--beir", type=Path, metavar="DIR", help="evaluate on a BEIR dataset folder instead")
    p.add_argument("--split", default="test", help="BEIR qrels split (default: test)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="BEIR: only the first N queries (smoke test)")
    p.add_argument("--cache", type=Path, default=None, metavar="DIR", help="BEIR index cache (default: .cache/beir, or $QA_CACHE/beir)")
    p.add_argument("--beir-cross-lingual", action="store_true",
                   help="BEIR: also build the multilingual vectors, so hybrid ranks with e5's second opinion as it "
                        "does for reports (slow: about 50 min for SciFact's 5,183 abstracts on 2 cores)")
    p.set_defaults(handler=lambda args: run_eval(args, open_qa))


def _modes(requested: list[str] | None, reader: bool = False) -> list[str]:
    """The modes to compare; by default every retrieval mode, and hybrid with the reader when it is on.
    A mode ending in "+reader" runs that mode with the reader ("hybrid+reader")."""
    from qa.eval.evaluate import READER
    from qa.search.retrieve import MODES

    known = (*MODES, *(m + READER for m in MODES))
    modes = list(dict.fromkeys(requested or (*MODES, *(("hybrid" + READER,) if reader else ()))))
    unknown = [m for m in modes if m not in known]
    if unknown:
        raise UnknownMode(f"unknown mode {', '.join(unknown)}; choose from {', '.join(known)}")
    return modes


def run_eval(args, open_qa: Callable) -> int:
    if args.k is not None and args.k < 1:
        print("error: -k must be at least 1", file=sys.stderr)
        return 2
    modes = _modes(args.mode, getattr(args, "reader", False) and not args.beir)
    if args.beir:
        if any(m.endswith("+reader") for m in modes):
            raise UnknownMode("BEIR runs rank passages only: choose from dense, bm25, hybrid")
        return _run_beir(args, modes)
    return _run_questions(args, modes, open_qa)


def _run_questions(args, modes: list[str], open_qa: Callable) -> int:
    from qa.errors import QuestionFileInvalid
    from qa.eval.evaluate import cache_path, evaluate, plot, questions_digest, save_report, write_runs
    from qa.eval.questions import check_against_passages, load_question_files, question_files, tuning_half

    paths = args.questions or question_files(args.corpus)
    if not paths:
        raise QuestionFileInvalid(f"no question file given and none (*.questions.jsonl) in {args.corpus}")
    questions = load_question_files(paths)
    if args.half:
        questions = [q for q in questions if tuning_half(q.id) == args.half]
    from qa.eval.evaluate import READER

    args.reader = any(m.endswith(READER) for m in modes)  # asking for "hybrid+reader" turns the reader on
    qa = open_qa(args, reader=args.reader)
    if (qa.reader is None or qa.reader.state != "on") and any(m.endswith(READER) for m in modes):
        print("warning: the reader is off; the +reader modes are left out", file=sys.stderr)
        modes = [m for m in modes if not m.endswith(READER)] or ["hybrid"]
    for problem in check_against_passages(questions, qa.passages):
        print(f"warning: {problem}", file=sys.stderr)
    meta = {"source": ", ".join(str(p) for p in paths), "questions_sha256": questions_digest(paths)}
    report = evaluate(qa, questions, modes, progress=not args.quiet, k=args.k or 10, meta=meta)
    if not args.questions and not args.half:  # the whole shipped set: keep the result for the app's Evaluation tab
        save_report(report, cache_path(args.index))
    if args.run:
        for path in write_runs(report, args.run):
            print(f"Run file: {path}", file=sys.stderr)
    if args.plot:
        print(f"Chart: {plot(report, args.plot)}", file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        print(report.to_markdown(failures=args.failures))
    return 0


def _run_beir(args, modes: list[str]) -> int:
    from qa.eval.beir import evaluate_beir, load_beir, open_beir_index
    from qa.eval.evaluate import run_path
    from qa.eval.metrics import write_trec_run
    from qa.index.embed import CrossLingualEmbedder
    from qa.index.onnx_encoder import default_embedder

    data = load_beir(args.beir, args.split, args.limit)
    embedder = default_embedder(args.model)
    xling = CrossLingualEmbedder() if args.beir_cross_lingual else None
    index, built = open_beir_index(data, embedder, args.cache, progress=not args.quiet, xling=xling)
    if built and not args.quiet:
        print(f"Indexed {len(index.passages)} documents into {index.folder.parent}", file=sys.stderr)
    report = evaluate_beir(data, index, embedder, modes, k=args.k or 100, progress=not args.quiet, xling=xling)
    if args.run:
        for mode, run in report.runs.items():
            target = run_path(args.run, mode, len(modes))
            write_trec_run(target, run, f"qa-{mode}")
            print(f"Run file: {target}", file=sys.stderr)
    print(json.dumps(report.to_json(), ensure_ascii=False) if args.json else report.to_markdown())
    return 0

"""`python -m qa bench` — registered by the CLI; the measurements live in the other qa/bench modules.

The CLI passes in how it builds the embedders from the flags (`embedders(args)`), so this module never
imports the CLI back.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path


def add_parser(sub, common, embedders: Callable) -> None:
    p = sub.add_parser("bench", help="measure index build time and query latency on the corpus")
    common(p)
    p.add_argument("--repeats", type=int, default=3,
                   help="passes over the question set; with --distributed, runs of each setting (default 3)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--no-targets", dest="targets", action="store_false",
                   help="skip the speed-target table (cold starts, app, 20-user load; each also with the torch runtime)")
    p.add_argument("--incremental", action="store_true",
                   help="instead: full build vs update after one file changed, on 40 generated reports")
    p.add_argument("--cold", action="store_true",
                   help="instead: cold start (CLI path and app) split into its parts, and peak memory")
    p.add_argument("--scale", action="store_true",
                   help="instead: the vector-search scale curve on synthetic vectors (writes docs/scale.png)")
    p.add_argument("--distributed", action="store_true",
                   help="instead: one process vs Ray Data with 1 and 2 model workers on synthetic report units, "
                        "vectors compared, and the cores a cluster needs for 10^6 and 10^7 passages an hour")
    p.add_argument("--units", type=int, default=2000, help="synthetic units for --distributed (default 2000)")
    p.add_argument("--scale-hybrid", action="store_true",
                   help="instead: per-question time of hybrid retrieval (no reader) on a synthetic report-like corpus")
    p.add_argument("--sizes", default="1e3,1e4,1e5,1e6",
                   help="passage counts for --scale and --scale-hybrid (default 1e3,1e4,1e5,1e6)")
    p.add_argument("--profile", action="store_true", help="with --scale-hybrid: a cProfile of the largest size")
    p.add_argument("--lean", action="store_true",
                   help="with --scale-hybrid --backend milvus: time a lean replica (records read from Milvus) in its "
                        "own process, and its memory against the local index's")
    p.add_argument("--deploy", action="store_true",
                   help="instead: a deployment end to end on this machine (a milvus-lite server, a writer, two lean "
                        "replicas in their own folders; a new report, Milvus stopped and started, the writer killed "
                        "mid-build; then 20 users through a lean and a local replica)")
    p.add_argument("--peer", action="store_true",
                   help="instead: this project's warm answer against an installed peer's hybrid and dense search "
                        "(txtai: pip install --no-deps txtai==9.14.0), same report, questions and model, alternating "
                        "rounds (--repeats); exits 2 when no peer is installed")
    p.add_argument("--reader-models", default="0.5b,1.5b",
                   help="reader models to compare (default 0.5b,1.5b; one not installed is reported as such; the "
                        "reader part is skipped with --no-reader)")
    p.add_argument("--gloss", action="store_true",
                   help="the glosses of every cross-language answer of the question sets, per reader model "
                        "(--reader-models; READER/GLOSSER such as 0.5b/1.5b, the default setting, reads with one "
                        "and glosses with the other): shown, dropped by which check, time after the answer")
    p.add_argument("--questions", nargs="+", default=None, metavar="FILE",
                   help="with --gloss: question files (default: the shipped set and the four blind sets)")
    p.add_argument("--pairs", type=Path, default=None, metavar="FILE",
                   help="with --gloss: write the shown (span, gloss) pairs alone, shuffled, for a blind judge")
    p.add_argument("--terms", choices=("on", "off", "both"), default="on",
                   help="with --gloss: with the corpus's termbase (*.terms.tsv, and --terms-file), without it, or "
                        "both in the same run")
    p.add_argument("--terms-file", type=Path, action="append", default=[], metavar="FILE",
                   help="with --gloss: a termbase to use besides the corpus's own (repeatable)")
    p.set_defaults(handler=lambda args: run_bench(args, embedders))


def run_bench(args, embedders: Callable) -> int:
    if args.peer:
        from qa.bench import peer

        r = peer.run(args.corpus, rounds=args.repeats, progress=lambda line: print(line, file=sys.stderr, flush=True))
        print(json.dumps(r, ensure_ascii=False, indent=1) if args.json else peer.markdown(r))
        return 2 if "error" in r else 0
    if args.deploy:
        from qa.bench import deploy

        rows = deploy.run(load=True, progress=lambda line: print(line, file=sys.stderr, flush=True))
        print(json.dumps(rows, ensure_ascii=False, indent=1) if args.json else deploy.markdown(rows))
        return 0 if all(r["ok"] for r in rows) else 1
    if args.gloss:
        from qa.bench import gloss as bench_gloss

        files = args.questions or [str(p) for p in bench_gloss.default_question_files(args.corpus)]
        results = bench_gloss.run(args.corpus, args.index, files, args.reader_models.split(","), pairs=args.pairs,
                                  terms=args.terms, terms_files=args.terms_file)
        print(json.dumps(results, ensure_ascii=False, indent=1) if args.json else bench_gloss.table(results))
        return 0
    if args.scale or args.scale_hybrid:
        from qa.bench import scale as bench_scale

        try:
            sizes = bench_scale.parse_sizes(args.sizes)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        if args.scale_hybrid:
            from qa.bench import scale_hybrid

            backend = "lean" if args.lean and args.backend == "milvus" else args.backend
            print(scale_hybrid.main(sizes, as_json=args.json, profile=args.profile, backend=backend))
        else:
            print(bench_scale.main(sizes, as_json=args.json))
        return 0
    if args.distributed:
        from qa.bench.distributed import distributed_bench, distributed_markdown

        result = distributed_bench(args.corpus, units=args.units, repeats=args.repeats)
        print(json.dumps(result, indent=2) if args.json else distributed_markdown(result))
        return 0
    from qa.bench.speed import incremental_bench, incremental_markdown, to_markdown
    from qa.bench.speed import run_bench as speed_bench

    embedder, xling = embedders(args)
    if args.cold:
        from qa.bench.cold import app_cold_start, cli_cold_start, cold_markdown
        from qa.index.build import open_index

        open_index(args.corpus, args.index, embedder, xling=xling)  # measure later starts, not the build
        cli, app = cli_cold_start(args.corpus, args.index, xling is not None), app_cold_start(args.corpus, args.index)
        print(json.dumps({"cli": cli, "app": app}, indent=2) if args.json else cold_markdown(cli, app))
        return 0
    if args.incremental:
        result = incremental_bench(embedder, xling)
        print(json.dumps(result, indent=2) if args.json else incremental_markdown(result))
        return 0
    result = speed_bench(args.corpus, embedder, xling, repeats=args.repeats)
    if args.targets:
        from qa.bench.targets import measure_targets, targets_markdown

        result["targets"] = measure_targets(args.corpus, args.index)
    if args.reader:
        from qa.answer.service import ReportQA
        from qa.bench.reader import reader_markdown, run_reader_bench

        qa = ReportQA.open(args.corpus, args.index, embedder, xling=xling or False)
        result["reader"] = run_reader_bench(qa, args.corpus, args.index, args.reader_models.split(","))
    print(json.dumps(result, indent=2) if args.json else "\n\n".join(
        ([targets_markdown(result["targets"])] if "targets" in result else []) + [to_markdown(result)]
        + ([reader_markdown(result["reader"])] if "reader" in result else [])))
    return 0

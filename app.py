"""Report QA chat app: `python app.py` opens http://127.0.0.1:7860 on the reports in corpus/.

Flags (or environment): --host (QA_HOST, default 127.0.0.1), --port (QA_PORT, 7860), --corpus
(QA_CORPUS), --index (QA_INDEX), --model (QA_MODEL), --no-reader (QA_READER=0), --reader-model
(QA_READER_MODEL), --no-gloss (QA_GLOSS=0), --judgments (QA_JUDGMENTS),
--auth user:pass (QA_AUTH), --no-uploads (QA_UPLOADS=0), --backend local|milvus (QA_BACKEND), --milvus-uri (QA_MILVUS_URI),
--milvus-collection (QA_MILVUS_COLLECTION), --replica (QA_REPLICA=1: read-only, follows the writer's builds).
The index is opened (or built) in the background while the page shows
progress; the reader model (on unless --no-reader) loads after it, and answers are checked by it from the moment it is there.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no launch-time requests to outside hosts
# Gradio's queue rebuilds its monitoring summary (a pandas table of up to its last 10,000 events) after every
# event by default: 8 % of the app's CPU under 20 users, growing with the events kept. We show no monitoring.
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(10**9))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

EXAMPLES = (
    "What poverty line did the Corps set?",
    "How many poverty-stricken people were there in the Corps?",
    "How were the anti-poverty funds managed?",
)
EXAMPLES_ZH = ("兵团设定的贫困线是多少？", "兵团有多少贫困人口？", "扶贫资金是如何管理的？")  # for a page shown in Chinese
CONCURRENCY = 8  # answers computed at once (8: 29–31 q/s vs 27–29 with 4 under 20 users); the rest wait in the queue


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from qa.cli import gloss_options, model_options

    env = os.environ.get
    p = argparse.ArgumentParser(description="Report QA chat app (Gradio).")
    p.add_argument("--host", default=env("QA_HOST", "127.0.0.1"), help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=int(env("QA_PORT", "7860")), help="port (default 7860)")
    model_options(p)  # --corpus, --index, --model, --no-cross-lingual, --reader…, --backend, --milvus-*: as the CLI's
    gloss_options(p)
    p.add_argument("--judgments", type=Path, default=None,
                   help="file for the users' one-click judgments (default: <corpus>/user-questions.jsonl)")
    p.add_argument("--auth", default=env("QA_AUTH"), metavar="USER:PASS", help="require this login")
    p.add_argument("--no-uploads", dest="uploads", action="store_false", default=env("QA_UPLOADS", "1") != "0",
                   help="no upload box (QA_UPLOADS=0): for app replicas reading a shared index (docs/scaling.md)")
    p.add_argument("--replica", action="store_true", default=env("QA_REPLICA", "0") == "1",
                   help="serve the shared index read-only (QA_REPLICA=1): never build, follow the writer's new "
                        "builds, no upload box (docs/scaling.md)")
    p.add_argument("--follow-every", type=float, default=float(env("QA_FOLLOW_EVERY", "5")), metavar="SECONDS",
                   help="with --replica: how often to look for a new build (default 5)")
    args = p.parse_args(argv)
    args.judgments = args.judgments or Path(env("QA_JUDGMENTS") or args.corpus / "user-questions.jsonl")
    args.uploads = args.uploads and not args.replica  # a replica never writes the index
    if args.auth and ":" not in args.auth:
        p.error("--auth / QA_AUTH must look like user:password")
    return args


def open_report_qa(args: argparse.Namespace, report):
    """Load or build the index (progress reported to the page and as a tqdm bar), then warm the model."""
    from qa.answer.reader_runtime import ReaderSlot
    from qa.answer.service import ReportQA
    from qa.app.state import ProgressEmbedder
    from qa.cli import embedders, gloss_loader

    report("Checking the index…", None)
    main, cross = embedders(args)  # the CLI's, so the app and `python -m qa` share one index
    embedder = ProgressEmbedder(main, report)
    xling = ProgressEmbedder(cross, report, name="cross-lingual") if cross is not None else False
    from qa.answer.reader_runtime import load_reader

    # loaded below, in the background, once questions can be asked
    reader = ReaderSlot(loader=lambda: load_reader(model=args.reader_model),
                        gloss_loader=gloss_loader(args)) if args.reader else None
    qa = ReportQA.open(args.corpus, args.index, embedder, xling=xling, progress=True, reader=reader,
                       backend=args.backend, milvus_uri=args.milvus_uri, milvus_collection=args.milvus_collection,
                       read_only=args.replica)
    if qa.build_report:
        logging.getLogger("app").info("index rebuilt (%s) in %.1f s", qa.build_report.reason, qa.build_report.seconds)
    report("Loading the embedding models…", None)
    qa.ask(EXAMPLES[0], read=False)  # loads what every English question uses (MiniLM, e5's second opinion)
    if reader is not None:
        reader.start()
    return qa


def reopen_built(args: argparse.Namespace):
    """For a replica: open the writer's current build read-only with the models already loaded."""
    from qa.answer.service import ReportQA

    def reopen(qa):
        if qa is None:  # nothing served yet (there was no build when the replica started): load the models too
            return open_report_qa(args, lambda message, fraction: None)
        return ReportQA.open(args.corpus, args.index, qa.embedder, xling=qa.retriever.xling or False, reader=qa.reader,
                             backend=args.backend, milvus_uri=args.milvus_uri,
                             milvus_collection=args.milvus_collection, read_only=True, store=qa.store)

    return reopen


def warm_other_script(holder, after: threading.Event | None = None, grace: float = 5.0) -> None:
    """Load what a question in the other script needs (multilingual USE, the dictionary and jieba's word
    list: ~5–9 s on 2 cores), in the background once the reports are open. English questions are answered
    meanwhile; a Chinese question asked before it is done loads what it needs itself. Started after
    gradio's import: both are mostly Python under one lock, and the page comes first. `after`: wait for
    this event (the app's first answer) or `grace` seconds, whichever comes first: loading while the server
    started and answered its first question made that answer 0.8 s later (5.4 s from start instead of 4.6)."""
    def run():
        if after is not None:
            after.wait(grace)
        try:
            qa = holder.get()
        except RuntimeError:  # the reports could not be opened: the page says so
            return
        if qa.retriever.xling is not None:
            qa.retriever.xling.encode(["warm up"], query=True)
        qa.retriever.translator.warm()  # without the cross-lingual vectors the dictionary is used too
        if qa.reader is not None:
            from qa.answer.gloss import warm

            warm()  # the gloss's name check reads the dictionary's pinyin
        logging.getLogger("app").info("cross-lingual models and dictionary loaded")
        if qa.reader is not None:
            qa.reader.load_glosser()  # last: its load takes the CPU a few seconds, the first answers come first

    threading.Thread(target=run, name="warm-other-script", daemon=True).start()


def build_app(args: argparse.Namespace, holder=None):
    """The Blocks and the holder opening the reports (not started yet, unless `holder` was)."""
    from qa.app.judgments import PROJECT_ROOT
    from qa.app.state import QAHolder

    holder = holder or QAHolder(lambda report: open_report_qa(args, report))
    from qa.app.ui import build_ui  # imports gradio (6–7 s): the reports open meanwhile when `holder` is started

    demo = build_ui(holder, examples={"en": EXAMPLES, "zh": EXAMPLES_ZH}, judgments_path=args.judgments,
                    judgments_roots=[PROJECT_ROOT, args.corpus, args.index], corpus_dir=args.corpus,
                    index_dir=args.index, uploads=args.uploads, gloss=args.gloss)
    return demo, holder


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "faiss", "faiss.loader", "sentence_transformers", "bm25s", "jieba"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from qa.app.judgments import PROJECT_ROOT, JudgmentPathRefused, check_path
    from qa.ingest.uploads import MAX_UPLOAD_BYTES

    try:
        check_path(args.judgments, [PROJECT_ROOT, args.corpus, args.index])
    except JudgmentPathRefused as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from qa.app.state import QAHolder

    holder = QAHolder(lambda report: open_report_qa(args, report)).start()  # before gradio's import, to overlap it
    demo, holder = build_app(args, holder)
    from qa.app.ui import page_assets

    auth = tuple(args.auth.split(":", 1)) if args.auth else None
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=256)
    # Gradio keeps each session's page state: ~0.09 MB each, and an API call without a session hash is a new
    # session. Its default of 10,000 let a curl-driven app grow by ~0.9 GB; 1,000 chats at once is plenty.
    demo.launch(server_name=args.host, server_port=args.port, auth=auth, footer_links=["api", "settings"],
                show_error=True, max_file_size=MAX_UPLOAD_BYTES, prevent_thread_lock=True,
                state_session_capacity=1000, **page_assets(demo.words))
    warm_other_script(holder, after=holder.answered)  # once the server is up and has answered, or after 5 s
    if args.replica:
        from qa.app.state import follow_builds

        follow_builds(holder, args.index, reopen_built(args), every=args.follow_every)
    demo.block_thread()
    return 0


if __name__ == "__main__":
    sys.exit(main())

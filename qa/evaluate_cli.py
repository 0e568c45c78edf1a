"""`python -m qa eval` — registered by the CLI; the evaluation itself lives in qa/evaluate.py."""

from __future__ import annotations


def add_parser(sub, common) -> None:
    p = sub.add_parser("eval", help="measure retrieval accuracy on a question set")
    common(p)
    p.set_defaults(handler=lambda args: _not_yet())


def _not_yet() -> int:
    import sys

    print("error: evaluation is not available yet", file=sys.stderr)
    return 2

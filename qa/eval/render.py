"""Render an `EvalReport`: Markdown tables (CLI and app) and a matplotlib chart (Agg, no display).

Takes the report as it is given (duck-typed), so `qa.eval.evaluate` can import this module and not
the other way round.
"""

from __future__ import annotations

from pathlib import Path

from qa.eval.metrics import RANKING_METRICS

ROWS = ("questions", "answerable", *RANKING_METRICS, "answer in highlight", "answer in span", "span words (median)",
        "abstained (answerable)", "abstention precision", "abstention recall", "strong matches right",
        "Hit@1 English", "Hit@1 Chinese", "median ms", "p95 ms")
TYPE_ROWS = ("Hit@1", "Recall@5", "MRR@10", "answer in highlight", "abstained")
COUNT_ROWS = {"questions", "answerable"}


def fmt(name: str, value) -> str:
    if value is None:
        return "–"
    if name in COUNT_ROWS:
        return str(int(value))
    if name in ("median ms", "p95 ms", "span words (median)"):
        return f"{value:.1f}"
    return f"{value:.3f}"


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A pipe table whose columns line up in a terminal as well as in Markdown."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    line = lambda cells: "| " + " | ".join(  # noqa: E731
        str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths))) + " |"
    sep = "|" + "|".join("-" * (w + 1) + ("-" if i == 0 else ":") for i, w in enumerate(widths)) + "|"
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def overall_table(report) -> str:
    summaries = {m: report.summary(m) for m in report.modes}
    return table(["metric", *report.modes], [[row, *(fmt(row, summaries[m][row]) for m in report.modes)] for row in ROWS])


def type_table(report) -> str:
    by_type = {m: report.by_type(m) for m in report.modes}
    rows = []
    for t in report.types():
        first = by_type[report.modes[0]][t]
        names = ["abstained"] if not first["answerable"] else [n for n in TYPE_ROWS if n != "abstained" or any(
            by_type[m][t]["abstained"] for m in report.modes)]
        for i, name in enumerate(names):
            label = f"{t} ({int(first['questions'])})" if i == 0 else ""
            rows.append([label, name, *(fmt(name, by_type[m][t][name]) for m in report.modes)])
    return table(["type (n)", "metric", *report.modes], rows)


def interval_table(report) -> str:
    """Counts behind the main proportions, with 95 % Wilson intervals: "84/91 0.923 (0.85–0.96)"."""
    props = {m: report.proportions(m) for m in report.modes}
    rows = []
    for name in next(iter(props.values())):
        cells = []
        for m in report.modes:
            v = props[m][name]
            cells.append("–" if v is None else f"{v[0]}/{v[1]} {v[0] / v[1]:.3f} ({v[2]:.2f}–{v[3]:.2f})")
        rows.append([name, *cells])
    return table(["proportion", *report.modes], rows)


def failure_lines(report, mode: str, limit: int | None) -> list[str]:
    out = []
    fails = report.failures(mode)
    for r in fails[:limit] if limit is not None else fails:
        asked = r.question + (f"  (after: {' / '.join(r.history)})" if r.history else "")
        out.append(f"- **{r.id}** [{r.type}] {asked}")
        if r.searched != r.question:
            out.append(f"  - searched: {r.searched}")
        if not r.answerable:
            out.append(f"  - should abstain; answered from {r.top_id} ({r.top_where}): “{_short(r.top_highlight)}”")
            continue
        where = f"rank {r.relevant_rank}" if r.relevant_rank else f"not in the top {len(r.ranked)}"
        want = f"expected “{r.answer}” in {', '.join(r.relevant)} ({where})"
        if r.metrics.get("Hit@1", 0) < 1:
            out.append(f"  - {want}; first came {r.top_id} ({r.top_where}): “{_short(r.top_highlight)}”")
        elif not r.highlight_ok:
            out.append(f"  - right passage, but the highlight misses “{r.answer}”: “{_short(r.top_highlight)}”")
        if r.abstained:
            out.append("  - abstained although the report answers it")
    if limit is not None and len(fails) > limit:
        out.append(f"- … and {len(fails) - limit} more (see --json)")
    return out


def _short(text: str, n: int = 140) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


SOURCE_ROWS = ("questions", "Hit@1 English", "Hit@1 Chinese", "answer in highlight", "answer in span",
               "span words (median)", "abstention recall", "abstained (answerable)", "strong matches right",
               "median ms", "p95 ms")


def source_table(report) -> str:
    """One column per question file and mode, when several files were evaluated together."""
    cols = [(src, m) for src in report.sources() for m in report.modes]
    sums = {m: report.by_source(m) for m in report.modes}
    heads = [f"{src.removesuffix('.questions.jsonl')} {m}" for src, m in cols]
    return table(["metric", *heads], [[row, *(fmt(row, sums[m][src][row]) for src, m in cols)] for row in SOURCE_ROWS])


def report_markdown(report, failures: int | None = 30) -> str:
    meta = report.meta
    head = f"Questions: {meta.get('questions', '?')}"
    if meta.get("source"):
        head += f" from {meta['source']}"
    head += f" · k = {meta.get('k', '?')}" + (f" · model {meta['model']}" if meta.get("model") else "")
    parts = [head, "", "### Overall (ranking metrics over answerable questions)", "", overall_table(report), "",
             "### Per question type", "", type_table(report), "",
             "### Counts and 95 % intervals (Wilson)", "", interval_table(report)]
    if len(report.sources()) > 1:
        parts += ["", "### Per question set", "", source_table(report)]
    for mode in report.modes:
        lines = failure_lines(report, mode, failures)
        parts += ["", f"### Failures — {mode} ({len(report.failures(mode))})", ""]
        parts += lines or ["None."]
    return "\n".join(parts) + "\n"


def plot_report(report, path: Path) -> Path:
    """The chart as a PNG at `path` (what the app's Evaluation tab shows)."""
    import matplotlib.pyplot as plt

    fig = figure(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def figure(report):
    """Recall@k curves per mode (answerable questions) and Hit@1 per type per mode
    (for unanswerable questions: the share that abstained); one legend below both."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from qa.eval.metrics import recall_at

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [1, 1.6]})
    depth = int(report.meta.get("k", 10))
    ks = list(range(1, depth + 1))
    for mode in report.modes:
        ans = [r for r in report.results[mode] if r.answerable]
        curve = [np.mean([recall_at(r.ranked, set(r.relevant), k) for r in ans]) if ans else 0 for k in ks]
        left.plot(ks, curve, marker="o", label=mode)
    left.set(xlabel="k (passages)", ylabel="Recall@k", title="Recall@k (answerable questions)", ylim=(0, 1.02))
    left.grid(alpha=0.3)

    types = report.types()
    width = 0.8 / max(1, len(report.modes))
    x = np.arange(len(types))
    for i, mode in enumerate(report.modes):
        by_type = report.by_type(mode)
        values = [(by_type[t]["abstention recall"] if not by_type[t]["answerable"] else by_type[t]["Hit@1"]) or 0
                  for t in types]
        right.bar(x + (i - (len(report.modes) - 1) / 2) * width, values, width, label=mode)
    right.set_xticks(x, [f"{t}\n(abstained)" if t == "unanswerable" else t for t in types], rotation=20, ha="right")
    right.set(ylabel="Hit@1", title="Hit@1 per question type", ylim=(0, 1.02))
    right.grid(axis="y", alpha=0.3)
    # one legend for both charts, below them: inside either it covered lines or bars
    handles, labels = left.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=max(1, len(labels)), frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig

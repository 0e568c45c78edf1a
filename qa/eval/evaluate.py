"""Evaluate retrieval on a question set: every question through `ReportQA.ask` for each mode.

`evaluate(qa, questions, modes)` → `EvalReport`, which renders itself as Markdown (the CLI table, the
app's Evaluation tab) or JSON, lists failures with what came first instead, and is cached beside the
index so the app can show the last run without re-running it. Ranking metrics are averaged over
answerable questions; abstention precision/recall are over all questions (a question "abstains" when
`Answer.abstained` is true; the right outcome for an unanswerable one).
"""

from __future__ import annotations

import hashlib
import json
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from qa.eval.metrics import RANKING_METRICS, first_relevant_rank, mean, percentile, ranking_metrics, write_trec_run
from qa.eval.questions import Question

Progress = Callable[[int, int, str], None]  # (done, total, description)
_CJK = re.compile(r"[\u3400-\u9fff]")
READER = "+reader"  # a mode name ending in this runs the mode with the reader ("hybrid+reader")


@dataclass(frozen=True)
class QuestionResult:
    id: str
    type: str
    question: str
    history: tuple[str, ...]
    searched: str
    answerable: bool
    relevant: tuple[str, ...]
    answer: str  # expected text
    ranked: tuple[str, ...]  # passage ids, best first
    scores: tuple[float, ...]
    top_id: str
    top_where: str  # "Section ¶n" of the first hit
    top_citation: str
    top_highlight: str
    abstained: bool
    highlight_ok: bool | None  # answerable only: the first hit's highlight contains the answer
    relevant_rank: int | None
    metrics: dict[str, float]
    ms: float
    top_confidence: str = ""  # the first hit's label (strong / possible / weak)
    # What the answer leads with: the reader's span, else the highlighted sentence (None: abstained).
    shown: str | None = None
    span_ok: bool | None = None  # answerable only: `shown` contains the expected answer
    reasons: tuple[str, ...] = ()  # the judging rules that fired
    source: str = ""  # the question file

    @property
    def chinese(self) -> bool:
        return bool(_CJK.search(self.question))

    @property
    def failed(self) -> bool:
        if not self.answerable:
            return not self.abstained
        return self.metrics["Hit@1"] < 1 or not self.highlight_ok or self.abstained


def contains_answer(highlight: str, answer: str) -> bool:
    """Whitespace- and case-insensitive containment (the answer is copied from the report)."""
    norm = lambda s: " ".join(s.split()).casefold()  # noqa: E731
    return bool(answer) and norm(answer) in norm(highlight)


def score_answer(q: Question, answer, mode: str, ms: float) -> QuestionResult:
    """One `qa.types.Answer` judged against its question."""
    ranked = tuple(h.passage.id for h in answer.hits)
    relevant = set(q.relevant)
    top = answer.hits[0] if answer.hits else None
    highlight_ok = None if not q.answerable else bool(top) and contains_answer(top.highlight, q.answer)
    shown = None if answer.abstained or not top else (top.span or top.highlight)
    span_ok = None if not q.answerable else bool(shown) and contains_answer(shown, q.answer)
    return QuestionResult(
        q.id, q.type, q.question, q.history, answer.searched, q.answerable, q.relevant, q.answer, ranked,
        tuple(round(h.score, 4) for h in answer.hits), top.passage.id if top else "",
        (f"{top.passage.section} ¶{top.passage.paragraph}" if top.passage.section else f"¶{top.passage.paragraph}")
        if top else "", top.passage.citation() if top else "",
        top.highlight if top else "", answer.abstained, highlight_ok,
        first_relevant_rank(ranked, relevant) if relevant else None,
        ranking_metrics(ranked, relevant) if q.answerable else {}, round(ms, 2),
        top.confidence if top else "", shown, span_ok, tuple(getattr(answer, "reasons", ())), q.source)


def summarise(results: list[QuestionResult]) -> dict[str, float | None]:
    """The rows of the table for one mode (or one question type)."""
    ans = [r for r in results if r.answerable]
    una = [r for r in results if not r.answerable]
    abstained = [r for r in results if r.abstained]
    out: dict[str, float | None] = {"questions": len(results), "answerable": len(ans)}
    for name in RANKING_METRICS:
        out[name] = mean(r.metrics[name] for r in ans)
    out["answer in highlight"] = mean(float(bool(r.highlight_ok)) for r in ans)
    out["answer in span"] = mean(float(bool(r.span_ok)) for r in ans)
    words = [len(r.shown.split()) for r in ans if r.shown]
    out["span words (median)"] = statistics.median(words) if words else None
    out["abstained (answerable)"] = mean(float(r.abstained) for r in ans)
    out["abstention precision"] = mean(float(not r.answerable) for r in abstained)
    out["abstention recall"] = mean(float(r.abstained) for r in una)
    out["abstained"] = mean(float(r.abstained) for r in results)
    # How far a "strong match" label can be trusted: answered questions whose first hit was labelled
    # strong, and the share of them that an answerable question's right passage answered.
    counts, success = PROPORTIONS["strong matches right"]
    out["strong matches right"] = mean(float(success(r)) for r in results if counts(r))
    out["Hit@1 English"] = mean(r.metrics["Hit@1"] for r in ans if not r.chinese)
    out["Hit@1 Chinese"] = mean(r.metrics["Hit@1"] for r in ans if r.chinese)
    out["median ms"] = statistics.median(r.ms for r in results) if results else None
    out["p95 ms"] = percentile([r.ms for r in results], 0.95) if results else None
    return out


def _hit(r: QuestionResult) -> bool:
    return r.answerable and r.metrics["Hit@1"] >= 1


# The proportions a reader compares with a target: (which questions it counts, which of them succeed).
PROPORTIONS: dict[str, tuple[Callable[[QuestionResult], bool], Callable[[QuestionResult], bool]]] = {
    "Hit@1 English": (lambda r: r.answerable and not r.chinese, _hit),
    "Hit@1 Chinese": (lambda r: r.answerable and r.chinese, _hit),
    "Hit@1 follow-ups": (lambda r: r.answerable and bool(r.history), _hit),
    "answer in highlight": (lambda r: r.answerable, lambda r: bool(r.highlight_ok)),
    "answer in span": (lambda r: r.answerable, lambda r: bool(r.span_ok)),
    "abstention recall": (lambda r: not r.answerable, lambda r: r.abstained),
    "abstained (answerable)": (lambda r: r.answerable, lambda r: r.abstained),
    "strong matches right": (lambda r: not r.abstained and r.top_confidence == "strong", _hit),
}


def proportions(results: list[QuestionResult], confidence: float = 0.95) -> dict[str, tuple[int, int, float, float] | None]:
    """Each target-style proportion as (successes, questions, low, high): the Wilson score interval
    (scipy), which says how far a figure from ~100 questions may be from what more questions would give."""
    from scipy.stats import binomtest

    out: dict[str, tuple[int, int, float, float] | None] = {}
    for name, (counts, success) in PROPORTIONS.items():
        rs = [r for r in results if counts(r)]
        if not rs:
            out[name] = None
            continue
        k = sum(success(r) for r in rs)
        ci = binomtest(k, len(rs)).proportion_ci(confidence, method="wilson")
        out[name] = (k, len(rs), float(ci.low), float(ci.high))
    return out


@dataclass
class EvalReport:
    modes: list[str]
    results: dict[str, list[QuestionResult]]
    meta: dict = field(default_factory=dict)

    def summary(self, mode: str) -> dict[str, float | None]:
        return summarise(self.results[mode])

    def proportions(self, mode: str) -> dict[str, tuple[int, int, float, float] | None]:
        return proportions(self.results[mode])

    def types(self) -> list[str]:
        seen = dict.fromkeys(r.type for rs in self.results.values() for r in rs)
        return sorted(seen, key=lambda t: (t == "unanswerable", t))

    def by_type(self, mode: str) -> dict[str, dict[str, float | None]]:
        return {t: summarise([r for r in self.results[mode] if r.type == t]) for t in self.types()}

    def sources(self) -> list[str]:
        return list(dict.fromkeys(r.source for rs in self.results.values() for r in rs if r.source))

    def by_source(self, mode: str) -> dict[str, dict[str, float | None]]:
        return {s: summarise([r for r in self.results[mode] if r.source == s]) for s in self.sources()}

    def failures(self, mode: str) -> list[QuestionResult]:
        return [r for r in self.results[mode] if r.failed]

    def to_json(self) -> dict:
        return {
            "meta": self.meta, "modes": self.modes,
            "summary": {m: self.summary(m) for m in self.modes},
            "by_type": {m: self.by_type(m) for m in self.modes},
            "intervals": {m: self.proportions(m) for m in self.modes},
            "results": {m: [asdict(r) for r in rs] for m, rs in self.results.items()},
        }

    @staticmethod
    def from_json(d: dict) -> EvalReport:
        results = {m: [QuestionResult(**{**r, "history": tuple(r["history"]), "relevant": tuple(r["relevant"]),
                                          "ranked": tuple(r["ranked"]), "scores": tuple(r["scores"]),
                                          "reasons": tuple(r.get("reasons", ()))})
                       for r in rs] for m, rs in d["results"].items()}
        return EvalReport(list(d["modes"]), results, d.get("meta", {}))

    def to_markdown(self, failures: int | None = 30) -> str:
        from qa.eval.render import report_markdown

        return report_markdown(self, failures)


def evaluate(qa, questions: list[Question], modes: list[str], progress: bool | Progress | None = None, *,
             k: int = 10, meta: dict | None = None) -> EvalReport:
    """Ask every question in every mode (k passages each, at least 10 for the @10 metrics)."""
    depth = max(k, max(c for _, c in RANKING_METRICS.values()))
    total = len(questions) * len(modes)
    bar = None
    if progress is True:
        from tqdm import tqdm

        bar = tqdm(total=total, desc="evaluating", unit="q")
    results: dict[str, list[QuestionResult]] = {}
    done = 0
    try:
        for mode in modes:
            out = []
            for q in questions:
                t0 = time.perf_counter()
                a = qa.ask(q.question, list(q.history), k=depth, mode=mode.removesuffix(READER),
                           read=mode.endswith(READER))
                out.append(score_answer(q, a, mode, (time.perf_counter() - t0) * 1000))
                done += 1
                if bar is not None:
                    bar.set_postfix_str(mode)
                    bar.update(1)
                elif callable(progress):
                    progress(done, total, f"{mode}: {q.id}")
            results[mode] = out
    finally:
        if bar is not None:
            bar.close()
    info = {"k": depth, "questions": len(questions),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    manifest = getattr(getattr(qa, "index", None), "manifest", None) or {}
    if manifest:
        info.update(model=manifest.get("model_id"), corpus=manifest.get("corpus", {}).get("fingerprint"))
    info["settings"] = settings_fingerprint(qa)
    info.update(meta or {})
    return EvalReport(list(modes), results, info)


def write_runs(report: EvalReport, path: Path) -> list[Path]:
    """TREC run file(s): `path` for one mode, else `stem.MODE.suffix` beside it for each mode."""
    written = []
    for mode in report.modes:
        target = run_path(Path(path), mode, len(report.modes))
        write_trec_run(target, {r.id: list(zip(r.ranked, r.scores)) for r in report.results[mode]}, f"qa-{mode}")
        written.append(target)
    return written


def run_path(path: Path, mode: str, modes: int) -> Path:
    """The run file of one mode: `path` itself when only one mode runs."""
    return path if modes == 1 else path.with_name(f"{path.stem}.{mode}{path.suffix or '.trec'}")


def plot(report: EvalReport, path: Path) -> Path:
    from qa.eval.render import plot_report

    return plot_report(report, Path(path))


# -- cache for the app's Evaluation tab ---------------------------------------------------------------

def questions_digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(Path(x) for x in paths):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def cache_path(index_dir: Path) -> Path:
    """Where the last evaluation of the shipped question set is kept: `index/eval/last.json`."""
    return Path(index_dir) / "eval" / "last.json"


def save_report(report: EvalReport, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(report.to_json(), ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)


def load_report(path: Path) -> EvalReport | None:
    """A saved report, or None when there is none or it cannot be read."""
    try:
        return EvalReport.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def settings_fingerprint(qa) -> str:
    """What else decides an evaluation's figures besides the index and the questions: the code (every
    module of `qa/`), the ranking weights, the thresholds and the cross-lingual model."""
    h = hashlib.sha256()
    package = Path(__file__).resolve().parents[1]
    for path in sorted(package.rglob("*.py")):
        h.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    retriever = getattr(qa, "retriever", None)
    xling = getattr(retriever, "xling", None)
    thresholds = getattr(qa, "thresholds", None) or {}
    h.update(repr((getattr(retriever, "weights", None), sorted(thresholds.items()),
                   getattr(xling, "model_id", None))).encode())
    return h.hexdigest()


def is_current(report: EvalReport, qa, question_paths: list[Path]) -> bool:
    """True when the cached report was made with this index (corpus + model), these question files and
    these settings (code, weights, thresholds: `settings_fingerprint`)."""
    manifest = qa.index.manifest
    return (report.meta.get("questions_sha256") == questions_digest(question_paths)
            and report.meta.get("corpus") == manifest.get("corpus", {}).get("fingerprint")
            and report.meta.get("model") == manifest.get("model_id")
            and report.meta.get("settings") == settings_fingerprint(qa))

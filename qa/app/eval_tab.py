"""The app's Evaluation tab: the shipped question set's table and chart, cached, with a re-run button.

Shows the result `python -m qa eval` (or the button) last saved in `index/eval/last.json` when it still
matches this index and these question files; "Run the evaluation" runs every retrieval mode again
with a progress bar and saves the new result and chart.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from qa.app.state import QAHolder


def _paths(corpus_dir: Path) -> list[Path]:
    from qa.eval.questions import question_files

    return question_files(corpus_dir)


def shown_path(path: Path, corpus_dir: Path) -> str:
    """A path as the page shows it: relative to the project, or else to the corpus folder's parent (never
    the server's absolute path)."""
    from qa.app.judgments import PROJECT_ROOT

    path = Path(path).resolve()
    for base in (PROJECT_ROOT, Path(corpus_dir).resolve().parent):
        if path.is_relative_to(base):
            return path.relative_to(base).as_posix()
    return path.name


def _chart(index_dir: Path) -> Path:
    from qa.eval.evaluate import cache_path

    return cache_path(index_dir).with_suffix(".png")


def cached_view(holder: QAHolder, corpus_dir: Path, index_dir: Path, lang: str = "en") -> tuple[str, str | None]:
    """(Markdown, chart path) of the saved evaluation, or a plain note when there is none for this index."""
    from qa.eval.evaluate import cache_path, is_current, load_report
    from qa.words import say

    paths = _paths(corpus_dir)
    if not paths:
        return say("eval_no_questions", lang, folder=shown_path(corpus_dir, corpus_dir)), None
    report = load_report(cache_path(index_dir))
    if report is None or not holder.wait(0) or not is_current(report, holder.get(), paths):
        return say("eval_none", lang), None
    chart = _chart(index_dir)
    return report.to_markdown(failures=10), (str(chart) if chart.is_file() else None)


def run_view(holder: QAHolder, corpus_dir: Path, index_dir: Path, progress, lang: str = "en") -> tuple[str, str | None]:
    from qa.eval.evaluate import cache_path, evaluate, plot, questions_digest, save_report
    from qa.eval.questions import load_question_files
    from qa.search.retrieve import MODES
    from qa.words import say

    paths = _paths(corpus_dir)
    if not paths:
        return say("eval_no_questions", lang, folder=shown_path(corpus_dir, corpus_dir)), None
    qa = holder.get()
    meta = {"source": ", ".join(shown_path(p, corpus_dir) for p in paths), "questions_sha256": questions_digest(paths)}
    report = evaluate(qa, load_question_files(paths), list(MODES),
                      progress=lambda done, total, desc: progress(done / max(total, 1), desc=desc), meta=meta)
    save_report(report, cache_path(index_dir))
    chart = plot(report, _chart(index_dir))
    return report.to_markdown(failures=10), str(chart)


def add_evaluation_tab(demo: gr.Blocks, holder: QAHolder, corpus_dir: Path, index_dir: Path,
                       t: gr.I18n | None = None, lang_js: str | None = None) -> list[tuple[object, str, str]]:
    """Call inside `gr.Tabs()`. `t`: the page's words (qa.words keys); `lang_js` fills in the page's
    language as the last input (qa/app/ui.py). Returns (component, property, key of qa.words) for the
    language switch."""
    from qa.words import say, ui_lang

    t = t or (lambda key: say(key))
    with gr.Tab(t("tab_eval"), id="evaluation") as tab:
        intro = gr.Markdown(t("eval_intro"))
        run = gr.Button(t("eval_run"), elem_id="eval-run")
        lang = gr.Textbox("en", visible=False)
        chart = gr.Image(label="Recall@k per mode, Hit@1 per type", show_label=False, type="filepath",
                         elem_id="eval-chart", interactive=False, buttons=["download", "fullscreen"])
        table = gr.Markdown("", elem_id="eval-table")

    def show(code: str | None = None):
        holder.wait(None)
        try:
            return cached_view(holder, corpus_dir, index_dir, ui_lang(code))
        except RuntimeError as e:  # the reports could not be opened: the status line says why
            return str(e), None

    def rerun(code: str | None = None, progress=gr.Progress()):
        try:
            return run_view(holder, corpus_dir, index_dir, progress, ui_lang(code))
        except RuntimeError as e:
            return str(e), None

    demo.load(show, [lang], [table, chart], api_visibility="private", js=lang_js)
    run.click(rerun, [lang], [table, chart], concurrency_limit=1, concurrency_id="evaluation",
              api_visibility="private", js=lang_js)
    return [(tab, "label", "tab_eval"), (intro, "value", "eval_intro"), (run, "value", "eval_run")]

"""The app's and the CLI's own words, in English and Chinese. Report text is never translated here.

- `WORDS[lang][key]`: every fixed string of the page and the CLI (labels, buttons, tabs, notices,
  placeholders, status line parts); the app hands the static ones to Gradio's `gr.I18n`, and writes the
  others (replies, cards, status) in the asker's language itself.
- `localize(message, lang)`: a message of the inner stages (a notice, a domain error), written in English
  there, in the other language: each known English form has its Chinese form; a message of unknown form
  stays as it is.
- `language_of(text)`: "zh" for text mostly in Chinese, else "en" (the CLI follows the question's script).
"""

from __future__ import annotations

import re

LANGS = ("en", "zh")

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "intro": "Ask about the reports. Every answer is quoted from a report: a short answer, then its sentence, "
                 "with numbered citations you can open.",
        "opening": "Opening the reports…",
        "tools": "Filters and uploads",
        "doc_filter": "Only these reports (none = all)",
        "years": "Years",
        "years_hint": "e.g. 2011 or 2010-2012",
        "upload": "Add reports ({types}, up to 20 MB each)",
        "chat_hint": "Ask a question about the reports.",
        "question_hint": "Ask a question and press Enter",
        "ask": "Ask",
        "clear": "Clear",
        "download": "Download conversation (.md)",
        "examples": "Examples (click to ask):",
        "answered_it": "[{n}] answered it",
        "none_answered": "None answered it",
        "tab_ask": "Ask",
        "tab_sources": "Sources",
        "tab_eval": "Evaluation",
        "eval_intro": "Retrieval accuracy on the question set shipped beside the reports "
                      "(`python -m qa eval` prints the same).",
        "eval_run": "Run the evaluation",
        "eval_none": "No evaluation of this index yet: press **Run the evaluation** (about a minute).",
        "eval_no_questions": "No question set (`*.questions.jsonl`) in `{folder}`.",
        # replies and cards
        "strong": "strong match", "possible": "possible match", "weak": "weak match",
        "nothing": "Nothing in the reports answers this question.",
        "nothing_more": "The nearest passages are shown with the citations, as weak matches, not as answers.",
        "doubt": "The closest passage may answer this:",
        "searched": "Searched for:",
        "note": "Note:",
        "sources": "Sources:",
        "gloss": "Machine translation:",
        "question_label": "Question",
        "reading": "Reading the top passages to check that they answer…",
        "reader_loading_note": "The reader is still loading: this answer was not checked by it yet.",
        "reader_off_note": "The reader is off ({why}): this answer was not checked by it.",
        "cited": "Cited passages for:",
        "nearest": "Nearest passages (weak matches, none answers the question) for:",
        "no_passages": "No passages.",
        "no_passages_for": "No passages for:",
        "cannot": "Cannot search this question:",
        "open_context": "Open in context",
        "reader_answers": "reader: answers the question",
        "reader_not": "reader: does not answer the question",
        "before_first": "(before the first section)",
        "no_documents": "No documents.",
        "empty_question": "(empty question)",
        # status line and judgments
        "ready": "Ready: {reports}, {paragraphs}.",
        "report": "report", "reports": "reports", "paragraph": "paragraph", "paragraphs": "paragraphs",
        "rebuilt": "Index rebuilt at start ({why}) in {seconds} s",
        "opened": "Opened the saved index",
        "added": "Added {names}",
        "updated": "Index updated",
        "switched": "Switched to the writer's build {name}",
        "at": "{what} at {when}.",
        "reader_off": "Reader: off (start the app with --reader to check answers and quote the span).",
        "reader_loading": "Reader: loading — answers are not checked by it yet.",
        "reader_on": "Reader: on{took} — answers are checked and the answer span quoted.",
        "reader_took": " (loaded in {seconds} s)",
        "reader_unavailable": "Reader: off — {why}. Answers are not checked by it.",
        "ask_first": "Ask a question first.",
        "saved": "Thank you, saved: {what}.",
        "already_saved": "Already saved: {what}.",
        "not_saved": "Not saved: {why}",
        "none_of_them": "none of the passages answered it",
        "could_not_open": "Could not open the reports: {why}",
        "language": "Language",
        # the CLI
        "cli_question": "Q:", "cli_answer": "A:", "cli_not_found": "(not found in the reports)",
        "cli_gloss": "Machine translation of the answer ({language}):",
        "lang_en": "English", "lang_zh": "Chinese",
    },
    "zh": {
        "intro": "就报告提问。每个回答都引自报告：先是简短答案，再是所在的句子，并附可展开的编号引文。",
        "opening": "正在打开报告…",
        "tools": "筛选与上传",
        "doc_filter": "只搜索这些报告（不选 = 全部）",
        "years": "年份",
        "years_hint": "例如 2011 或 2010-2012",
        "upload": "添加报告（{types}，每个最多 20 MB）",
        "chat_hint": "就报告提一个问题。",
        "question_hint": "输入问题后按回车",
        "ask": "提问",
        "clear": "清空",
        "download": "下载对话记录",
        "examples": "示例（点击即问）：",
        "answered_it": "[{n}] 回答了问题",
        "none_answered": "都没有回答",
        "tab_ask": "提问",
        "tab_sources": "来源",
        "tab_eval": "评估",
        "eval_intro": "报告附带问题集上的检索准确率（`python -m qa eval` 输出相同结果）。",
        "eval_run": "运行评估",
        "eval_none": "此索引尚未评估：请点击**运行评估**（约一分钟）。",
        "eval_no_questions": "`{folder}` 中没有问题集（`*.questions.jsonl`）。",
        "strong": "强匹配", "possible": "可能匹配", "weak": "弱匹配",
        "nothing": "报告中没有内容回答这个问题。",
        "nothing_more": "最接近的段落列在引文中，作为弱匹配，而不是答案。",
        "doubt": "最接近的段落可能回答了这个问题：",
        "searched": "检索内容：",
        "note": "提示：",
        "sources": "来源：",
        "gloss": "机器翻译：",
        "question_label": "问题",
        "reading": "正在阅读排名靠前的段落，核对它们是否回答了问题…",
        "reader_loading_note": "阅读模型仍在加载：这个回答尚未经它核对。",
        "reader_off_note": "阅读模型已关闭（{why}）：这个回答未经它核对。",
        "cited": "引用的段落：",
        "nearest": "最接近的段落（弱匹配，均未回答问题）：",
        "no_passages": "没有段落。",
        "no_passages_for": "没有段落：",
        "cannot": "无法检索这个问题：",
        "open_context": "在上下文中查看",
        "reader_answers": "阅读模型：回答了问题",
        "reader_not": "阅读模型：没有回答问题",
        "before_first": "（第一个标题之前）",
        "no_documents": "没有文档。",
        "empty_question": "（空问题）",
        "ready": "就绪：{reports}，{paragraphs}。",
        "report": "份报告", "reports": "份报告", "paragraph": "个段落", "paragraphs": "个段落",
        "rebuilt": "启动时重建了索引（{why}），用时 {seconds} 秒",
        "opened": "打开了已保存的索引",
        "added": "添加了 {names}",
        "updated": "索引已更新",
        "switched": "切换到写入端的构建 {name}",
        "at": "{what}，时间 {when}。",
        "reader_off": "阅读模型：关闭（用 --reader 启动应用即可核对答案并引用答案片段）。",
        "reader_loading": "阅读模型：加载中——回答暂未经它核对。",
        "reader_on": "阅读模型：已开启{took}——回答经过核对，并引用答案片段。",
        "reader_took": "（加载用时 {seconds} 秒）",
        "reader_unavailable": "阅读模型：关闭——{why}。回答未经它核对。",
        "ask_first": "请先提一个问题。",
        "saved": "谢谢，已保存：{what}。",
        "already_saved": "已经保存过：{what}。",
        "not_saved": "未保存：{why}",
        "none_of_them": "没有段落回答了问题",
        "could_not_open": "无法打开报告：{why}",
        "language": "语言",
        "cli_question": "问：", "cli_answer": "答：", "cli_not_found": "（报告中没有找到）",
        "cli_gloss": "答案的机器翻译（{language}）：",
        "lang_en": "英文", "lang_zh": "中文",
    },
}


def say(key: str, lang: str = "en", **kw) -> str:
    """The string `key` in `lang` (English when `lang` is unknown), filled with `kw`."""
    text = WORDS.get(lang, WORDS["en"]).get(key) or WORDS["en"][key]
    return text.format(**kw) if kw else text


def count(n: int, noun: str, lang: str = "en") -> str:
    """"1 paragraph", "2 paragraphs"; "2 个段落"."""
    if lang == "zh":
        return f"{n:,} {say(noun, 'zh')}"
    return f"{n:,} {say(noun if n == 1 else noun + 's', 'en')}"


def ui_lang(code: str | None) -> str:
    """A browser locale as one of LANGS: "zh" for "zh", "zh-CN", "zh-Hans-TW"; else "en"."""
    return "zh" if str(code or "").lower().startswith("zh") else "en"


_CJK = re.compile(r"[\u3400-\u9fff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")


def language_of(text: str) -> str:
    """"zh" when the text is mostly Chinese (more CJK characters than Latin words), else "en"."""
    return "zh" if len(_CJK.findall(text or "")) > len(_LATIN_WORD.findall(text or "")) else "en"


# What a kind of answer is called in Chinese (qa/answer/typed.py `WORDS`, qa/answer/checks.py)
_KINDS = {"count": "数量", "figure": "数字", "length": "长度", "area": "面积", "weight": "重量", "volume": "体积",
          "sum of money": "金额", "percentage": "百分比", "duration": "时长", "date": "日期", "day or month": "日期或月份",
          "person's name": "人名", "person or organisation": "人员或机构", "place": "地点", "ranking": "排名"}


def _kind(text: str) -> str:
    if text.startswith("count of "):
        return f"{text[len('count of '):]}的数量"
    return _KINDS.get(text, text)


def _list(text: str) -> str:
    return text.replace(", or ", "、").replace(" or ", "或").replace(", ", "、")


# English message forms of the inner stages → their Chinese forms (the captured parts are the question's
# own words, figures or report ids, kept as they are)
_FORMS: list[tuple[re.Pattern, object]] = [(re.compile(p), f) for p, f in (
    (r"^The best-matching passage gives no (.+) for this\.$", lambda m: f"最匹配的段落没有给出这个问题要的{_kind(m[1])}。"),
    (r"^The best-matching passage does not cover (.+?)\.$", lambda m: f"最匹配的段落没有涉及{_list(m[1])}。"),
    (r"^The best-matching sentence is about (.+), not (.+)\.$",
     lambda m: f"最匹配的句子讲的是{_list(m[1])}，而不是{_list(m[2])}。"),
    (r"^The reports do not mention (.+)\.$", lambda m: f"报告中没有提到{_list(m[1])}。"),
    (r"^The reader checked the top passages: .*$",
     lambda m: "阅读模型核对了排名靠前的段落：它们与这个问题相关，但都没有回答它。"),
    (r"^The two search models disagree on the best passage: the second one puts \[(\d+)\] first\. .*$",
     lambda m: f"两个检索模型对最佳段落看法不一：第二个模型把 [{m[1]}] 排在第一。请先比较它们，再采用 [1]。"),
    (r"^The two search models disagree on the best passage: .*$",
     lambda m: "两个检索模型对最佳段落看法不一：第二个模型把另一个段落排在第一。请先比较，再采用 [1]。"),
    (r"^No passage in the reports answers this question well enough.*$",
     lambda m: "报告中没有段落足以回答这个问题；最接近的段落作为弱匹配列出。"),
    (r"^The question was ([\d,]+) characters long; only the first ([\d,]+) were searched\.?$",
     lambda m: f"问题长 {m[1]} 个字符，只检索了前 {m[2]} 个。"),
    (r"^the question is empty$", lambda m: "问题是空的"),
    (r"^the question has no words to search for$", lambda m: "问题中没有可检索的词"),
    (r"^the question must be text$", lambda m: "问题必须是文本"),
    (r"^no report from (.+) among the chosen reports$", lambda m: f"所选报告中没有 {m[1]} 年的报告"),
    (r"^no report from (.+)$", lambda m: f"没有 {m[1]} 年的报告"),
    (r"^no report with id (.+)$", lambda m: f"没有 id 为 {m[1]} 的报告"),
    (r"^year filter (.+) is not a year or a range like 2010-2012$",
     lambda m: f"年份筛选 {m[1]} 不是年份，也不是 2010-2012 这样的范围"),
    (r"^the reports are still being indexed; try again in a moment$", lambda m: "报告仍在建立索引；请稍后再试"),
    (r"^the reports could not be opened: (.+)$", lambda m: f"无法打开报告：{m[1]}"),
    (r"^the search failed \((.+)\)$", lambda m: f"检索失败（{m[1]}）"),
    # why the index was rebuilt (qa/index/folder.py)
    (r"^no index has been built yet$", lambda m: "此前没有索引"),
    (r"^rebuild requested$", lambda m: "要求重建"),
    (r"^corpus changed: (.+)$", lambda m: f"报告有变化：{_changes(m[1])}"),
    (r"^model changed \((.+)\)$", lambda m: f"模型有变化（{m[1]}）"),
    (r"^report parsing changed since the index was built$", lambda m: "建立索引后报告解析方式有变化"),
    (r"^sentence splitting changed since the index was built$", lambda m: "建立索引后分句方式有变化"),
    # progress while the index opens or is updated (qa/app/state.py, app.py, qa/app/uploads.py)
    (r"^Starting…$", lambda m: "正在启动…"),
    (r"^Checking the index…$", lambda m: "正在检查索引…"),
    (r"^Loading the embedding models…$", lambda m: "正在加载嵌入模型…"),
    (r"^Building the index: (?:cross-lingual )?embedded ([\d,]+) of ([\d,]+) sentences$",
     lambda m: f"正在建立索引：已嵌入 {m[1]} / {m[2]} 个句子"),
    (r"^Building the index: saving$", lambda m: "正在建立索引：保存中"),
    (r"^Checking (.+)$", lambda m: f"正在检查 {m[1]}"),
    (r"^Indexing the new reports…$", lambda m: "正在为新报告建立索引…"),
    (r"^Loading the updated index…$", lambda m: "正在加载更新后的索引…"),
    # upload results (qa/app/uploads.py)
    (r"^Added (.+?)(?: \(saved as (.+)\))?: “(.+)”, ([\d,]+) paragraphs?, report id (.+)\. You can ask about it now\.$",
     lambda m: f"已添加 {m[1]}{f'（保存为 {m[2]}）' if m[2] else ''}：“{m[3]}”，{m[4]} 个段落，报告 id {m[5]}。现在就可以提问。"),
    (r"^Index updated in ([\d.]+) s \((.+)\)\.$", lambda m: f"索引更新用时 {m[1]} 秒（{m[2]}）。"),
    (r"^Not added: (.+?) — the same file is already in the reports \((.+)\)\.$",
     lambda m: f"未添加：{m[1]}——报告中已有相同的文件（{m[2]}）。"),
    (r"^Not added: (.+?) — (.+)\.$", lambda m: f"未添加：{m[1]}——{m[2]}。"),
)]


def _changes(text: str) -> str:
    return text.replace("added", "新增").replace("removed", "删除").replace("changed", "修改").replace("; ", "；")


def localize(message: str, lang: str) -> str:
    """An inner stage's English message in `lang`: its Chinese form when its English form is known,
    else the message as it is."""
    if lang != "zh":
        return message
    for pattern, form in _FORMS:
        if m := pattern.match(message):
            return form(m)
    return message

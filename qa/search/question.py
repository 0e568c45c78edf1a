"""Questions: cleaning user input, and resolving follow-ups against earlier questions.

A follow-up ("And how many people fell below it?") is searched together with the topic of the
conversation; a self-contained question is searched as asked. No language model: the rules look for
words that point back (it, they, this, 它, 其 …) and for questions too short to stand alone.
"""

from __future__ import annotations

import re
import unicodedata

from qa.errors import BadQuestion
from qa.search.lexical import STOPWORDS, chinese_words

MAX_QUESTION_CHARS = 1000

_POINTERS_EN = re.compile(
    r"\b(it|its|it's|they|them|their|theirs|this|that|these|those|there|he|him|his|she|her|"
    r"the same|the former|the latter|such|then)\b", re.I)
_OPENERS_EN = re.compile(r"^\s*(and|but|also|so|what about|how about|and what|what else|why|how come)\b", re.I)
_POINTERS_ZH = re.compile(r"[它其该此这那他她]|他们|它们|这些|那些|上述|同年|那么|呢[？?]?$")
# Chinese question and function words that name no topic (beyond the index's stop words, qa/search/lexical.py)
_ZH_FUNCTION = frozenset("""
谁 哪 哪里 哪儿 哪年 哪一年 哪家 几 几个 几位 几年 多少 什么 怎么 怎样 怎么样 如何 为什么 为何 何时 是否 吗 呢 吧 啊
请 请问 一共 总共 分别 到底 具体
""".split())
_CONTROL = {"Cc", "Cf", "Cs", "Co", "Cn"}


def clean_question(raw: str) -> tuple[str, list[str]]:
    """Normalise a user question; returns (question, notices). Raises BadQuestion if nothing is left."""
    notices: list[str] = []
    if not isinstance(raw, str):
        raise BadQuestion("the question must be text")
    text = "".join(ch if unicodedata.category(ch) not in _CONTROL else " " for ch in raw)
    text = " ".join(text.split())
    if not text:
        raise BadQuestion("the question is empty")
    if not any(ch.isalnum() for ch in text):
        raise BadQuestion("the question has no words to search for")
    if len(text) > MAX_QUESTION_CHARS:
        notices.append(f"The question was {len(text):,} characters long; only the first "
                       f"{MAX_QUESTION_CHARS:,} were searched.")
        text = text[:MAX_QUESTION_CHARS]
    return text, notices


def content_words(text: str) -> list[str]:
    """Words that carry the topic: not stop words, not pointers. Chinese is cut into words (jieba)."""
    words: list[str] = []
    for w in re.findall(r"[A-Za-z][\w\-’']*|\d[\d,.]*|[\u3400-\u9fff]+", text):
        if "\u3400" <= w[0] <= "\u9fff":
            words.extend(z for z in chinese_words(w) if z not in _ZH_FUNCTION)
        elif w.lower() not in STOPWORDS:
            words.append(w)
    return words


def needs_context(question: str) -> bool:
    """True when the question points back to earlier turns and cannot be searched alone."""
    if _OPENERS_EN.search(question) or _POINTERS_EN.search(question) or _POINTERS_ZH.search(question):
        return True
    return len(content_words(question)) <= 1


def join_or(items) -> str:
    """["Tibet", 2015] → "Tibet or 2015"; three or more → "a, b or c"."""
    words = [str(i) for i in items]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


_EXCEPT = re.compile(r"^\W*(besides|apart from|aside from|other than|in addition to|except( for)?)\s+([^,?]+),\s*(.+)$", re.I)


def without_excluded(question: str) -> str:
    """"Besides moving people away, what was done …?" → "what was done …?": the opening clause names
    what the answer is *not*, so its words must not pull the highlight to the sentence about it."""
    m = _EXCEPT.match(question)
    return m.group(4) if m else question


def resolve(question: str, history: list[str] | None) -> str:
    """The query to search: the question, plus the topic of earlier turns if it needs it."""
    history = [h for h in (history or []) if h and h.strip()]
    if not history or not needs_context(question):
        return question
    previous = resolve(history[-1], history[:-1])
    topic = [w for w in content_words(previous) if w.lower() not in {c.lower() for c in content_words(question)}]
    if not topic:
        return question
    return f"{question} ({' '.join(topic)})"


_NAMED = re.compile(r"(?<!\d)(?:1[89]|20)\d\d(?!\d)|\b[A-Z][\w’'-]*(?:\s+(?:of\s+(?:the\s+)?)?[A-Z][\w’'-]*)*")
_QUESTION_OPENERS = {"what", "which", "who", "whom", "whose", "when", "where", "why", "how", "did", "does", "do",
                     "is", "are", "was", "were", "can", "could", "in", "on", "at", "and", "but", "the", "a",
                     "an", "tell", "list", "give", "name", "describe", "explain", "for", "from", "to", "by"}


def named_terms(question: str) -> list[str]:
    """Years and capitalised names in a question ("Tibet", "2015", "World Bank", "2015年" → "2015").

    The question's first word is capitalised because it starts the sentence, so it only counts as a
    name when it is part of a longer capitalised run ("Inner Mongolia's …")."""
    out: list[str] = []
    first = re.match(r"\W*(\w+)", question)
    for m in _NAMED.finditer(question):
        words = m.group(0).split()
        while words and words[0].lower() in _QUESTION_OPENERS:
            words = words[1:]
        if first and m.start() == first.start(1) and len(words) == 1 and not words[0][0].isdigit():
            continue
        term = " ".join(words)
        if term and term.lower() not in STOPWORDS and term not in out and term.upper() != "I":
            out.append(term)
    return out

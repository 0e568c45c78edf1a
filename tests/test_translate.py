"""Dictionary query translation (CC-CEDICT): Chinese questions reach English passages lexically, and
English questions reach Chinese passages, even with an embedder that knows no other language."""

from __future__ import annotations

import pytest

from qa.search.lexical import LexicalIndex, tokenize
from qa.search.translate import Translator, zh_to_en
from tests.conftest import hash_retriever, write_corpus  # hash_retriever: fake embedder, only the dictionary helps

ENGLISH = ("Report\n\n【Relocation】 It relocated 500 households to Zaozi Resettlement Zone.\n\n"
           "【Training】 The Corps trained 1,200 teachers and doctors for the farms.\n\n"
           "【Funds】 Anti-poverty funds of 261 million Yuan were invested in canals.\n")
CHINESE = ("报告\n\n【搬迁】 兵团把五百户家庭搬迁到新的安置区。\n\n"
           "【培训】 兵团培训了教师和医生。\n\n【资金】 扶贫资金用于修建水渠。\n")


def test_chinese_question_becomes_sets_of_english_terms_the_reports_use():
    vocab = LexicalIndex([ENGLISH]).df
    sets = zh_to_en("搬迁了多少户？", vocab)
    assert frozenset({"reloc"}) <= set().union(*sets)  # 搬迁 → relocate (stemmed), kept: the report uses it
    assert any("household" in s for s in sets)  # 户 → household
    assert all(t in vocab for s in sets for t in s)  # nothing the reports never use


def test_unknown_compound_falls_back_to_its_known_words():
    vocab = LexicalIndex(["poverty alleviation and development of the farms"]).df
    terms = set().union(*zh_to_en("扶贫开发", vocab))  # not a CC-CEDICT headword; 扶贫 and 开发 are
    assert {"poverti", "develop"} <= terms


def test_translated_sets_score_passages_once_per_question_word():
    lex = LexicalIndex(["funds funds funds", "canals"])
    one_word_many_senses = lex.set_scores([frozenset({"fund", "canal"})])
    assert one_word_many_senses[0] > 0 and one_word_many_senses[1] > 0
    assert lex.set_coverage([frozenset({"fund", "canal"}), frozenset({"zone"})], tokenize("canals")) > 0


def test_chinese_question_finds_and_highlights_english_passage(tmp_path):
    index, r = hash_retriever(tmp_path, ENGLISH)
    top = r.search("兵团培训了多少教师？", k=3, mode="hybrid")[0]
    assert index.passages[top.row].section == "Training"
    assert "1,200 teachers" in index.units[top.sentence].text
    assert r.search("扶贫资金投入了多少？", k=3, mode="bm25")[0].lexical == 1.0


def test_english_question_finds_chinese_passage(tmp_path):
    index, r = hash_retriever(tmp_path, CHINESE)
    ranked = r.search("Where were the households relocated?", k=3, mode="hybrid")
    assert index.passages[ranked[0].row].section == "搬迁"
    assert Translator(r.lexical.df)("Which teachers were trained?")  # English → Chinese term sets


# Names across scripts, with the real models (MiniLM for English, USE + e5 across languages).
POVERTY_EN = ("Poverty Alleviation Report 2011\n\n【Poverty reduction】 In 2011 the province lifted 1.2 million poor "
              "people out of poverty through development-oriented poverty alleviation.\n\n【Funds】 The government "
              "invested 2.6 billion yuan in poverty alleviation funds, mainly for roads, drinking water and housing.\n")
GANSU_ZH = ("甘肃省扶贫开发\n\n【减贫成效】 2011年，全省通过扶贫开发使86万贫困人口脱贫，贫困发生率下降到百分之二十五。\n\n"
            "【资金投入】 甘肃省各级财政投入扶贫资金30亿元，主要用于贫困村的道路和饮水工程。\n")
GANSU_EN = ("Poverty Alleviation in Gansu Province\n\n【Poverty reduction】 In 2011 the province lifted 860,000 poor "
            "people out of poverty through development-oriented poverty alleviation.\n\n【Funds】 Governments at all "
            "levels invested 3 billion yuan in poverty alleviation funds, mainly for roads and drinking water.\n")
CORPS_ZH = ("兵团扶贫开发\n\n【减贫成效】 2011年，兵团通过扶贫开发使2万贫困人口脱贫，贫困团场农民收入明显增加。\n\n"
            "【资金投入】 兵团投入扶贫资金2.6亿元，用于贫困团场的水利和住房建设。\n")


@pytest.fixture(scope="module")
def xling():
    from qa.index.embed import CrossLingualEmbedder

    return CrossLingualEmbedder()


def _open(tmp_path, files, embedder, xling):
    from qa.answer.service import ReportQA

    return ReportQA.open(write_corpus(tmp_path / "corpus", files), tmp_path / "index", embedder, xling=xling)


def test_english_question_naming_a_place_is_answered_from_the_chinese_report_about_it(tmp_path, real_embedder, xling):
    qa = _open(tmp_path, {"poverty-en.txt": POVERTY_EN, "gansu-zh.txt": GANSU_ZH}, real_embedder, xling)
    a = qa.ask("How many poor people did Gansu lift out of poverty?")
    top = a.hits[0]
    assert top.passage.doc == "gansu-zh" and "86万贫困人口" in top.highlight  # 甘肃 is only in its title
    assert not a.abstained and not any("do not mention" in n for n in a.notices)
    assert all(h.confidence == "weak" for h in a.hits if h.passage.doc == "poverty-en")


def test_chinese_question_naming_a_place_is_answered_from_the_english_report_about_it(tmp_path, real_embedder, xling):
    qa = _open(tmp_path, {"gansu-en.txt": GANSU_EN, "corps-zh.txt": CORPS_ZH}, real_embedder, xling)
    a = qa.ask("甘肃有多少贫困人口脱贫？")
    assert a.hits[0].passage.doc == "gansu-en" and "860,000" in a.hits[0].highlight
    assert not a.abstained


def test_a_place_no_report_names_in_any_script_is_still_missing(tmp_path, real_embedder, xling):
    qa = _open(tmp_path, {"poverty-en.txt": POVERTY_EN, "corps-zh.txt": CORPS_ZH}, real_embedder, xling)
    assert qa.missing_terms("How many poor people did Gansu lift out of poverty?") == ["Gansu"]

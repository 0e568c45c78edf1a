"""Dictionary query translation (CC-CEDICT): Chinese questions reach English passages lexically, and
English questions reach Chinese passages, even with an embedder that knows no other language."""

from __future__ import annotations

from qa.lexical import LexicalIndex, tokenize
from qa.translate import Translator, zh_to_en
from tests.conftest import hash_retriever  # fake embedder, no multilingual model: only the dictionary helps

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

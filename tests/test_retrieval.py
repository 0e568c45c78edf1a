"""Retrieval and answers on the real report with the packaged model and real FAISS."""

from __future__ import annotations

import pytest

from qa.ingest.sentences import split_sentences
from qa.search.lexical import LexicalIndex, tokenize
from qa.search.question import needs_context, resolve, without_excluded
from tests.conftest import hash_retriever


@pytest.mark.parametrize("mode", ["hybrid", "dense"])
def test_poverty_line_question_cites_poverty_line_with_3500_highlighted(seed_qa, mode):
    a = seed_qa.ask("What poverty line did the Corps set?", mode=mode)
    top = a.hits[0]
    assert top.passage.section == "Poverty line"
    assert "3500 Yuan" in top.highlight
    assert not a.abstained and a.answer.endswith("[1]") and "3500" in a.answer
    assert top.passage.text[top.highlight_start:top.highlight_end] == top.highlight


def test_fact_at_the_very_end_of_the_longest_paragraph_is_found(seed_qa):
    longest = max(seed_qa.passages, key=lambda p: len(p.text.split()))
    last = split_sentences(longest.text)[-1].text
    assert "prepare the holding" in last  # the seed's longest paragraph ends with this sentence
    a = seed_qa.ask("Did they plan to hold a party committee work conference on poverty alleviation?")
    assert a.hits[0].passage.id == longest.id
    assert a.hits[0].highlight == last


@pytest.mark.parametrize("question, section, fragment", [
    ("How much money did the farms raise themselves between 2008 and 2010?",
     "Management of anti-poverty funds", "12.39 million"),
    ("How many university students were sent to work on poor farms?", "Personnel training", "64 university"),
    ("How many households were moved to the resettlement zone?",
     "Off-site relocation for poverty alleviation", "500 households"),
])
def test_hybrid_finds_facts_that_dense_alone_can_miss(seed_qa, question, section, fragment):
    a = seed_qa.ask(question)
    assert a.hits[0].passage.section == section
    assert fragment in a.hits[0].highlight


def test_follow_up_is_searched_with_earlier_question(seed_qa):
    a = seed_qa.ask("And how many people fell below it?", ["What poverty line did the Corps set?"])
    assert a.searched != a.question and "poverty line" in a.searched
    assert a.hits[0].passage.section == "Poverty line" and "246,600" in a.hits[0].highlight


def test_besides_clause_does_not_pull_the_highlight():
    assert without_excluded("Apart from moving people away, what was done at the ranch?") == "what was done at the ranch?"
    assert without_excluded("Besides funds, which help came?") == "which help came?"
    assert without_excluded("What else came besides funds?") == "What else came besides funds?"


def test_self_contained_question_is_searched_as_asked():
    q = "How many households were relocated to Zaozi Resettlement Zone?"
    assert not needs_context(q)
    assert resolve(q, ["What poverty line did the Corps set?"]) == q
    assert needs_context("Who paid for them?") and needs_context("它是多少？")


@pytest.mark.parametrize("question, earlier", [
    ("兵团的扶贫标准是多少？", "Which farms were chosen as pilots?"),
    ("贫困户被搬迁到了哪里？", "兵团的贫困线是多少？"),
    ("Which farms were chosen as pilots?", "兵团的扶贫标准是多少？"),
])
def test_self_contained_chinese_question_is_searched_as_asked(question, earlier):
    assert resolve(question, [earlier]) == question


@pytest.mark.parametrize("question, earlier, topic", [
    ("那贫困人口有多少？", "兵团的贫困线是多少？", "贫困线"),  # 那 points back
    ("多少户？", "易地扶贫搬迁搬了多少户？", "搬迁"),  # one word: too short to stand alone
    ("一共多少钱？", "对口援疆资金建了多少个援助项目？", "援疆"),
])
def test_chinese_follow_up_gets_the_earlier_topic(question, earlier, topic):
    searched = resolve(question, [earlier])
    assert searched.startswith(question) and topic in searched.removeprefix(question)


def test_chinese_question_after_an_english_one_is_answered_as_asked(seed_qa):
    a = seed_qa.ask("兵团的扶贫标准是多少？", ["Which farms were chosen as pilots?"])
    assert a.searched == a.question  # no "Searched for: … (farms chosen pilots)" line
    assert a.hits[0].passage.section == "Poverty line" and "3500" in a.hits[0].highlight


def test_chinese_question_about_english_report(seed_qa):
    a = seed_qa.ask("兵团确定的贫困线是多少？")
    assert a.hits[0].passage.section == "Poverty line"
    assert not a.abstained


def test_unanswerable_question_abstains_and_names_missing_terms(seed_qa):
    a = seed_qa.ask("How many tourists visited Tibet in 2015?")
    assert a.abstained and a.answer is None
    assert a.hits, "the nearest passages are still listed"
    assert all(h.confidence == "weak" for h in a.hits)
    assert any("do not mention Tibet or 2015" in n for n in a.notices)


def test_off_topic_question_abstains(seed_qa):
    a = seed_qa.ask("What is the boiling point of mercury?")
    assert a.abstained


def test_json_shape(seed_qa):
    j = seed_qa.ask("What poverty line did the Corps set?", k=3).to_json()
    assert set(j) >= {"question", "searched", "answer", "abstained", "passages"}
    assert [p["rank"] for p in j["passages"]] == [1, 2, 3]
    assert set(j["passages"][0]) >= {"rank", "id", "doc", "title", "section", "paragraph", "start", "end",
                                     "score", "text", "highlight"}


def test_chinese_tokens_give_nonzero_bm25_on_chinese_text():
    lex = LexicalIndex(["兵团确定贫困线为农村家庭人均纯收入3500元。", "新疆的棉花产量增加了。"])
    scores = lex.scores(tokenize("贫困线是多少"))
    assert scores[0] > 0 and scores[1] == 0
    assert "贫困线" in tokenize("兵团的贫困线")


def test_fusion_orders_hand_made_case(tmp_path):
    # Passage A shares the question's rare number and words; B only shares common words.
    index, r = hash_retriever(tmp_path, (
        "Report\n\n【Wells】 The county drilled 417 wells for drinking water.\n\n"
        "【Water】 Water water water is important for the county and the water plan.\n"))
    ranked = r.search("How many wells were drilled, 417?", k=2, mode="hybrid")
    assert [index.passages[c.row].section for c in ranked] == ["Wells", "Water"]
    assert ranked[0].lexical == 1.0 and ranked[0].coverage > ranked[1].coverage


def test_highlight_is_the_list_item_asked_for_not_the_sentence_naming_the_speaker(seed_qa):
    # Liu Xinqi is named before his numbered points; the point asked for must be highlighted, not the
    # sentence that names him (needs both the ordinal evidence and the earlier sentences' context).
    a = seed_qa.ask("What did Liu Xinqi say the fifth measure should be?")
    assert a.hits[0].highlight.startswith("Fifth, ")


def test_award_question_highlights_the_award(seed_qa):
    a = seed_qa.ask("Which honour was given to the Corps for the show?")  # no word of the sentence
    assert "Organization Participation Award" in a.hits[0].highlight


def test_why_question_highlights_the_reason_not_the_sentence_repeating_its_words(seed_qa):
    # Both sentences name Beita Mountain Ranch; only the first says why people were moved.
    for q, history in [("Why did the people of Beita Mountain Ranch have to leave?", []),
                       ("Why did they have to leave?", ["Who was relocated from Beita Mountain Ranch?"])]:
        assert "not suitable for production and living" in seed_qa.ask(q, history).hits[0].highlight


def test_words_no_report_uses_shrink_bm25_in_ranking_but_not_the_confidence(tmp_path):
    _, r = hash_retriever(tmp_path, (
        "Report\n\n【Training】 The university trained teachers for the farms.\n\n"
        "【Farms】 The farms and the farms' teachers grew cotton on the farms.\n"))
    assert r.lexical.unknown_share(tokenize("Which college trained farm teachers?")) > 0  # "college"
    for c in r.search("Which college trained farm teachers?", k=2, mode="hybrid"):
        assert c.fused is not None and c.score <= c.fused  # ranked with less BM25, labelled as before
    for c in r.search("Which university trained farm teachers?", k=2, mode="hybrid"):
        assert c.fused is None  # every word is the reports' own: nothing changes


def test_second_model_ranks_a_paraphrase_right_and_leaves_the_confidence_alone(seed_qa):
    # No word of "investigators travel … problems" is in the answer sentence ("field research in the three
    # prefectures … difficulties"); MiniLM + BM25 put another section first, e5's cosine added fixes it.
    from qa.search.retrieve import Retriever, Weights

    q = "Where did investigators travel to learn about the farms' problems?"
    both = seed_qa.retriever.search(q, k=3)
    assert seed_qa.passages[both[0].row].section == "Research of poverty alleviation"
    assert "three prefectures" in seed_qa.index.units[both[0].sentence].text
    alone = Retriever(seed_qa.index, seed_qa.embedder, Weights(second_dense=0.0), xling=seed_qa.retriever.xling)
    first = alone.search(q, k=3)
    assert seed_qa.passages[first[0].row].section != "Research of poverty alleviation"
    evidence = {c.row: round(c.evidence, 6) for c in first}
    assert all(evidence[c.row] == round(c.evidence, 6) for c in both if c.row in evidence)  # labels unchanged


def test_best_passage_is_a_strong_match_only_if_both_models_put_it_first(seed_qa):
    from qa.answer.judge import THRESHOLDS

    q = "Which sources of money did the Corps use besides the special poverty funds?"
    first = seed_qa.retriever.search(q, k=3)[0]
    assert first.evidence >= THRESHOLDS["hybrid"].strong and first.second_first is False  # e5 prefers another
    a = seed_qa.ask(q)
    assert not a.abstained and a.hits[0].confidence == "possible"
    assert any("second one puts [2] first" in n for n in a.notices)  # e5's choice, the mechanism section
    assert a.hits[1].passage.section == "Poverty alleviation and development mechanism"
    agreed = seed_qa.ask("What poverty line did the Corps set?")
    assert agreed.hits[0].confidence == "strong"


def test_cross_lingual_embedder_names_the_columns_of_its_e5_block():
    import numpy as np

    from qa.index.embed import CrossLingualEmbedder, E5SmallEmbedder

    x = CrossLingualEmbedder()  # models load lazily: nothing is loaded here
    rng = np.random.default_rng(0)
    use, e5 = (rng.normal(size=(4, d)).astype(np.float32) for d in (512, 384))
    use, e5 = use / np.linalg.norm(use, axis=1, keepdims=True), e5 / np.linalg.norm(e5, axis=1, keepdims=True)
    vectors = np.hstack([np.sqrt(0.25) * use, np.sqrt(0.75) * e5]).astype(np.float32)
    model, columns, scale = x.component_columns(E5SmallEmbedder.model_id)
    assert isinstance(model, E5SmallEmbedder) and columns == slice(512, 896)  # after USE's 512
    assert np.allclose(vectors[:, columns] @ (scale * e5[1]), e5 @ e5[1], atol=1e-5)  # plain e5 cosines
    assert x.component_columns("no-such-model") is None


def test_paraphrase_with_words_the_report_never_uses_finds_its_passage(seed_qa):
    # "money" and "budget" are not the report's words; BM25 alone would follow "central" elsewhere
    a = seed_qa.ask("What was the money from the central budget used for?")
    assert a.hits[0].passage.section == "Investment of anti-poverty funds"


def test_sentence_splitter_keeps_abbreviations_and_offsets():
    text = "It relocated 500 households to No. 3 Branch of Red Flag Farm. Co., Ltd joined. 它很好。好的！"
    sents = split_sentences(text)
    assert [s.text for s in sents] == ["It relocated 500 households to No. 3 Branch of Red Flag Farm.",
                                       "Co., Ltd joined.", "它很好。", "好的！"]
    assert all(text[s.start:s.end] == s.text for s in sents)


def test_scores_do_not_depend_on_the_string_hash_seed():
    """Two runs of the same question give the same scores to the last bit (eval run files compare byte for
    byte): the share of a question's IDF mass the reports never use was summed in set order, whose last
    bit changed with PYTHONHASHSEED."""
    import subprocess
    import sys

    script = (
        "from qa.search.lexical import LexicalIndex, tokenize\n"
        "lx = LexicalIndex(['The Corps set a poverty line of 3500 Yuan per capita net income in 2011.',\n"
        "                   'Sixty-four university students were sent to the impoverished farms.',\n"
        "                   'Pairing assistance funds went into aid projects and training.'])\n"
        "q = tokenize('What poverty line and hospital budget did the regiment farms and university students get in 2011?')\n"
        "print(repr(lx.unknown_share(q)))\n")
    import os

    from tests.conftest import ROOT

    outs = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT,
                           env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout for seed in range(1, 7)}
    assert len(outs) == 1, outs


@pytest.mark.parametrize("lexical,dense,second,asked", [
    ((0.9, 0.5), (0.8, 0.6), 1.0, False),  # BM25, MiniLM and the ranking agree, 0.2 ahead: e5 cannot change the top
    ((0.5, 0.9), (0.8, 0.6), 1.0, True),  # BM25 prefers the second
    ((0.9, 0.5), (0.6, 0.8), 1.0, True),  # MiniLM prefers the second
    ((0.9, 0.5), (0.8, 0.6), 1.15, True),  # all three agree, but the second is close behind (0.05 < 0.08)
    ((0.9, 0.5), (0.8, 0.6), 1.1, False),  # 0.1 behind: not close
])
def test_the_second_opinion_is_asked_only_when_it_can_change_the_outcome(lexical, dense, second, asked):
    from qa.search.retrieve import Candidate, second_opinion_can_change

    out = [Candidate(0, 1.2, -1, 0.0, dense=dense[0], lexical=lexical[0]),
           Candidate(1, second, -1, 0.0, dense=dense[1], lexical=lexical[1]),
           Candidate(2, 1.5, -1, 0.0, dense=0.99, lexical=0.99, cross=True)]  # another script: e5 not asked for it
    assert second_opinion_can_change(out) is asked
    assert second_opinion_can_change(out[:1]) is False  # one passage in the question's script


def test_e5_encodes_an_english_question_only_when_its_opinion_can_change_the_answer(seed_qa):
    """A counting stand-in for e5 behind the real retriever: a question with a clear winner does not call
    it; the paraphrase it was added for does, and is still answered from the right section."""
    retriever = seed_qa.retriever
    model, columns, scale = retriever._second

    class Counting:
        calls = 0

        def encode(self, texts, **kw):
            Counting.calls += 1
            return model.encode(texts, **kw)

    retriever._second = (Counting(), columns, scale)
    try:
        clear = seed_qa.ask("What poverty line did the Corps set?")
        assert Counting.calls == 0 and clear.hits[0].passage.section == "Poverty line"
        paraphrase = seed_qa.ask("Where did investigators travel to learn about the farms' problems?")
        assert Counting.calls == 1 and paraphrase.hits[0].passage.section == "Research of poverty alleviation"
        retriever.second_always = True
        seed_qa.ask("What poverty line did the Corps set?")
        assert Counting.calls == 2
    finally:
        retriever._second, retriever.second_always = (model, columns, scale), False

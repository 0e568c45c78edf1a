"""Typed answer checks (qa/answer/typed.py): the kind a question asks for, and that kind's candidates in a
sentence, on hand-made pairs in English and Chinese, each kind answered and as a near miss."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa.answer import typed

POVERTY = ("According to the new national poverty line of 2300 Yuan, the county raised its poverty line to 3500 Yuan "
           "of per capita net income, and the number of poverty-stricken people was 246,600.")
TRAINING = "In June 2014 the county trained 64 university students and 1,200 farmers, and Commander Zhang Wei led the team."
WORKS = ("The county laid 38 kilometres of water pipeline, planted 2,000 hectares of shelterbelt and produced 5,000 tons "
         "of grain, 12 percent more than in 2013.")
CN = "2014年，该县培训教师300名，铺设管道38公里，投入资金1200万元。"

# (question, sentence, the kind asked, a candidate that must be offered, or None for a near miss)
CASES = [
    # lengths
    ("How many kilometres of pipeline were laid?", WORKS, typed.LENGTH, "38 kilometres"),
    ("How many kilometres of pipeline were laid?", POVERTY, typed.LENGTH, None),
    ("铺设了多少公里管道？", WORKS, typed.LENGTH, "38 kilometres"),
    ("铺设了多少公里管道？", CN, typed.LENGTH, "38公里"),
    # areas and weights
    ("How many hectares of shelterbelt were planted?", WORKS, typed.AREA, "2,000 hectares"),
    ("How many hectares of shelterbelt were planted?", TRAINING, typed.AREA, None),
    ("How many tons of grain were produced?", WORKS, typed.WEIGHT, "5,000 tons"),
    ("粮食产量是多少吨？", POVERTY, typed.WEIGHT, None),
    # money
    ("What poverty line in yuan did the county set? How much money is that per person?", POVERTY, typed.MONEY, "3500 Yuan"),
    ("What was the budget of the training programme?", TRAINING, typed.MONEY, None),
    ("预算是多少？", POVERTY, typed.MONEY, "3500 Yuan"),
    ("该县投入了多少资金？", CN, typed.MONEY, "1200万元"),
    ("培训经费是多少？", TRAINING, typed.MONEY, None),
    # percentages
    ("By what percentage did grain output grow?", WORKS, typed.PERCENT, "12 percent"),
    ("What percentage of the people were poor?", POVERTY, typed.PERCENT, None),
    # counts of something named
    ("How many farmers were trained?", TRAINING, typed.COUNT, "1,200 farmers"),
    ("How many teachers were trained?", TRAINING, typed.COUNT, None),  # it counts students and farmers
    ("How many people were trained?", TRAINING, typed.COUNT, "64 university students"),  # any word for people
    ("How many poverty-stricken people did the county have?", POVERTY, typed.COUNT, "246,600"),
    ("How many households were relocated?", POVERTY, typed.COUNT, None),  # people, not households
    ("兵团有多少贫困人口？", POVERTY, typed.COUNT, "246,600"),
    ("培训了多少名教师？", CN, typed.COUNT, "300"),
    ("培训了多少名教师？", TRAINING, typed.COUNT, None),
    # people, days
    ("Who led the team?", TRAINING, typed.PERSON, "Zhang Wei"),
    ("Who led the field research?", POVERTY, typed.PERSON, None),
    ("谁带队？", TRAINING, typed.PERSON, "Zhang Wei"),
    ("谁带队调研？", WORKS, typed.PERSON, None),
    ("On what date was the training held?", TRAINING, typed.DAY, "June 2014"),
    ("On what date was the pipeline finished?", WORKS, typed.DAY, None),
    ("哪一天开始培训？", TRAINING, typed.DAY, "June 2014"),
]


@pytest.mark.parametrize("question, sentence, kind, expected", CASES)
def test_the_asked_kind_and_its_candidates(question, sentence, kind, expected):
    want = typed.asked(question)
    assert want is not None and want.kind == kind
    found = [sentence[s:e] for s, e in typed.candidates(sentence, want, question)]
    if expected is None:
        assert found == [], f"a near miss must offer no {want.describe()}: {found}"
        assert typed.lacks(sentence, want, question)
    else:
        assert any(expected in f for f in found), found


def test_what_how_and_why_questions_ask_for_no_typed_answer():
    for q in ("What poverty line did the county set?", "How did the county help the farms?",
              "Why were the households moved?", "兵团如何帮助贫困团场？"):
        assert typed.asked(q) is None
        assert not typed.lacks(POVERTY, typed.asked(q), q)


def test_an_item_the_question_already_holds_is_not_an_answer():
    q = "How many of the 246,600 poor people lived in the south?"
    found = [POVERTY[s:e] for s, e in typed.candidates(POVERTY, typed.asked(q), q)]
    assert "246,600" not in found


def test_a_count_is_quoted_with_what_it_counts():
    q = "How many farmers were trained?"
    (s, e), = typed.candidates(TRAINING, typed.asked(q), q)
    assert TRAINING[s:e] == "1,200 farmers"


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("0123456789 ,.%abcxyzYuankmtonsh元公里吨名人年月日ABZ")), max_size=80),
       question=st.sampled_from([c[0] for c in CASES]))
def test_candidates_are_always_non_empty_slices_of_the_sentence(text, question):
    for s, e in typed.candidates(text, typed.asked(question), question):
        assert 0 <= s < e <= len(text) and text[s:e].strip()

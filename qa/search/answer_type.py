"""What kind of answer a question wants, and whether a sentence offers one — without a model.

"How many …" wants a quantity, "When …" a date, "Who …" a person or body, "Where …" a place, "What
award / plan / theme …" a title in quotation marks, "Why …" a reason or purpose (because, due to, in
order to, conditions not suitable …). A
sentence that holds such an item *which the question does not already contain* is evidence that it
answers the question; the retriever adds a small bonus for it when ranking passages and sentences.
"""

from __future__ import annotations

import re
from functools import lru_cache

QUANTITY, DATE, AGENT, PLACE, TITLE, AWARD, REASON = "quantity", "date", "agent", "place", "title", "award", "reason"

_RULES = [
    # 为什么 "why", but not 作为什么 "as what" (作为 + 什么).
    (REASON, re.compile(r"^\W*(and\s+|but\s+|so\s+)?why\b|"
                        r"\bwhat (was|is|were|are) the (main )?(reasons?|purposes?|aims?|causes?)\b|"
                        r"\bfor what (reason|purpose)\b|\bwhat for\W*$|\bhow come\b|"
                        r"(?<![作成认称视以])为(什么|何)|什么原因|原因是|目的是", re.I)),
    (AWARD, re.compile(r"\b(prizes?|awards?|medals?|trophy|trophies|honou?rs?)\b|奖", re.I)),
    (QUANTITY, re.compile(r"\bhow (many|much|large|big|long|far)\b|\bwhat (percentage|share|proportion|number|amount|total|sum)\b|"
                          r"\bnumber of\b|\bamount of\b|\bhow much\b|多少|几[个名户项所]?|百分之几|数量|金额", re.I)),
    (DATE, re.compile(r"\bwhen\b|\bwhat (year|month|date|time)\b|\bwhich (year|month)\b|"
                      r"\b(what|which) (period|era|decade|years|time ?frame)\b|\bsince when\b|"
                      r"什么时候|何时|哪一?年|几月|什么时期|哪个时期|哪几年", re.I)),
    (AGENT, re.compile(r"^\W*(who|whom)\b|\bwhich (organi[sz]ation|department|company|companies|units?|bodies|body|"
                       r"institutions?|universit(y|ies)|college|leaders?|official)\b|谁|哪个(单位|部门|机构)|哪些(单位|部门|企业)", re.I)),
    (PLACE, re.compile(r"^\W*where\b|\bwhich (place|places|town|towns|village|villages|zone|area|region|farm|farms|"
                       r"regiment|county|city|province)\b|哪里|在哪|什么地方", re.I)),
    # Names of things reports put in quotation marks: awards, documents, themes, slogans, principles.
    (TITLE, re.compile(r"\b(what|which)\b.*\b(prize|award|honou?r|title|titled|called|named|name|motto|slogan|"
                       r"theme|themed|principles?|outline|document|plan)\b|"
                       r"什么奖|哪个奖|题目|标题|名称|叫什么|口号|主题|原则|纲要|文件", re.I)),
]

_NUMBER_WORDS = (r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
                 r"hundred|thousand|million|billion|dozens?")
_QUANTITY = re.compile(rf"\d[\d,.]*|\b({_NUMBER_WORDS})\b|percent|%", re.I)
_DATE = re.compile(r"\b(1[89]|20)\d\d\b|\b(January|February|March|April|May|June|July|August|September|October|"
                   r"November|December)\b|\b(decades?|century|centuries)\b|\d+\s*年|\d+\s*月")
# "Where were they moved to?": the place wanted is a destination, a name right after "to" / "into".
_DESTINATION_ASKED = re.compile(r"\bwhere\b.*\b(to|into)\W*$|\bto where\b", re.I)
_AFTER_TO = re.compile(r"\b(to|into|towards?)\s+(the\s+)?$", re.I)
# A reason or purpose: causal and purpose connectives, and "conditions not suitable"-style grounds.
_REASON = re.compile(r"\b(because|due to|owing to|as a result of|thanks to|in order to|so as to|so that|aim(ed|ing|s)? (at|to)|"
                     r"for the purpose of|caused by|not suitable|unsuitable|lack of|shortage of|restrict(ing|ed)?)\b|"
                     r"为了|因为|由于|以便|旨在|不适宜|不适合")
_AWARD = re.compile(r"\b(Awards?|Prizes?|Medals?|Troph(y|ies)|Honou?rs?|Titles?)\b")
_QUOTED = re.compile(r"“[^”]{3,}”|\"[^\"]{3,}\"|《[^》]+》|「[^」]+」")
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w’'&.-]*(?:\s+(?:of|and|for|the|&)?\s*[A-Z][\w’'&.-]*)*")


def expected_type(question: str) -> str | None:
    for kind, pattern in _RULES:
        if pattern.search(question):
            return kind
    return None


def offers(sentence: str, kind: str | None, question: str) -> bool:
    """True if the sentence holds an item of the wanted kind that the question does not contain."""
    if kind is None:
        return False
    q = question.casefold()
    return any(f not in q for f in _items(sentence, kind, kind == PLACE and bool(_DESTINATION_ASKED.search(question))))


@lru_cache(maxsize=65536)  # a report's sentences are scored again for every question: their items are not
def _items(sentence: str, kind: str, destination: bool) -> tuple[str, ...]:
    """The items of the wanted kind in a sentence, case-folded (`destination`: places right after "to")."""
    if kind == QUANTITY:
        found = (m.group(0) for m in _QUANTITY.finditer(sentence) if not _DATE.fullmatch(m.group(0)))
    elif kind == DATE:
        found = (m.group(0) for m in _DATE.finditer(sentence))
    elif kind == REASON:
        found = (m.group(0) for m in _REASON.finditer(sentence))
    elif kind == AWARD:
        found = (m.group(0) for m in _NAME.finditer(sentence) if _AWARD.search(m.group(0)))
    elif kind == TITLE:
        found = (m.group(0)[1:-1] for m in _QUOTED.finditer(sentence))
    elif destination:
        found = (m.group(0) for m in _NAME.finditer(sentence) if _AFTER_TO.search(sentence[: m.start()]))
    else:
        found = (m.group(0) for m in _NAME.finditer(sentence))
    return tuple(dict.fromkeys(f.casefold().strip() for f in found))


_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")
_ORDINAL_ASKED = re.compile(rf"\b({'|'.join(_ORDINALS)})\b(?![\s-]*(in[\s-]command|largest|biggest|highest|most|"
                            rf"half|quarter|decade|century))|第([一二三四五六七八九十])", re.I)
_ZH_ORDINAL = "一二三四五六七八九十"


@lru_cache(maxsize=64)  # asked once per candidate passage of the same question
def asked_ordinal(question: str) -> str | None:
    """"What was the sixth point?" / "第六条" → "sixth": the question asks for one item of a list."""
    m = _ORDINAL_ASKED.search(question)
    if not m:
        return None
    return m.group(1).lower() if m.group(1) else _ORDINALS[_ZH_ORDINAL.index(m.group(3))]


def starts_item(sentence: str, ordinal: str) -> bool:
    """True if the sentence holds list item `ordinal` ("Sixth, …", "…: First, …", "…; Second, …")."""
    return re.search(rf"(^|[:;]\s*)\W*{ordinal}\b\s*,", sentence, re.I) is not None

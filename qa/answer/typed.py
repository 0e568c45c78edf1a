"""Typed answer checks: what kind of answer a question asks for, and that kind's candidates in a sentence.

No model. "How many kilometres …" asks for a length, "What was the budget …" for a sum of money, "Who
led …" for a person, "How many teachers …" for a count *of teachers*, "On what date …" for a day. A
sentence with no candidate of the asked kind does not answer, however close its topic: that is what a
near miss usually lacks. The candidates also give the reader short spans to choose from (a figure with
its unit or counted noun). Chinese questions get the same kinds (多少公里, 预算, 谁, 多少名教师), checked
against English or Chinese sentences alike.

`asked(question)` → `Asked` or None (no typed answer wanted: what/how/why questions);
`candidates(sentence, asked, question)` → offsets of the items of that kind the question does not
already contain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

COUNT, QUANTITY, LENGTH, AREA, WEIGHT, VOLUME, MONEY, PERCENT = (
    "count", "quantity", "length", "area", "weight", "volume", "money", "percent")
DURATION, YEAR, DAY, PERSON, AGENT, PLACE, SUPERLATIVE = (
    "duration", "year", "day", "person", "agent", "place", "superlative")

# What a kind is called in a notice ("gives no length for this").
WORDS = {COUNT: "count", QUANTITY: "figure", LENGTH: "length", AREA: "area", WEIGHT: "weight", VOLUME: "volume",
         MONEY: "sum of money", PERCENT: "percentage", DURATION: "duration", YEAR: "date", DAY: "day or month",
         PERSON: "person's name", AGENT: "person or organisation", PLACE: "place", SUPERLATIVE: "ranking"}


@dataclass(frozen=True)
class Asked:
    """The kind of answer a question wants; for a count, the stems of the counted noun (empty: any)."""

    kind: str
    noun: frozenset[str] = field(default_factory=frozenset)
    noun_text: str = ""

    def describe(self) -> str:
        return f"count of {self.noun_text}" if self.kind == COUNT and self.noun_text else WORDS[self.kind]


# -- numbers and units in a sentence -------------------------------------------------------------------

_NUM_WORD = (r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|twenty|"
             r"thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|dozens?|several|hundreds|thousands")
_SCALE = r"(?:\s*(?:million|billion|trillion|thousand|hundred|万|亿|千|百))"
_ZH_NUM = r"[一二两三四五六七八九十百千万亿]+(?=[个名位户所家项座条人万亿元吨亩米公])"
_NUM = rf"(?:(?<![A-Za-z0-9.])\d(?:[\d,]*\d)?(?:\.\d+)?{_SCALE}?|\b(?:{_NUM_WORD})\b{_SCALE}?|{_ZH_NUM})"
NUMBER = re.compile(_NUM, re.I)
_UNITS = {
    LENGTH: r"kilomet(?:re|er)s?|km|met(?:re|er)s?|miles?|li\b|公里|千米|米|里",
    AREA: r"hectares?|ha\b|mu\b|acres?|square\s+(?:kilomet(?:re|er)s?|met(?:re|er)s?|km|m|miles?)|sq\.?\s*(?:km|m)\b|"
          r"亩|公顷|平方(?:公里|米|千米)",
    WEIGHT: r"tons?\b|tonnes?|kilograms?|kg\b|jin\b|grams?\b|吨|公斤|千克|斤",
    VOLUME: r"cubic\s+met(?:re|er)s?|m3\b|m³|litres?|liters?|立方米?",
    DURATION: r"years?\b|months?\b|weeks?\b|days?\b|hours?\b|年(?!\d)|个月|天|周|小时",
    PERCENT: r"percent(?:age points?)?\b|per\s+cent\b|%|个百分点",
}
_UNIT_AFTER = {k: re.compile(rf"(?:{_NUM})\s*(?:-\s*)?(?:{v})", re.I) for k, v in _UNITS.items()}
_ZH_PERCENT = re.compile(r"百分之[\d一二两三四五六七八九十点.]+")
_MONEY = re.compile(rf"(?:US\$|\$|¥|￥|€|£|RMB\s*|CNY\s*)\s*{_NUM}|(?:{_NUM})\s*(?:yuan|RMB|CNY|dollars?|US dollars|euros?|元)",
                    re.I)
_YEAR = re.compile(r"(?<!\d)(?:1[89]|20)\d\d(?!\d)(?:\s*年)?")
_MONTHS = r"January|February|March|April|May|June|July|August|September|October|November|December"
_DAY = re.compile(rf"\b(?:{_MONTHS})(?:\s+\d{{1,2}}(?:st|nd|rd|th)?)?(?:,?\s+(?:19|20)\d\d)?\b|"
                  rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{_MONTHS})\b|\d{{1,2}}\s*月(?:\s*\d{{1,2}}\s*[日号])?|"
                  r"\b(?:19|20)\d\d-\d\d(?:-\d\d)?\b|\b(?:early|mid|late|end of|beginning of)\s+(?:19|20)\d\d\b")
_TITLES = (r"Commander|Deputy Commander|Political Commissar|Secretary(?:-General)?|Deputy Secretary|Director|"
           r"Deputy Director|Chairman|Chairwoman|Vice[- ]Chairman|Minister|Vice[- ]Minister|Premier|Vice[- ]Premier|"
           r"Governor|Mayor|President|Vice[- ]President|Professor|Prof\.|Dr\.|Mr\.|Mrs\.|Ms\.|General|Comrade|"
           r"leader|head|chief|secretary|director|commander|chairman")
_CAP = r"[A-Z][a-z’'-]+"
_TITLED = re.compile(rf"\b(?:{_TITLES})\s+(?:of\s+[\w’' ]+?\s+)?((?:{_CAP}\s+){{0,2}}{_CAP})")
_SURNAMES = frozenset("""ai an bai bao cai cao chang chen cheng chu cui dai deng ding dong du duan fan fang feng fu gao ge
gong gu guan guo han hao he hong hou hu hua huang ji jia jiang jiao jin kang kong lai lan lei li liang liao lin liu
long lu luo lv lyu ma mao meng mo mu ni nie niu ou ouyang pan pang peng qi qian qiao qin qiu ren shao shen shi song su
sun tan tang tao tian tong wan wang wei wen wu xia xiang xiao xie xiong xu xue yan yang yao ye yi yin yu yuan yue zeng
zhai zhan zhang zhao zheng zhong zhou zhu zou""".split())
_PINYIN_NAME = re.compile(rf"\b({_CAP})\s+({_CAP})\b")
_ZH_PERSON = re.compile(r"(?:司令员|副司令员|政委|书记|副书记|主任|副主任|局长|处长|部长|主席|厅长|校长|院长|教授|同志)")
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b(?:No\.\s*\d+\s+)?[A-Z][\w’'&.-]*(?:\s+(?:of|and|for|the|&)?\s*"
                   r"(?:No\.\s*\d+\s+)?[A-Z][\w’'&.-]*)*")
_ORG = re.compile(r"\b(?:the\s+)?(?:[\w’'-]+\s+){0,4}(?:committee|government|department|bureau|office|commission|"
                  r"universit(?:y|ies)|college|institute|academy|association|federation|enterprises?|compan(?:y|ies)|"
                  r"banks?|corps|divisions?|regiments?|farms?|teams?|groups?|centres?|centers?|league|council|ministry)\b",
                  re.I)
_ZH_ORG = re.compile(r"[\u4e00-\u9fff]{1,8}(?:委员会|政府|部门|局|厅|办公室|大学|学院|研究院|协会|企业|公司|银行|兵团|师|团|农场|中心)")
_ZH_PLACE = re.compile(r"[\u4e00-\u9fff]{1,6}(?:省|市|县|乡|镇|村|区|州|农场|团场|牧场|师|团)")
_SUPERLATIVE = re.compile(r"\b(?:most|largest|biggest|highest|lowest|fewest|least|greatest|smallest|best|worst|"
                          r"top|ranked first|ranking first|first place|first among|leading)\b|最|第一|之首", re.I)
_HUMANS = frozenset("""people person persons population resident inhabitant individual villager worker farmer herdsman
herdsmen migrant poor staff employee member participant trainee peasant labourer laborer teacher student doctor cadre
technician graduate volunteer expert official correspondent child children women men youth retiree nurse engineer
""".split())


_ANY_PEOPLE = "people person persons population resident residents individuals inhabitants"  # any word for people counts


# -- what the question asks for ------------------------------------------------------------------------

_Q = {
    PERCENT: re.compile(r"\bpercent(age)?s?\b|%|\bproportion\b|\bwhat share\b|\b(growth|poverty|incidence|coverage|"
                        r"enrol?ment|unemployment|employment|survival) rate\b|\bby what rate\b|百分|比例|比重|(增长|发生|覆盖|"
                        r"入学|失业|就业|贫困|成活)率", re.I),
    MONEY: re.compile(r"\bhow much (money|funding|funds?|capital|investment|aid|subsid\w*|income|revenue|profit)\b|\bhow many yuan\b|"
                      r"\b(budget|cost|costs|costed|price|fee|fees|salary|wage|subsid(y|ies)|expenditure|grant)\b|"
                      r"\bhow much\b.*\b(spen[dt]|invest\w*|allocat\w*|cost|pay|paid|fund\w*|donat\w*|earn\w*|raised?|"
                      r"receive[d]?|provid\w*|give|gave|given|lend|lent|loan\w*)\b|"
                      r"多少钱|多少元|多少万元|多少亿元|预算|经费|费用|花费|成本|(投资|资金|补贴|补助|拨款|捐款|贷款).*(多少|几)|"
                      r"(多少|几).*(投资|资金|补贴|补助|拨款|捐款|贷款)", re.I),
    AREA: re.compile(r"\bhow many (hectares|ha|mu|acres|square)\b|\b(what|how large an?|how big an?|how much) area\b|"
                     r"\bhow much (land|farmland|cropland|forest|grassland)\b|\barea of\b|多少(亩|公顷|平方)|面积", re.I),
    LENGTH: re.compile(r"\bhow many (kilomet\w*|km|met(re|er)s|miles)\b|\bhow far\b|\b(length|distance)\b|"
                       r"\bhow long (was|were|is|are) the (\w+ ){0,3}(road|roads|canal|canals|pipeline|pipelines|pipes?|"
                       r"channels?|railway|line|lines|river|dikes?|fences?|highway|cables?|ditch\w*|belts?|tracks?)\b|"
                       r"多少(公里|千米|米)|多长的|多远|长度|距离", re.I),
    WEIGHT: re.compile(r"\bhow many (tons|tonnes|kilograms|kg|jin)\b|\b(weight|how heavy)\b|多少(吨|公斤|千克|斤)|重量",
                       re.I),
    VOLUME: re.compile(r"\bhow many (cubic|litres|liters)\b|\bvolume\b|多少立方", re.I),
    DURATION: re.compile(r"\bhow long\b|\bfor how many (years|months|weeks|days)\b|\bhow many (years|months|weeks|days)\b|"
                         r"多久|多长时间|几年|多少年", re.I),
    DAY: re.compile(r"\b(what|which) (day|date|month)\b|\bon what date\b|\bthe date\b|哪一?天|几月|几号|日期|哪个月",
                    re.I),
    YEAR: re.compile(r"^\W*(and\s+)?when\b|\bwhen (was|were|did|is|will|had|has)\b|\b(what|which|in what) year\b|"
                     r"\bsince when\b|什么时候|何时|哪一?年|哪些年", re.I),
    SUPERLATIVE: re.compile(r"\b(which|what|who)\b.*\b(the )?(most|largest|biggest|highest|lowest|fewest|least|greatest|"
                            r"smallest|best|worst)\b|哪.*最(多|大|高|少|低|好)", re.I),
    PERSON: re.compile(r"^\W*(and\s+)?who\b.*\b(led|leads|headed|heads|chaired|directed|presided|wrote|authored|founded|"
                       r"signed|spoke|delivered|represented|inspected|was in charge|is in charge|is the head|was the head)\b|"
                       r"\bwho (was|is|were|are) the (\w+ )?(head|heads|leader|leaders|director|chief|chairman|chair|"
                       r"commander|secretary|author|president|minister|governor|person|official|expert|professor)\b|"
                       r"\bname of the (person|official|director|head|leader|chief|author)\b|\bwhich (official|leader|"
                       r"person|expert|professor|scholar|cadre)s?\b|\bwho\b.*\b(led|headed)\b|谁|哪位|何人|什么人|负责人是|"
                       r"领导是", re.I),
    AGENT: re.compile(r"^\W*(and\s+)?(who|whom)\b|\bwhich (organi[sz]ations?|departments?|compan(y|ies)|units?|bod(y|ies)|"
                      r"institutions?|universit(y|ies)|colleges?|enterprises?|banks?)\b|哪个(单位|部门|机构|公司|企业)|"
                      r"哪些(单位|部门|企业|机构)", re.I),
    PLACE: re.compile(r"^\W*(and\s+)?where\b|\bwhich (place|places|town|towns|village|villages|zone|zones|area|areas|"
                      r"region|regions|farm|farms|regiment|regiments|county|counties|city|cities|province|provinces|"
                      r"division|divisions)\b|哪里|在哪|什么地方|哪个(地方|地区|县|市|省|农场|团场|师|团)|哪些(地方|地区|农场|团场|村)",
                      re.I),
}
_HOW_MANY = re.compile(r"\bhow many\s+(.*)|\bnumber of\s+(.*)", re.I)
_NOUN_END = frozenset("""were was did do does are is have has had will would could can in of from to by for at on got
received took there under across per each with that who which fell went came left made became rose moved joined remained
live lived benefit benefited benefitted altogether overall in total this that these those""".split())
_HOW_MUCH = re.compile(r"\bhow (many|much)\b|\bwhat (number|amount|total|sum|figure)\b|\bthe (number|amount|total) of\b|"
                       r"多少|几[个名位户所家项座条人次万]|数量|总数|人数|户数", re.I)
_ZH_COUNTED = re.compile(r"(?:多少|几)(个|名|位|户|所|家|项|座|条|人次|人|批|期|次)?([\u4e00-\u9fff]{0,4})")
_ZH_MEASURE = {"人": "people", "人次": "people", "户": "household", "名": "", "位": "", "个": "", "所": "", "家": "",
               "项": "project", "座": "", "条": "", "批": "", "期": "", "次": ""}
_ZH_NOUNS = {"人口": "people", "教师": "teacher", "老师": "teacher", "学生": "student", "大学生": "student",
             "农户": "household", "家庭": "household", "村": "village", "乡镇": "town", "企业": "enterprise",
             "公司": "company", "项目": "project", "医生": "doctor", "学校": "school", "医院": "hospital", "干部": "cadre",
             "职工": "worker", "工人": "worker", "专家": "expert", "志愿者": "volunteer", "牧民": "herdsman", "农民": "farmer"}
_ZH_STOP = "的了在是被有和与及从到给为对于于中里上下后前年月日吗呢？?"
_NOUN_STOP = frozenset("the a an of poverty-stricken poor new more other such these those total".split())


@lru_cache(maxsize=4096)
def asked(question: str) -> Asked | None:
    """The kind of answer `question` asks for, or None (what/how/why: no typed answer)."""
    for kind in (PERCENT, MONEY, AREA, LENGTH, WEIGHT, VOLUME, DAY, SUPERLATIVE, PERSON):
        if _Q[kind].search(question):
            return Asked(kind)
    if _HOW_MUCH.search(question):
        stems, text = _counted_noun(question)
        return Asked(COUNT, stems, text) if stems else Asked(QUANTITY)
    for kind in (DURATION, YEAR, AGENT, PLACE):
        if _Q[kind].search(question):
            return Asked(kind)
    return None


@lru_cache(maxsize=65536)  # the same passages' words recur from question to question
def _stems(text: str) -> frozenset[str]:
    from qa.search.lexical import tokenize

    return frozenset(tokenize(text))


# Nouns a report uses for the same things a question counts (a count of teams is a count of groups).
_SAME = ("team group unit squad", "farm regiment", "household family", "enterprise company firm business",
         "project programme program scheme", "student graduate", "village hamlet", "town township",
         "expert specialist", "worker employee staff labourer laborer", "time session")


@lru_cache(maxsize=4096)
def _noun_stems(noun: str) -> frozenset[str]:
    """The stems of a counted noun with those of the words the same group lists."""
    stems = _stems(noun)
    for group in _SAME:
        g = _stems(group)
        if stems & g:
            stems |= g
    return frozenset(stems)


def _counted_noun(question: str) -> tuple[frozenset[str], str]:
    """The stems of what a count question counts ("How many poverty-stricken people …" → people) and
    the noun as asked; empty when none is named ("How many of them …")."""
    m = _HOW_MANY.search(question)
    if m:
        phrase = []
        rest = m.group(1) or m.group(2) or ""
        # "How many of the 231 technology correspondents …": a part of a count, of the same noun
        rest = re.sub(r"^(?:of\s+(?:the|these|those|its|their)\s+(?:[\d,.]+\s+)?)", "", rest, flags=re.I)
        for w in re.findall(r"[\w’'-]+", rest)[:5]:
            if w.lower() in _NOUN_END or (w.lower().endswith("ed") and phrase):
                break
            phrase.append(w)
        words = [w for w in phrase if w.lower() not in _NOUN_STOP]
        if words:
            head = words[-1].lower()
            return _noun_stems(head), head
    z = _ZH_COUNTED.search(question)
    if z:
        measure, rest = z.group(1) or "", z.group(2) or ""
        before = re.sub(r"(一共|总共|共|有|是|为|达|约)+$", "", question[:z.start()])
        if not rest.strip(_ZH_STOP) and before:  # 贫困人口有多少: the noun comes before
            rest = before[-4:]
        noun = ""
        for i, ch in enumerate(rest):
            if ch in _ZH_STOP:
                rest = rest[:i]
                break
        # 贫困人口 → 人口: the head noun comes last; only nouns with one clear English word count (a
        # dictionary gloss of a report's coinage, 特派员 "special commissioner", would refuse good answers)
        noun = next((en for zh, en in _ZH_NOUNS.items() if rest.endswith(zh) or rest.startswith(zh)), "")
        noun = noun or next((en for zh, en in _ZH_NOUNS.items() if zh in rest), "")
        if not noun:
            noun = _ZH_MEASURE.get(measure, "")
        if noun:
            return _noun_stems(noun), noun
    return frozenset(), ""


# -- the candidates of a kind --------------------------------------------------------------------------

def candidates(sentence: str, want: Asked | None, question: str = "") -> list[tuple[int, int]]:
    """Offsets of the items of the asked kind in `sentence` that the question does not contain."""
    if want is None:
        return []
    q = question.casefold()
    out = [(s, e) for s, e in _spans(sentence, want) if sentence[s:e].casefold().strip() not in q]
    return sorted(set(out))


@lru_cache(maxsize=16384)  # a passage is checked for several questions, and by the judge and the reader
def _spans(sentence: str, want: Asked) -> tuple[tuple[int, int], ...]:
    return tuple(_find(sentence, want))


def _find(sentence: str, want: Asked) -> list[tuple[int, int]]:
    kind = want.kind
    if kind in _UNIT_AFTER:
        found = [m.span() for m in _UNIT_AFTER[kind].finditer(sentence)]
        if kind == PERCENT:
            found += [m.span() for m in _ZH_PERCENT.finditer(sentence)]
        return found
    if kind == MONEY:
        return [m.span() for m in _MONEY.finditer(sentence)]
    if kind == YEAR:
        return [m.span() for m in _YEAR.finditer(sentence)] + [m.span() for m in _DAY.finditer(sentence)]
    if kind == DAY:
        return [m.span() for m in _DAY.finditer(sentence)]
    if kind in (COUNT, QUANTITY):
        return _counts(sentence, want)
    if kind == PERSON:
        return _persons(sentence)
    if kind == AGENT:
        return _persons(sentence) + [m.span() for m in _ORG.finditer(sentence)] + _names(sentence) + \
            [m.span() for m in _ZH_ORG.finditer(sentence)]
    if kind == PLACE:
        return _names(sentence) + [m.span() for m in _ZH_PLACE.finditer(sentence)]
    if kind == SUPERLATIVE:
        return [m.span() for m in _SUPERLATIVE.finditer(sentence)]
    return []


def _names(sentence: str) -> list[tuple[int, int]]:
    return [m.span() for m in _NAME.finditer(sentence)]


def _persons(sentence: str) -> list[tuple[int, int]]:
    out = [m.span(1) for m in _TITLED.finditer(sentence)]
    out += [m.span() for m in _PINYIN_NAME.finditer(sentence) if m.group(1).lower() in _SURNAMES
            and m.group(2).lower() not in _NOT_GIVEN_NAMES]
    for m in _ZH_PERSON.finditer(sentence):  # 刘新齐司令员 / 司令员刘新齐: two or three characters beside a title
        before, after = sentence[max(0, m.start() - 3):m.start()], sentence[m.end():m.end() + 3]
        if re.fullmatch(r"[\u4e00-\u9fff]{2,3}", before):
            out.append((m.start() - len(before), m.end()))
        elif re.match(r"[\u4e00-\u9fff]{2,3}", after):
            out.append((m.start(), m.end() + len(re.match(r"[\u4e00-\u9fff]{2,3}", after).group(0))))
    return out


# Capitalised words that follow a surname-like word in report prose but are not given names.
_NOT_GIVEN_NAMES = frozenset("""province county city prefecture division regiment farm corps river mountain lake
university college committee government district township village town autonomous region""".split())


def _counts(sentence: str, want: Asked) -> list[tuple[int, int]]:
    """Numbers that are not years, each with the words it counts; for a count of something named, only
    those with that noun nearby (within the clause, six words either side)."""
    out = []
    for m in NUMBER.finditer(sentence):
        s, e = m.span()
        if _YEAR.fullmatch(m.group(0).strip()) or not m.group(0).strip():
            continue
        e2 = _with_counted(sentence, e)
        if want.noun and not _names_noun(sentence, s, e2, want.noun):
            continue
        out.append((s, e2))
    return out


_COUNT_STOP = frozenset("""from to in of for with by at on which that who whom were was are is had have has been as into
per but than while when where after before during under over between across among through each and or""".split())


def _with_counted(sentence: str, end: int, max_words: int = 5) -> int:
    """The end of what a number counts: the words after it up to a preposition, verb or mark."""
    good = end
    pos = end
    for i, m in enumerate(re.finditer(r"\s*([A-Za-z][\w’'-]*|[\u4e00-\u9fff]{1,4})", sentence[end:])):
        if i >= max_words or m.start() != pos - end or m.group(1).lower() in _COUNT_STOP:
            break
        pos = end + m.end()
        good = pos
    return good


def _names_noun(sentence: str, start: int, end: int, noun: frozenset[str]) -> bool:
    """The counted noun (or, for people, any word for people) within the number's clause."""
    lo = max(sentence.rfind(";", 0, start), sentence.rfind(".", 0, max(0, start - 1)), sentence.rfind("；", 0, start))
    his = [i for i in (sentence.find(";", end), sentence.find("；", end)) if i >= 0]
    hi = min(his) if his else len(sentence)
    before = sentence[lo + 1:start].split()[-6:]
    for i in range(len(before) - 1, -1, -1):  # not past the previous number: its words are its own
        if NUMBER.fullmatch(before[i].strip(",.")):
            before = before[i + 1:]
            break
    after = sentence[end:hi].split()[:1]
    near = _stems(" ".join([*before, sentence[start:end], *after]))
    if noun & near:
        return True
    window = sentence[max(0, start - 8):end + 8]  # Chinese: the noun's Chinese words beside the number
    if any(zh in window for zh, en in _ZH_NOUNS.items() if _noun_stems(en) & noun):
        return True
    return bool(noun & _stems(_ANY_PEOPLE)) and bool(near & _HUMAN_STEMS())


@lru_cache(maxsize=1)
def _HUMAN_STEMS() -> frozenset[str]:  # noqa: N802 - a cached constant
    return _stems(" ".join(_HUMANS))


def lacks(sentence: str, want: Asked | None, question: str = "") -> bool:
    """True when the question asks for a typed answer and the sentence holds no candidate of it."""
    return want is not None and not candidates(sentence, want, question)

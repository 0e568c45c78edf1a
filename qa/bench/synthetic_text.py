"""Synthetic report-like text for `qa bench --scale-hybrid`: passages, sentence units and questions.

English passages of 1–3 sentences, each sentence either a real sentence of the bundled report or 8–30
words drawn with a Zipf distribution from the report's own words (most frequent first) followed by
made-up proper names, with numbers in about 40 % of sentences; the report's 【…】 headings as sections.
The same seed gives the same corpus.
"""

from __future__ import annotations

import json
import re

import numpy as np

from qa.paths import ROOT
from qa.types import Passage, Unit

QUESTIONS = 50
PER_REPORT = 50  # passages per synthetic report
NAMES = 30_000  # made-up proper names after the report's words (the long tail of the vocabulary)
REPORT = ROOT / "corpus" / "xpcc-poverty-alleviation-2011.txt"
SHIPPED_QUESTIONS = ROOT / "corpus" / "xpcc-poverty-alleviation-2011.questions.jsonl"
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")
_CJK = re.compile(r"[\u3400-\u9fff]")  # the corpus is English only (the report's Chinese footer is left out)


class Vocabulary:
    """The report's sentences, headings and words (by frequency), and made-up names, to draw text from."""

    def __init__(self, seed: int = 0):
        text = REPORT.read_text(encoding="utf-8")
        self.headings = sorted(set(re.findall(r"【([^】]+)】", text)))
        body = re.sub(r"【[^】]+】", " ", text)
        self.sentences = [s.strip() for s in re.split(r"(?<=[.;])\s+", body)
                          if 40 <= len(s.strip()) <= 400 and not _CJK.search(s)]
        counts: dict[str, int] = {}
        for w in _WORD.findall(body):
            counts[w.lower()] = counts.get(w.lower(), 0) + 1
        words = sorted(counts, key=lambda w: (-counts[w], w))
        rng = np.random.default_rng(seed)
        stems = [w for w in words if len(w) >= 4]
        names = {(stems[a][:3] + stems[b][-4:]).capitalize()
                 for a, b in rng.integers(0, len(stems), (NAMES * 2, 2))}
        self.words = np.array(words + sorted(names - set(words))[:NAMES], dtype=object)
        ranks = np.arange(1, len(self.words) + 1)
        p = 1.0 / (ranks + 2.7)  # Zipf–Mandelbrot, exponent 1
        self.p = p / p.sum()


def _number(rng: np.random.Generator) -> str:
    kind = rng.integers(0, 4)
    if kind == 0:
        return str(int(rng.integers(1990, 2021)))
    if kind == 1:
        return f"{int(rng.integers(1, 1000)):,}" + ("" if rng.random() < 0.5 else f",{int(rng.integers(0, 1000)):03d}")
    if kind == 2:
        return f"{rng.integers(1, 1000)}.{rng.integers(0, 100):02d} million Yuan"
    return f"{rng.integers(1, 100)} percent"


def _sentences(vocab: Vocabulary, m: int, rng: np.random.Generator) -> list[str]:
    """`m` sentences: 15 % real report sentences, the rest Zipf-drawn words (40 % with a number)."""
    lengths = rng.integers(8, 31, m)
    draws = rng.choice(len(vocab.words), int(lengths.sum()), p=vocab.p)
    ends = np.cumsum(lengths)
    real = rng.random(m) < 0.15
    with_number = rng.random(m) < 0.4
    out = []
    for i in range(m):
        if real[i]:
            out.append(vocab.sentences[int(rng.integers(0, len(vocab.sentences)))])
            continue
        words = list(vocab.words[draws[ends[i] - lengths[i]:ends[i]]])
        if with_number[i]:
            words.insert(int(rng.integers(1, len(words))), _number(rng))
        text = " ".join(words)
        out.append(text[0].upper() + text[1:] + ".")
    return out


def synthetic_corpus(n: int, vocab: Vocabulary, *, seed: int = 1) -> tuple[list[Passage], list[Unit]]:
    """`n` report-like passages of 1–3 sentences, and one sentence unit per sentence."""
    rng = np.random.default_rng(seed)
    per = rng.choice([1, 2, 3], n, p=[0.4, 0.4, 0.2])
    sentences = _sentences(vocab, int(per.sum()), rng)
    headings = rng.integers(0, len(vocab.headings), n // 5 + 1)
    passages, units, s = [], [], 0
    for row in range(n):
        doc = f"synthetic-{row // PER_REPORT:06d}"
        text, offsets = "", []
        for sent in sentences[s:s + per[row]]:
            start = len(text) + (1 if text else 0)
            text = f"{text} {sent}" if text else sent
            offsets.append((start, len(text), sent))
        s += per[row]
        passages.append(Passage(f"{doc}#{row:08x}", doc, f"Synthetic report {row // PER_REPORT} on poverty alleviation",
                                vocab.headings[headings[row // 5]], row % PER_REPORT + 1, 0, len(text), text,
                                year=2000 + (row // PER_REPORT) % 21))
        units += [Unit(row, a, b, "sentence", t) for a, b, t in offsets]
    return passages, units


def questions(vocab: Vocabulary, count: int = QUESTIONS, *, seed: int = 3) -> list[str]:
    """Half the shipped set's first questions, half made from the vocabulary's words (some with numbers)."""
    shipped = [json.loads(line)["question"] for line in SHIPPED_QUESTIONS.read_text(encoding="utf-8").splitlines()
               if line.strip()][:count // 2]
    rng = np.random.default_rng(seed)
    content = [w for w in vocab.words[:3000] if len(w) > 3]
    templates = ("How many {a} {b} were there in {y}?", "What did the Corps do about {a} and {b}?",
                 "How much {a} went to {b} {c}?", "Which {a} {b} reached {n}?", "What is the {a} of the {b} {c}?")
    made = []
    for i in range(count - len(shipped)):
        a, b, c = (content[int(j)] for j in rng.integers(0, len(content), 3))
        made.append(templates[i % len(templates)].format(a=a, b=b, c=c, y=int(rng.integers(2000, 2021)),
                                                         n=_number(rng)))
    return shipped + made

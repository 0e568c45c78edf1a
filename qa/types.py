"""Small frozen dataclasses carried from ingest to the UI.

`Passage` is the unit of citation (one paragraph of a report). `Unit` is the unit of embedding (a
sentence or a window of sentences inside one passage): FAISS row *i* is unit *i*, and every unit
points back to its passage by position in the passage list.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# Leads a reply whose best passage is not a strong match: doubt said in words, in the chat and the CLI.
DOUBT = "The closest passage may answer this: "


@dataclass(frozen=True)
class Passage:
    id: str
    doc: str
    title: str
    section: str | None
    paragraph: int  # 1-based paragraph number within the document
    start: int  # character offsets into the source text: source[start:end] == text
    end: int
    text: str
    page: int | None = None  # 1-based page for paged formats (PDF), else None
    year: int | None = None  # the report's year where the text or file name shows one

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> Passage:
        return Passage(**{k: d[k] for k in Passage.__dataclass_fields__ if k in d})

    def lexical_text(self) -> str:
        """What BM25 indexes of a passage: its report's title, its section and its text (every backend)."""
        return f"{self.title}\n{self.section or ''}\n{self.text}"

    def report_label(self) -> str:
        """The report's title, with its year when the title does not already show it."""
        return f"{self.title} ({self.year})" if self.year and str(self.year) not in self.title else self.title

    def citation(self) -> str:
        """`Report title (year) › Section ¶n, p. N` — how a passage is cited everywhere."""
        parts = [self.report_label()]
        if self.section:
            parts.append(self.section)
        return " › ".join(parts) + f" ¶{self.paragraph}" + (f", p. {self.page}" if self.page else "")


@dataclass(frozen=True)
class Document:
    id: str
    path: str  # relative to the corpus folder
    title: str
    sha256: str
    passages: tuple[Passage, ...]
    dropped: tuple[str, ...] = ()  # boilerplate lines left out (site chrome)


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@dataclass(frozen=True)
class Corpus:
    documents: tuple[Document, ...]
    skipped: tuple[Skipped, ...] = ()

    @property
    def passages(self) -> list[Passage]:
        return [p for d in self.documents for p in d.passages]

    @property
    def file_hashes(self) -> dict[str, str]:
        return {d.path: d.sha256 for d in self.documents}


@dataclass(frozen=True)
class Sentence:
    start: int  # offsets relative to the passage text
    end: int
    text: str


@dataclass(frozen=True)
class Unit:
    passage: int  # row of the passage in the passage list
    start: int  # offsets relative to the passage text
    end: int
    kind: str  # "sentence" or "window"
    text: str


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float
    rank: int
    highlight: str
    highlight_start: int  # offsets relative to the passage text
    highlight_end: int
    confidence: str = "weak"  # plain label: strong / possible / weak
    # The reader's verdict (qa/answer/reader.py): None when this passage was not read.
    answers: bool | None = None
    reader_score: float | None = None
    span_start: int | None = None  # the answer span, offsets relative to the passage text
    span_end: int | None = None

    @property
    def span(self) -> str | None:
        return None if self.span_start is None else self.passage.text[self.span_start:self.span_end]


@dataclass(frozen=True)
class Gloss:
    """A machine translation of the answer span (or of its sentence: `of`) into the asker's `language`
    ("en" or "zh"), shown under the quote once it passed the checks of qa/answer/gloss.py."""

    text: str
    language: str
    of: str = "span"


@dataclass(frozen=True)
class Answer:
    question: str
    searched: str
    answer: str | None
    abstained: bool
    hits: tuple[Hit, ...]
    notices: tuple[str, ...] = field(default=())
    mode: str = "dense"
    reader: str = "off"  # "on", "off", "loading" or "unavailable: why" — whether the reader checked this answer
    reasons: tuple[str, ...] = ()  # the judging rules that fired (qa/answer/judge.py), for eval and notices
    gloss: Gloss | None = None  # the answer in the asker's language, when the report is in the other one

    @property
    def span_hit(self) -> Hit | None:
        """The hit whose answer span leads the answer (the first hit, when the reader found one)."""
        return self.hits[0] if not self.abstained and self.hits and self.hits[0].span_start is not None else None

    def to_json(self) -> dict:
        """The JSON object of `python -m qa ask --json` and of the app's `ask` endpoint."""
        sh = self.span_hit
        return {
            "question": self.question,
            "searched": self.searched,
            "answer": self.answer,
            "abstained": self.abstained,
            "notices": list(self.notices),
            "mode": self.mode,
            "reader": self.reader,
            "reasons": list(self.reasons),
            # the answer span, with offsets into the report's text (source[answer_start:answer_end])
            "answer_span": sh.span if sh else None,
            "answer_start": sh.passage.start + sh.span_start if sh else None,
            "answer_end": sh.passage.start + sh.span_end if sh else None,
            # a checked machine translation of the span into the question's language (None: none needed or
            # none passed the checks); the span stays the evidence
            "answer_gloss": self.gloss.text if self.gloss else None,
            "gloss_language": self.gloss.language if self.gloss else None,
            "passages": [
                {
                    "rank": h.rank,
                    "id": h.passage.id,
                    "doc": h.passage.doc,
                    "title": h.passage.title,
                    "section": h.passage.section,
                    "paragraph": h.passage.paragraph,
                    "start": h.passage.start,
                    "end": h.passage.end,
                    "score": round(h.score, 4),
                    "confidence": h.confidence,
                    "citation": h.passage.citation(),
                    "page": h.passage.page,
                    "year": h.passage.year,
                    "text": h.passage.text,
                    "highlight": h.highlight,
                    "highlight_start": h.highlight_start,
                    "highlight_end": h.highlight_end,
                    "answers": h.answers,
                    "reader_score": None if h.reader_score is None else round(h.reader_score, 4),
                    "span_start": h.span_start,
                    "span_end": h.span_end,
                }
                for h in self.hits
            ],
        }

"""Question sets: JSON lines of questions with the passages that answer them.

One object a line:
    {"id": "q001", "question": "...", "history": ["earlier question", ...],
     "relevant": ["doc#hash", ...], "answer": "text the highlighted sentence must contain",
     "answerable": true, "type": "numeric"}
`history`, `answer`, `answerable` and `type` may be left out (defaults: [], "", true when `relevant`
is non-empty, "user"). An answerable question needs at least one relevant id; an unanswerable one none.
Blank lines are skipped. Any other bad line raises QuestionFileInvalid naming the file and line.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from qa.errors import QuestionFileInvalid

TYPES = ("keyword", "numeric", "paraphrase", "long-paragraph-end", "chinese", "follow-up", "unanswerable", "user")
SUFFIX = ".questions.jsonl"
_KEYS = {"id", "question", "history", "relevant", "answer", "answerable", "type"}


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    history: tuple[str, ...] = ()
    relevant: tuple[str, ...] = ()
    answer: str = ""
    answerable: bool = True
    type: str = "user"
    source: str = ""  # the question file's name (set when read from a file), for per-set tables

    def to_dict(self) -> dict:
        return {"id": self.id, "question": self.question, "history": list(self.history),
                "relevant": list(self.relevant), "answer": self.answer, "answerable": self.answerable,
                "type": self.type}


def parse_question(obj: object) -> Question:
    """One decoded JSON value → Question; ValueError with a plain reason if it does not fit the format."""
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    unknown = sorted(set(obj) - _KEYS)
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)}")
    for key in ("id", "question"):
        if not isinstance(obj.get(key), str) or not obj[key].strip():
            raise ValueError(f'"{key}" must be a non-empty string')
    history = obj.get("history", [])
    relevant = obj.get("relevant", [])
    for key, value in (("history", history), ("relevant", relevant)):
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise ValueError(f'"{key}" must be a list of non-empty strings')
    answer = obj.get("answer", "")
    if not isinstance(answer, str):
        raise ValueError('"answer" must be a string')
    answerable = obj.get("answerable", bool(relevant))
    if not isinstance(answerable, bool):
        raise ValueError('"answerable" must be true or false')
    if answerable and not relevant:
        raise ValueError('an answerable question needs at least one "relevant" passage id')
    if not answerable and relevant:
        raise ValueError('an unanswerable question must have an empty "relevant" list')
    qtype = obj.get("type", "user")
    if not isinstance(qtype, str) or not qtype.strip():
        raise ValueError('"type" must be a non-empty string')
    return Question(obj["id"], obj["question"], tuple(history), tuple(relevant), answer, answerable, qtype)


def load_questions(path: Path) -> list[Question]:
    """Read and check a question file; QuestionFileInvalid names the first bad line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise QuestionFileInvalid(f"question file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise QuestionFileInvalid(f"question file {path} is unreadable ({e.__class__.__name__})") from None
    questions: list[Question] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            q = parse_question(json.loads(line))
        except json.JSONDecodeError as e:
            raise QuestionFileInvalid(f"{path} line {lineno}: not valid JSON ({e.msg}, column {e.colno})") from None
        except ValueError as e:
            raise QuestionFileInvalid(f"{path} line {lineno}: {e}") from None
        if q.id in seen:
            raise QuestionFileInvalid(f"{path} line {lineno}: id {q.id!r} already used on line {seen[q.id]}")
        seen[q.id] = lineno
        questions.append(q)
    if not questions:
        raise QuestionFileInvalid(f"question file {path} holds no questions")
    return questions


def question_files(corpus_dir: Path) -> list[Path]:
    """The question sets shipped beside the reports: `corpus/*.questions.jsonl`."""
    return sorted(Path(corpus_dir).glob(f"*{SUFFIX}"))


def load_question_files(paths: list[Path]) -> list[Question]:
    out: list[Question] = []
    ids: set[str] = set()
    for path in paths:
        for q in load_questions(path):
            q = dataclasses.replace(q, source=Path(path).name)
            if q.id in ids:
                raise QuestionFileInvalid(f"{path}: id {q.id!r} is also used in another question file")
            ids.add(q.id)
            out.append(q)
    return out


def append_question(path: Path, q: Question) -> None:
    """Append one question (e.g. a user's judgment from the chat) to a question file."""
    parse_question(q.to_dict())  # same checks as on load
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = ""
    if path.is_file() and path.stat().st_size:
        with open(path, "rb") as f:
            f.seek(-1, 2)
            prefix = "" if f.read(1) == b"\n" else "\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(prefix + json.dumps(q.to_dict(), ensure_ascii=False) + "\n")


def check_against_passages(questions: list[Question], passages) -> list[str]:
    """Problems (plain sentences) with a question set against the current passages: unknown ids,
    answers that do not occur in a relevant passage."""
    text = {p.id: p.text for p in passages}
    problems = []
    for q in questions:
        for pid in q.relevant:
            if pid not in text:
                problems.append(f"{q.id}: relevant passage {pid} is not in the index")
            elif q.answer and q.answer not in text[pid]:
                problems.append(f"{q.id}: answer {q.answer!r} does not occur in {pid}")
    return problems


def tuning_half(question_id: str) -> str:
    """"tune" or "check": the fixed half of a question set that settings are tuned on, or held out."""
    import hashlib

    return "tune" if int(hashlib.sha1(question_id.encode()).hexdigest(), 16) % 2 == 0 else "check"

"""Domain errors. `qa/` raises these; the CLI and the UI turn them into plain words."""


class QAError(Exception):
    """Base class for every error this package raises on purpose."""


class CorpusEmpty(QAError):
    """The corpus folder holds no readable report."""


class CorpusMissing(QAError):
    """The corpus folder does not exist."""


class IndexUnusable(QAError):
    """The index on disk is missing, stale or unreadable; `reason` says which, in plain words."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class BadQuestion(QAError):
    """The question cannot be searched (empty, only whitespace or control characters)."""


class ModelUnavailable(QAError):
    """The embedding model could not be loaded."""


class QuestionFileInvalid(QAError):
    """A question-set file cannot be read; the message names the file and line."""


class BenchmarkInvalid(QAError):
    """A benchmark folder is not in BEIR layout (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv)."""


class UnknownMode(QAError):
    """A retrieval mode that the retriever does not offer."""


class ReaderUnavailable(QAError):
    """The reader model is missing, fails its checksum or cannot be loaded; answers go on without it."""


class BackendUnavailable(QAError):
    """The chosen search backend cannot be used (its client library is missing, or its server unreachable)."""


class ClusterUnavailable(QAError):
    """The distributed build cannot run: Ray is not installed, the cluster cannot be reached, or a model
    worker failed; the message says which, in plain words."""

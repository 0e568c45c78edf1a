"""Connecting to Milvus, naming an index's collections, and encoding index terms for Milvus's analyzer.

`connect` gives a `pymilvus.MilvusClient` for a server or cluster (`http://host:19530`) or a milvus-lite file
(`….db`), with a plain error when it cannot, wrapped in `Resilient` so that an engine restart does not take
the app down with it; `collection_name` names an index folder's collections;
`encode_term` turns one of our index terms into one word that Milvus's `standard` analyzer keeps whole
(see qa/index/milvus_store.py).
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from pathlib import Path

from qa.errors import BackendUnavailable

_PLAIN = re.compile(r"[a-z0-9]+")


def encode_term(term: str) -> str:
    """One index term as one word for the `standard` analyzer."""
    return term if _PLAIN.fullmatch(term) else "u_" + term.encode("utf-8").hex()


def decode_term(word: str) -> str:
    """`encode_term` undone (a plain term never holds "_")."""
    return bytes.fromhex(word[2:]).decode("utf-8") if word.startswith("u_") else word


def default_uri(index_dir: Path) -> str:
    """milvus-lite in the index folder: nothing is written outside the project's folders by default."""
    return str(Path(index_dir) / "milvus.db")


def collection_name(index_dir: Path) -> str:
    """A collection name from the index folder: its name plus a hash of its full path."""
    folder = Path(index_dir).resolve()
    slug = re.sub(r"[^A-Za-z0-9_]", "_", folder.name)[:40] or "index"
    return f"qa_{slug}_{hashlib.sha1(str(folder).encode()).hexdigest()[:8]}"


class _KnownNoise(logging.Filter):
    """Drops two harmless messages of every `query_iterator` on milvus-lite: its server does not implement
    `AllocTimestamp` (grpc logs the NotImplementedError with a traceback) and pymilvus falls back to a
    client-side timestamp (and warns). Left in, they read like failures in the app's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "failed to get mvccTs" not in message and not (
            record.exc_info and "Method not implemented" in str(record.exc_info[1]))


_NOISE = _KnownNoise()
log = logging.getLogger(__name__)


def connect(uri: str):
    """A `MilvusClient`; BackendUnavailable in plain words when pymilvus is missing or Milvus unreachable.
    A uri without a scheme is a milvus-lite file (it must end in .db)."""
    try:
        from pymilvus import MilvusClient
    except ImportError:
        raise BackendUnavailable("the Milvus backend needs pymilvus: pip install pymilvus==3.0.2 "
                                 "milvus-lite==3.2.2") from None
    for name in ("pymilvus.client.iterator.query_iterator", "grpc._server"):
        if _NOISE not in logging.getLogger(name).filters:
            logging.getLogger(name).addFilter(_NOISE)
    if "://" not in uri:
        if not uri.endswith(".db"):
            raise BackendUnavailable(f"a milvus-lite uri is a file ending in .db, not {uri!r}")
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
    try:
        return Resilient(MilvusClient(uri, timeout=10), uri)
    except Exception as e:  # pymilvus raises several kinds (connection, config, timeout)
        raise BackendUnavailable(f"cannot reach Milvus at {uri} ({e.__class__.__name__}: "
                                 f"{str(e).splitlines()[0][:120] if str(e) else ''})") from None


# What an engine fault looks like from pymilvus: a collection released by a restarted server (code 101), and a
# connection that is down or not yet back (grpc's "Fail connecting to server", UNAVAILABLE, a closed channel).
_RELEASED = re.compile(r"state 'released'|not loaded|call load\(\)", re.IGNORECASE)
_UNREACHABLE = re.compile(r"fail(ed)? connecting|unavailable|connection refused|channel closed|deadline exceeded|"
                          r"connect failed|socket closed", re.IGNORECASE)


def fault(error: BaseException) -> str | None:
    """"released", "unreachable" or None (any other error: a bad request is not retried)."""
    text = f"{getattr(error, 'message', '')} {error}"
    if getattr(error, "code", None) == 101 or _RELEASED.search(text):
        return "released"
    return "unreachable" if _UNREACHABLE.search(text) else None


class Resilient:
    """A `MilvusClient` that rides out an engine restart (an upgrade, a rescheduled pod): a collection the
    server released is loaded again and the call repeated; a connection that is down is tried again after
    `waits` (seconds, bounded), while grpc reopens it. A call that still fails raises BackendUnavailable in
    plain words, so a question gets an answer in words and the next one, once the engine is back, an answer.
    Every other attribute is the client's own."""

    def __init__(self, client, uri: str, waits: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0)):
        self._client, self.uri, self.waits = client, uri, waits

    def __getattr__(self, name):
        attr = getattr(self._client, name)
        if not callable(attr) or name == "close":
            return attr

        def call(*args, **kwargs):
            return self._call(attr, args, kwargs)

        return call

    def _call(self, method, args, kwargs):
        for wait in (*self.waits, None):
            try:
                return method(*args, **kwargs)
            except BackendUnavailable:
                raise
            except Exception as e:  # pymilvus and grpc raise several kinds
                kind = fault(e)
                if kind is None:
                    raise
                if wait is None:
                    raise BackendUnavailable(f"cannot reach Milvus at {self.uri}" if kind == "unreachable" else
                                             f"Milvus at {self.uri} could not load {_collection(args, kwargs)}") from e
                log.warning("Milvus at %s: %s; trying again in %.2f s", self.uri, kind, wait)
                if kind == "released" and _collection(args, kwargs):
                    try:
                        self._client.load_collection(_collection(args, kwargs))
                        continue
                    except Exception as again:  # still coming up: wait as for a dropped connection
                        if fault(again) is None:
                            raise
                time.sleep(wait)


def _collection(args, kwargs) -> str | None:
    name = kwargs.get("collection_name", args[0] if args else None)
    return name if isinstance(name, str) else None

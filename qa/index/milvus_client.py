"""Connecting to Milvus, naming an index's collections, and encoding index terms for Milvus's analyzer.

`connect` gives a `pymilvus.MilvusClient` for a server or cluster (`http://host:19530`) or a milvus-lite file
(`….db`), with a plain error when it cannot; `collection_name` names an index folder's collections;
`encode_term` turns one of our index terms into one word that Milvus's `standard` analyzer keeps whole
(see qa/index/milvus_store.py).
"""

from __future__ import annotations

import hashlib
import logging
import re
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
        return MilvusClient(uri, timeout=10)
    except Exception as e:  # pymilvus raises several kinds (connection, config, timeout)
        raise BackendUnavailable(f"cannot reach Milvus at {uri} ({e.__class__.__name__}: "
                                 f"{str(e).splitlines()[0][:120] if str(e) else ''})") from None

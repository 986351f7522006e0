"""Qdrant: one way to open a client from a URL (server or embedded) and to set up a collection.

Only the current qdrant-client API is used (``collection_exists`` + ``create_collection``,
``upsert``, ``query_points``); the test run treats DeprecationWarning as an error.
"""

from __future__ import annotations

import threading

from qdrant_client import QdrantClient, models

EMBEDDED_SCHEME = "qdrant+embedded://"
CONTENT_COLLECTION = "content"
PAYLOAD_INDEXES: dict[str, models.PayloadSchemaType] = {
    "type": models.PayloadSchemaType.KEYWORD,
    "genres": models.PayloadSchemaType.KEYWORD,
    "moods": models.PayloadSchemaType.KEYWORD,
    "platforms": models.PayloadSchemaType.KEYWORD,
    "regions": models.PayloadSchemaType.KEYWORD,
    "year": models.PayloadSchemaType.INTEGER,
    "rating": models.PayloadSchemaType.FLOAT,
}

_embedded: dict[str, QdrantClient] = {}
_embedded_lock = threading.Lock()
_call_locks: dict[str, threading.Lock] = {}


def is_embedded(url: str) -> bool:
    return url.startswith(EMBEDDED_SCHEME)


def open_qdrant(url: str, timeout: int = 10) -> QdrantClient:
    """A server client, or this process's embedded engine for ``qdrant+embedded://memory``.

    The embedded engine lives in one process: every service mounted in that process gets the
    same instance (a second in-memory engine would be empty; a second on a path is refused).
    """
    if not is_embedded(url):
        return QdrantClient(url=url, timeout=timeout)
    with _embedded_lock:
        if url not in _embedded:
            where = url.removeprefix(EMBEDDED_SCHEME)
            _embedded[url] = (
                QdrantClient(location=":memory:") if where == "memory" else QdrantClient(path=where)
            )
        return _embedded[url]


def embedded_lock(url: str) -> threading.Lock:
    """The lock every caller of this process's embedded engine for ``url`` should hold.

    qdrant-client's local mode has no locking: a query re-normalises the stored vectors in
    place and an upsert may grow the arrays a concurrent query is reading. Services calling the
    shared engine from worker threads (``asyncio.to_thread``) serialise their calls with this
    lock. A server needs none.
    """
    with _embedded_lock:
        return _call_locks.setdefault(url, threading.Lock())


def ensure_collection(client: QdrantClient, name: str, dim: int, *, indexed: bool) -> bool:
    """Create the collection if missing (cosine distance); returns True when it was created.

    ``indexed``: also create payload indexes (server mode; embedded mode ignores them).
    """
    if client.collection_exists(name):
        return False
    client.create_collection(
        name, vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE)
    )
    if indexed:
        for field, schema in PAYLOAD_INDEXES.items():
            client.create_payload_index(name, field_name=field, field_schema=schema)
    return True

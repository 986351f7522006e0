"""The vector index: filtered nearest-neighbour search in Qdrant, and (embedded mode) its upkeep.

**Filters and the embedded engine.** A Qdrant server evaluates payload filters inside its index,
so in server mode the filters go to ``query_points`` as payload conditions. The embedded engine
(qdrant-client local mode) evaluates a filter per point in Python — ≈ 55 ms over 5,000 points
against ≈ 3 ms unfiltered (DESIGN.md §3). In embedded mode a filtered search therefore first
fetches the ``embedded_overfetch`` (400) nearest points *unfiltered*, with only the payload
fields the filters need (copying payloads is most of the cost), and applies the filters in
Python. Every point that passes and lies in that unfiltered top 400 is also, in the same order,
in the filtered top list, so when at least ``limit`` survive — or the over-fetch saw the whole
collection — the answer is exactly what the filtered query would give; only when too few
survive does it fall back to a filtered query. That fallback is a selective filter by
construction, so the search engine first asks PostgreSQL (indexed, ≈ 1 ms) for the ids passing
the filters; up to ``AMONG_LIMIT`` of them go to Qdrant as a ``has_id`` condition (a set lookup
per point, ≈ 10 ms per 3,000 points against ≈ 40-55 ms for payload conditions), beyond that
Qdrant's payload-filtered query runs. Every path returns the exact filtered top list (scores
compared to 4 decimals, ties by id: see :func:`ranked`), so the result does not depend on the
page asked for and pages stay consistent.
``search_vector_path_total{path}`` counts the paths taken (unfiltered, overfetch, filtered_ids,
filtered).

All calls to the embedded engine hold ``common.vectors.embedded_lock``: local mode is not
thread-safe (a query re-normalises the stored vectors in place; an upsert may grow the arrays).

**Upkeep (embedded only).** An in-memory engine starts empty in every process. A background
task loads ``content.embeddings`` (the rows of the configured model) with the payload fields
from PostgreSQL at start-up, then every ``index_sync_interval_seconds`` upserts what changed
(``updated_at`` of the title, its embedding or its offers, re-read with a 30 s overlap so a
transaction that committed late is not missed), and every minute reconciles the whole
collection against PostgreSQL (deletions, missed rows); a collection dropped under it is
recreated and reloaded. So the index survives restarts and every worker process holds the
full catalogue. Upserts are idempotent: in all-in-one mode the ingestion service writes to the
same engine, and both writing the same point is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from qdrant_client import QdrantClient, models

from mediagw.common.real_array import vector_list
from mediagw.common.storage import Pool
from mediagw.common.vectors import ensure_collection
from mediagw.discovery.metrics import INDEX_DELETES, INDEX_SYNC_ERRORS, INDEX_UPSERTS, VECTOR_PATHS
from mediagw.discovery.query import Filters

log = logging.getLogger("mediagw.discovery.index")


AMONG_LIMIT = 500
"""At most this many PostgreSQL-filtered ids are handed to Qdrant as a ``has_id`` condition."""
OVERLAP = timedelta(seconds=30)
RECONCILE_SECONDS = 60.0
BATCH = 500


def payload_fields(filters: Filters) -> list[str]:
    fields = []
    for name, present in (
        ("genres", filters.genres),
        ("moods", filters.moods),
        ("platforms", filters.platforms),
        ("type", filters.types),
        ("year", filters.year_from is not None or filters.year_to is not None),
        ("rating", filters.rating_min is not None),
    ):
        if present:
            fields.append(name)
    return fields


def payload_matches(payload: Mapping[str, Any] | None, filters: Filters) -> bool:
    """The Python twin of :func:`qdrant_filter` (any-of within a field, all fields)."""
    payload = payload or {}
    for name, wanted in (
        ("genres", filters.genres),
        ("moods", filters.moods),
        ("platforms", filters.platforms),
    ):
        if wanted and not set(payload.get(name) or ()) & set(wanted):
            return False
    if filters.types and payload.get("type") not in filters.types:
        return False
    year = payload.get("year")
    if filters.year_from is not None and (year is None or year < filters.year_from):
        return False
    if filters.year_to is not None and (year is None or year > filters.year_to):
        return False
    rating = payload.get("rating")
    return filters.rating_min is None or (rating is not None and rating >= filters.rating_min)


def qdrant_filter(filters: Filters) -> models.Filter | None:
    must: list[models.Condition] = []
    for key, values in (
        ("genres", filters.genres),
        ("moods", filters.moods),
        ("platforms", filters.platforms),
        ("type", filters.types),
    ):
        if values:
            must.append(models.FieldCondition(key=key, match=models.MatchAny(any=list(values))))
    if filters.year_from is not None or filters.year_to is not None:
        must.append(
            models.FieldCondition(
                key="year", range=models.Range(gte=filters.year_from, lte=filters.year_to)
            )
        )
    if filters.rating_min is not None:
        must.append(models.FieldCondition(key="rating", range=models.Range(gte=filters.rating_min)))
    return models.Filter(must=must) if must else None


def ranked(points: Iterable[models.ScoredPoint]) -> list[str]:
    """Ids best first, scores compared to 4 decimals and ties broken by id.

    The embedded engine re-normalises its stored vectors in place on every query, so a score
    can move in the 7th decimal from one call to the next; near-equal titles would otherwise
    swap places between two requests (and pages of one search could overlap).
    """
    return [str(p.id) for p in sorted(points, key=lambda p: (-round(p.score, 4), str(p.id)))]


class VectorIndex:
    """Searches (and, in embedded mode, writes) one Qdrant collection. Methods block: call
    them through ``asyncio.to_thread``."""

    def __init__(
        self,
        client: QdrantClient,
        collection: str,
        *,
        overfetch: int,
        lock: threading.Lock | None = None,
    ) -> None:
        """``lock``: the embedded engine's call lock (``common.vectors.embedded_lock``); its
        presence is what marks the index as embedded. None for a server."""
        self.client = client
        self.collection = collection
        self.embedded = lock is not None
        self.overfetch = overfetch
        self._lock = lock

    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._lock is None:
            return method(*args, **kwargs)
        with self._lock:
            return method(*args, **kwargs)

    def search(self, vector: Sequence[float], filters: Filters, limit: int) -> list[str]:
        """Ids of the ``limit`` nearest titles passing ``filters`` (moods to prefer ignored),
        with Qdrant alone: unfiltered, the embedded over-fetch, or the payload-filtered query.
        (The search engine inserts a cheaper fallback between the last two: ``among``.)"""
        if filters.is_empty:
            VECTOR_PATHS.labels("unfiltered").inc()
            return self._ids(list(vector), None, limit)
        if self.embedded:
            survivors = self.overfetched(vector, filters, limit)
            if survivors is not None:
                return survivors
        return self.filtered(vector, filters, limit)

    def overfetched(
        self, vector: Sequence[float], filters: Filters, limit: int
    ) -> list[str] | None:
        """Embedded mode: the nearest ``overfetch`` points, unfiltered and with only the payload
        fields the filters need, filtered in Python. None when fewer than ``limit`` survive
        (unless the over-fetch saw the whole collection: then the survivors are all there is)."""
        over = self._call(
            self.client.query_points,
            self.collection,
            query=list(vector),
            limit=self.overfetch,
            with_payload=payload_fields(filters),
        ).points
        survivors = ranked(p for p in over if payload_matches(p.payload, filters))
        if len(survivors) >= limit or len(over) < self.overfetch:
            VECTOR_PATHS.labels("overfetch").inc()
            return survivors[:limit]
        return None

    def filtered(self, vector: Sequence[float], filters: Filters, limit: int) -> list[str]:
        """Qdrant's filtered query with the filters as payload conditions (native on a server;
        per point in Python on the embedded engine)."""
        VECTOR_PATHS.labels("filtered").inc()
        return self._ids(list(vector), qdrant_filter(filters), limit)

    def among(self, vector: Sequence[float], ids: Sequence[str], limit: int) -> list[str]:
        """The filtered query restricted to ``ids`` (a ``has_id`` condition): on the embedded
        engine a set lookup per point is 3-4x cheaper than evaluating payload conditions."""
        VECTOR_PATHS.labels("filtered_ids").inc()
        if not ids:
            return []
        condition = models.Filter(must=[models.HasIdCondition(has_id=list(ids))])
        return self._ids(list(vector), condition, limit)

    def _ids(self, query: list[float], query_filter: models.Filter | None, limit: int) -> list[str]:
        result = self._call(
            self.client.query_points,
            self.collection,
            query=query,
            query_filter=query_filter,
            limit=limit,
            with_payload=False,
        )
        return ranked(result.points)

    def vector_of(self, content_id: str) -> list[float] | None:
        points = self._call(
            self.client.retrieve, self.collection, ids=[content_id], with_vectors=True
        )
        if not points:
            return None
        vector = points[0].vector
        return [float(v) for v in vector] if isinstance(vector, list) else None

    def neighbours(
        self, vector: Sequence[float], exclude: str, limit: int
    ) -> list[tuple[str, float]]:
        """(id, cosine similarity) of the ``limit`` nearest titles other than ``exclude``."""
        result = self._call(
            self.client.query_points,
            self.collection,
            query=list(vector),
            limit=limit + 1,
            with_payload=False,
        )
        order = ranked(result.points)
        scores = {str(p.id): float(p.score) for p in result.points}
        return [(i, scores[i]) for i in order if i != exclude][:limit]

    def ensure(self, dim: int) -> bool:
        """Create the collection if it is missing; True when created (payload indexes too, on
        a server)."""
        created = self._call(
            ensure_collection, self.client, self.collection, dim, indexed=not self.embedded
        )
        return bool(created)

    def count(self) -> int:
        return int(self._call(self.client.count, self.collection, exact=True).count)

    def upsert(self, points: list[models.PointStruct]) -> None:
        if points:
            self._call(self.client.upsert, self.collection, points=points, wait=True)

    def delete(self, ids: list[str]) -> None:
        if ids:
            self._call(
                self.client.delete,
                self.collection,
                points_selector=models.PointIdsList(points=list(ids)),
                wait=True,
            )

    def all_ids(self) -> set[str]:
        ids: set[str] = set()
        offset: Any = None
        while True:
            points, offset = self._call(
                self.client.scroll,
                self.collection,
                limit=1000,
                offset=offset,
                with_payload=False,
                with_vectors=False,
            )
            ids.update(str(p.id) for p in points)
            if offset is None:
                return ids


Stamp = tuple[datetime, int]
"""When a title last changed (latest of title, embedding, offers) and its number of offers."""

_STAMPS = (
    "SELECT c.id::text AS id, greatest(c.updated_at, e.updated_at,"
    " coalesce(max(a.updated_at), c.updated_at)) AS stamp, count(a.id) AS offers"
    " FROM content.content c"
    " JOIN content.embeddings e ON e.content_id = c.id AND e.model = %(model)s"
    "  AND e.dim = %(dim)s"
    " LEFT JOIN content.availability a ON a.content_id = c.id"
    " WHERE {since}"
    " GROUP BY c.id, e.updated_at"
)
_SINCE = (
    "(c.updated_at > %(since)s OR e.updated_at > %(since)s OR c.id IN"
    " (SELECT content_id FROM content.availability WHERE updated_at > %(since)s))"
)
_ROWS = (
    "SELECT c.id::text AS id, c.title, c.type, c.genres, c.moods, c.release_year,"
    " c.rating::float8 AS rating, c.popularity, array_send(e.vector) AS vector,"
    " coalesce((SELECT array_agg(DISTINCT a.platform) FROM content.availability a"
    "   WHERE a.content_id = c.id), '{}') AS platforms,"
    " coalesce((SELECT array_agg(DISTINCT a.region::text) FROM content.availability a"
    "   WHERE a.content_id = c.id), '{}') AS regions"
    " FROM content.content c JOIN content.embeddings e ON e.content_id = c.id"
    "  AND e.model = %(model)s AND e.dim = %(dim)s"
    " WHERE c.id = ANY(%(ids)s::uuid[])"
)


def point(row: Mapping[str, Any]) -> models.PointStruct:
    """A title as a Qdrant point: the payload ingestion writes, id = the content uuid."""
    return models.PointStruct(
        id=str(row["id"]),
        vector=vector_list(row["vector"], row["id"]),
        payload={
            "title": row["title"],
            "type": row["type"],
            "genres": list(row["genres"]),
            "moods": list(row["moods"]),
            "year": row["release_year"],
            "platforms": sorted(row["platforms"]),
            "regions": sorted(row["regions"]),
            "rating": row["rating"],
            "popularity": float(row["popularity"]),
        },
    )


class EmbeddedIndexSync:
    """Keeps an embedded collection in step with PostgreSQL (see the module docstring)."""

    def __init__(
        self,
        pool: Pool,
        index: VectorIndex,
        *,
        model: str,
        dim: int,
        interval: float,
        on_change: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.pool = pool
        self.index = index
        self.model = model
        self.dim = dim
        self.interval = interval
        self.on_change = on_change
        self.loaded = asyncio.Event()
        """Set once the first full load has finished (readiness waits for it)."""
        self.points = 0
        self._seen: dict[str, Stamp] = {}
        self._watermark: datetime | None = None
        self._reconciled_at = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sync_once()
            except Exception:  # the loop must outlive a database hiccup
                INDEX_SYNC_ERRORS.inc()
                log.exception("refreshing the embedded vector index failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)

    async def sync_once(self) -> int:
        """One refresh; returns how many points were written."""
        if await asyncio.to_thread(self.index.ensure, self.dim):
            log.warning("the embedded collection was missing: recreated, reloading it")
            self._seen.clear()
            self._reconciled_at = 0.0
        full = not self.loaded.is_set() or (
            time.monotonic() - self._reconciled_at >= RECONCILE_SECONDS
        )
        stamps = await self._stamps(None if full else self._watermark)
        if full:
            changed = [i for i, stamp in stamps.items() if self._seen.get(i) != stamp]
            stale = await asyncio.to_thread(self._stale, set(stamps))
        else:
            changed = [
                i
                for i, stamp in stamps.items()
                if self._seen.get(i) is None or stamp > self._seen[i]
            ]
            stale = []
        for start in range(0, len(changed), BATCH):
            batch = changed[start : start + BATCH]
            rows = await self._rows(batch)
            await asyncio.to_thread(self.index.upsert, [point(row) for row in rows])
            INDEX_UPSERTS.inc(len(rows))
        if stale:
            await asyncio.to_thread(self.index.delete, stale)
            INDEX_DELETES.inc(len(stale))
            for content_id in stale:
                self._seen.pop(content_id, None)
        for content_id in changed:
            self._seen[content_id] = stamps[content_id]
        if stamps:
            newest = max(stamp for stamp, _ in stamps.values())
            self._watermark = newest if self._watermark is None else max(self._watermark, newest)
        if full:
            self._reconciled_at = time.monotonic()
        first_load = not self.loaded.is_set()
        self.points = len(self._seen)
        self.loaded.set()
        if (changed or stale) and not first_load and self.on_change is not None:
            await self.on_change()
        return len(changed)

    def _stale(self, current: set[str]) -> list[str]:
        """Points in the collection whose title (or embedding of our model) is gone."""
        if self.index.count() == len(current) and not (set(self._seen) - current):
            return []
        return sorted(self.index.all_ids() - current)

    async def _stamps(self, since: datetime | None) -> dict[str, Stamp]:
        params: dict[str, Any] = {"model": self.model, "dim": self.dim}
        if since is None:
            query = _STAMPS.format(since="TRUE")
        else:
            query = _STAMPS.format(since=_SINCE)
            params["since"] = since - OVERLAP
        async with self.pool.connection() as conn:
            cursor = await conn.execute(query, params)
            rows = await cursor.fetchall()
        return {str(r["id"]): (r["stamp"], int(r["offers"])) for r in rows}

    async def _rows(self, ids: list[str]) -> list[Any]:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(_ROWS, {"model": self.model, "dim": self.dim, "ids": ids})
            return await cursor.fetchall()

"""The vector index: one Qdrant point per title, id = content id, built from PostgreSQL.

PostgreSQL (``content.embeddings``) is the source of truth; points are upserted after the rows
commit, and the whole index can be rebuilt from the database (an embedded, in-memory engine
starts empty after every restart).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from psycopg.rows import DictRow
from qdrant_client import QdrantClient, models

from mediagw.common.embedding import Embedder, content_text
from mediagw.common.real_array import RealArray, encode_real_array, vector_list
from mediagw.common.storage import Pool

log = logging.getLogger("mediagw.ingestion.indexer")

_POINTS = """
SELECT c.id, c.title, c.type, c.genres, c.moods, c.release_year, c.rating, c.popularity,
       c.overview, e.model, e.dim, array_send(e.vector) AS vector,
       ARRAY(SELECT platform FROM content.external_ids x
              WHERE x.content_id = c.id AND x.platform IN (SELECT id FROM content.platforms)
             UNION
             SELECT platform FROM content.availability a WHERE a.content_id = c.id
             ORDER BY 1) AS platforms,
       ARRAY(SELECT DISTINCT region::text FROM content.availability a
              WHERE a.content_id = c.id ORDER BY 1) AS regions
  FROM content.content c
  LEFT JOIN content.embeddings e ON e.content_id = c.id
"""


def payload(row: DictRow) -> dict[str, Any]:
    """The point payload discovery filters and ranks on."""
    rating = row["rating"]
    return {
        "title": row["title"],
        "type": row["type"],
        "genres": list(row["genres"]),
        "moods": list(row["moods"]),
        "year": row["release_year"],
        "platforms": list(row["platforms"]),
        "regions": list(row["regions"]),
        "rating": float(rating) if rating is not None else None,
        "popularity": float(row["popularity"]),
    }


class Indexer:
    def __init__(
        self,
        pool: Pool,
        client: QdrantClient,
        collection: str,
        embedder: Embedder,
        lock: AbstractContextManager[object] | None = None,
    ) -> None:
        """``lock`` serialises calls into a shared embedded engine (see vectors.embedded_lock)."""
        self.lock = lock or contextlib.nullcontext()
        self.pool = pool
        self.client = client
        self.collection = collection
        self.embedder = embedder

    async def _rows(
        self, where: str, params: Sequence[Any], limit: int | None = None
    ) -> list[DictRow]:
        query = f"{_POINTS} WHERE {where} ORDER BY c.id"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        async with self.pool.connection() as conn:
            cursor = await conn.execute(query, params)
            return await cursor.fetchall()

    async def _embed_missing(self, rows: list[DictRow]) -> None:
        """Rows whose vector is missing or from another model are embedded and stored."""
        stale = [r for r in rows if r["model"] != self.embedder.name or r["vector"] is None]
        if not stale:
            return
        texts = [content_text(r["title"], r["overview"], r["genres"], r["moods"]) for r in stale]
        matrix = await asyncio.to_thread(self.embedder.embed, texts)
        async with self.pool.connection() as conn, conn.transaction():
            for row, vector in zip(stale, matrix, strict=True):
                row["vector"], row["model"] = encode_real_array(vector), self.embedder.name
                await conn.execute(
                    """INSERT INTO content.embeddings (content_id, model, dim, vector)
                       VALUES (%s, %s, %s, %s)
                       ON CONFLICT (content_id) DO UPDATE
                          SET model = excluded.model, dim = excluded.dim,
                              vector = excluded.vector, updated_at = now()""",
                    (row["id"], self.embedder.name, len(vector), RealArray(vector)),
                )

    def _upsert(self, rows: Sequence[DictRow]) -> None:
        points = [
            models.PointStruct(
                id=str(row["id"]),
                vector=vector_list(row["vector"], row["id"]),
                payload=payload(row),
            )
            for row in rows
        ]
        if points:
            with self.lock:
                self.client.upsert(self.collection, points=points, wait=True)

    async def index(self, content_ids: Sequence[str]) -> int:
        """Upsert the points of these titles; returns how many were written."""
        if not content_ids:
            return 0
        rows = await self._rows("c.id = ANY(%s::uuid[])", (list(content_ids),))
        await self._embed_missing(rows)
        await asyncio.to_thread(self._upsert, rows)
        return len(rows)

    async def rebuild(self, page: int = 256) -> int:
        """Re-create every point from the database (for an index that starts empty)."""
        total, after = 0, "00000000-0000-0000-0000-000000000000"
        while True:
            rows = await self._rows("c.id > %s::uuid", (after,), limit=page)
            if not rows:
                return total
            await self._embed_missing(rows)
            await asyncio.to_thread(self._upsert, rows)
            total += len(rows)
            after = str(rows[-1]["id"])

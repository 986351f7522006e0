"""SQL of the SONA service: catalogue reads, interactions, user vectors, preferences and the
item-similarity table. Every function takes a connection; transactions belong to the caller."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from psycopg import AsyncConnection
from psycopg.rows import DictRow

from mediagw.common.real_array import decode_real_array
from mediagw.sona.catalogue import CatalogueItem, Vector
from mediagw.sona.engine import InteractionKind

Conn = AsyncConnection[DictRow]
LOCK_NAMESPACE = 0x50A  # pg_advisory_xact_lock(namespace, key): keys of the SONA service
SIMILARITY_LOCK = 1
POSITIVE_SQL = (
    "(kind IN ('complete', 'watchlist_add') OR (kind = 'rate' AND value >= 3.5)"
    " OR (kind = 'view' AND value >= 0.5))"
)


# --- catalogue -----------------------------------------------------------------------------

_CATALOGUE = """
SELECT e.content_id::text AS content_id, array_send(e.vector) AS vector, c.title, c.type,
       c.genres, c.moods, c.popularity, c.release_year,
       greatest(e.updated_at, c.updated_at) AS stamp
  FROM content.embeddings e
  JOIN content.content c ON c.id = e.content_id
 WHERE e.dim = %(dim)s
"""


@dataclass(frozen=True)
class CatalogueRow:
    item: CatalogueItem
    stamp: datetime


def _catalogue_rows(rows: Sequence[DictRow]) -> list[CatalogueRow]:
    result = []
    for row in rows:
        vector = decode_real_array(row["vector"])
        if vector is None:
            continue
        item = CatalogueItem(
            content_id=row["content_id"],
            vector=vector,
            title=row["title"],
            type=row["type"],
            genres=tuple(row["genres"]),
            moods=tuple(row["moods"]),
            popularity=float(row["popularity"]),
            release_year=row["release_year"],
        )
        result.append(CatalogueRow(item, row["stamp"]))
    return result


async def catalogue_rows(
    conn: Conn, dim: int, content_ids: Sequence[str] | None = None
) -> list[CatalogueRow]:
    """Titles with an embedding of ``dim`` (only ``content_ids`` if given)."""
    query = _CATALOGUE
    params: dict[str, Any] = {"dim": dim}
    if content_ids is not None:
        query += " AND e.content_id = ANY(%(ids)s::uuid[])"
        params["ids"] = list(content_ids)
    cursor = await conn.execute(query + " ORDER BY c.created_at, e.content_id", params, binary=True)
    return _catalogue_rows(await cursor.fetchall())


async def catalogue_stamps(conn: Conn, dim: int, since: datetime) -> list[tuple[str, datetime]]:
    """(content id, last change) of titles changed after ``since`` — no vectors."""
    cursor = await conn.execute(
        """
        SELECT e.content_id::text AS content_id, greatest(e.updated_at, c.updated_at) AS stamp
          FROM content.embeddings e
          JOIN content.content c ON c.id = e.content_id
         WHERE e.dim = %(dim)s AND (e.updated_at > %(since)s OR c.updated_at > %(since)s)
        """,
        {"dim": dim, "since": since},
    )
    return [(row["content_id"], row["stamp"]) for row in await cursor.fetchall()]


async def embedding_count(conn: Conn, dim: int) -> int:
    cursor = await conn.execute(
        "SELECT count(*) AS n FROM content.embeddings WHERE dim = %s", (dim,)
    )
    row = await cursor.fetchone()
    return int(row["n"]) if row else 0


async def item_vector(conn: Conn, content_id: str, dim: int) -> Vector | None:
    cursor = await conn.execute(
        "SELECT array_send(vector) AS vector FROM content.embeddings"
        " WHERE content_id = %s AND dim = %s",
        (content_id, dim),
        binary=True,
    )
    row = await cursor.fetchone()
    vector = decode_real_array(row["vector"]) if row else None
    if vector is None:
        return None
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


async def content_title(conn: Conn, content_id: str) -> str | None:
    cursor = await conn.execute("SELECT title FROM content.content WHERE id = %s", (content_id,))
    row = await cursor.fetchone()
    return str(row["title"]) if row else None


# --- interactions and profiles ---------------------------------------------------------------


async def lock_user(conn: Conn, user_id: str) -> None:
    """Serialise profile updates of one user (held until the transaction ends)."""
    await conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (LOCK_NAMESPACE, user_id))


async def insert_interaction(
    conn: Conn,
    *,
    event_id: uuid.UUID | None,
    user_id: str,
    content_id: str,
    kind: InteractionKind,
    value: float | None,
    occurred_at: datetime,
) -> str | None:
    """The new row's event id, or None when ``event_id`` was recorded before."""
    cursor = await conn.execute(
        """
        INSERT INTO sona.interactions (event_id, user_id, content_id, kind, value, occurred_at)
        VALUES (coalesce(%s, gen_random_uuid()), %s, %s, %s, %s, %s)
        ON CONFLICT (event_id) DO NOTHING
        RETURNING event_id::text AS event_id
        """,
        (event_id, user_id, content_id, kind, value, occurred_at),
    )
    row = await cursor.fetchone()
    return str(row["event_id"]) if row else None


async def interaction_by_event(conn: Conn, event_id: uuid.UUID) -> DictRow | None:
    cursor = await conn.execute(
        """
        SELECT user_id::text AS user_id, content_id::text AS content_id, kind, value
          FROM sona.interactions WHERE event_id = %s
        """,
        (event_id,),
    )
    return await cursor.fetchone()


async def user_vector(conn: Conn, user_id: str) -> DictRow | None:
    cursor = await conn.execute(
        "SELECT vector, interaction_count FROM sona.user_vectors WHERE user_id = %s", (user_id,)
    )
    return await cursor.fetchone()


async def save_user_vector(
    conn: Conn, user_id: str, vector: Vector, model_version: str, interaction_count: int
) -> None:
    await conn.execute(
        """
        INSERT INTO sona.user_vectors (user_id, vector, model_version, interaction_count)
        VALUES (%s, %s::real[], %s, %s)
        ON CONFLICT (user_id) DO UPDATE
           SET vector = EXCLUDED.vector, model_version = EXCLUDED.model_version,
               interaction_count = EXCLUDED.interaction_count, updated_at = now()
        """,
        (user_id, vector.tolist(), model_version, interaction_count),
    )


async def recent_interactions(conn: Conn, user_id: str, limit: int) -> list[DictRow]:
    """The user's latest ``limit`` interactions, oldest first."""
    cursor = await conn.execute(
        """
        SELECT content_id::text AS content_id, kind, value, occurred_at
          FROM sona.interactions WHERE user_id = %s
         ORDER BY occurred_at DESC, id DESC LIMIT %s
        """,
        (user_id, limit),
    )
    rows = await cursor.fetchall()
    rows.reverse()
    return rows


# --- preferences ---------------------------------------------------------------------------


async def preferences(conn: Conn, user_id: str) -> DictRow | None:
    cursor = await conn.execute(
        "SELECT genres, moods, platforms, updated_at FROM users.preferences WHERE user_id = %s",
        (user_id,),
    )
    return await cursor.fetchone()


async def save_preferences(
    conn: Conn, user_id: str, genres: Sequence[str], moods: Sequence[str], platforms: Sequence[str]
) -> datetime:
    cursor = await conn.execute(
        """
        INSERT INTO users.preferences (user_id, genres, moods, platforms)
        VALUES (%s, %s, %s, %s)
        ON CONFLICT (user_id) DO UPDATE
           SET genres = EXCLUDED.genres, moods = EXCLUDED.moods,
               platforms = EXCLUDED.platforms, updated_at = now()
        RETURNING updated_at
        """,
        (user_id, list(genres), list(moods), list(platforms)),
    )
    row = await cursor.fetchone()
    assert row is not None  # INSERT … RETURNING always returns the row
    updated: datetime = row["updated_at"]
    return updated


async def known_platforms(conn: Conn) -> set[str]:
    cursor = await conn.execute("SELECT id FROM content.platforms")
    return {str(row["id"]) for row in await cursor.fetchall()}


# --- item similarity -----------------------------------------------------------------------


async def interactions_watermark(conn: Conn) -> int:
    cursor = await conn.execute("SELECT coalesce(max(id), 0) AS id FROM sona.interactions")
    row = await cursor.fetchone()
    return int(row["id"]) if row else 0


async def positive_pairs(conn: Conn, items_per_user: int) -> list[tuple[str, str]]:
    """(user id, content id) of positive interactions, the latest ``items_per_user`` titles
    per user."""
    cursor = await conn.execute(
        f"""
        SELECT user_id::text AS user_id, content_id::text AS content_id FROM (
            SELECT user_id, content_id,
                   row_number() OVER (PARTITION BY user_id ORDER BY max(occurred_at) DESC) AS rn
              FROM sona.interactions
             WHERE {POSITIVE_SQL}
             GROUP BY user_id, content_id
        ) AS liked
         WHERE rn <= %s
         ORDER BY user_id
        """,  # noqa: S608 — POSITIVE_SQL is a constant of this module
        (items_per_user,),
    )
    return [(row["user_id"], row["content_id"]) for row in await cursor.fetchall()]


async def try_lock_similarity(conn: Conn) -> bool:
    cursor = await conn.execute(
        "SELECT pg_try_advisory_xact_lock(%s, %s) AS locked", (LOCK_NAMESPACE, SIMILARITY_LOCK)
    )
    row = await cursor.fetchone()
    return bool(row and row["locked"])


async def replace_similarity(
    conn: Conn, rows: Sequence[tuple[str, str, float]], model_version: str
) -> None:
    await conn.execute("DELETE FROM sona.item_similarity")
    async with conn.cursor().copy(
        "COPY sona.item_similarity (content_id, neighbour_id, score, model_version) FROM STDIN"
    ) as copy:
        for source, target, score in rows:
            await copy.write_row((source, target, score, model_version))


async def similarity_stamp(conn: Conn) -> tuple[datetime | None, int, str | None]:
    """When the table was last written, its size and the model version written with it."""
    cursor = await conn.execute(
        "SELECT max(updated_at) AS at, count(*) AS n, max(model_version) AS model"
        " FROM sona.item_similarity"
    )
    row = await cursor.fetchone()
    return (row["at"], int(row["n"]), row["model"]) if row else (None, 0, None)


async def similarity_rows(conn: Conn) -> list[tuple[str, str, float]]:
    cursor = await conn.execute(
        """
        SELECT content_id::text AS a, neighbour_id::text AS b, score
          FROM sona.item_similarity ORDER BY content_id, score DESC, neighbour_id
        """
    )
    return [(row["a"], row["b"], float(row["score"])) for row in await cursor.fetchall()]

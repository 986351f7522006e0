"""PostgreSQL access for playback.progress and playback.history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import DictRow

from mediagw.playback.rules import ProgressRow

Conn = AsyncConnection[DictRow]


async def write_progress(
    conn: Conn,
    *,
    user_id: str,
    content_id: str,
    position: int,
    duration: int,
    completed: bool,
    device_id: str,
    session_id: str,
) -> datetime:
    cursor = await conn.execute(
        """
        INSERT INTO playback.progress AS p (user_id, content_id, position_seconds,
               duration_seconds, completed, device_id, session_id, updated_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, clock_timestamp())
        ON CONFLICT (user_id, content_id) DO UPDATE SET
            position_seconds = excluded.position_seconds,
            duration_seconds = excluded.duration_seconds,
            completed = excluded.completed,
            device_id = excluded.device_id,
            session_id = excluded.session_id,
            updated_at = excluded.updated_at
        RETURNING updated_at
        """,
        (user_id, content_id, position, duration, completed, device_id, session_id),
    )
    row = await cursor.fetchone()
    assert row is not None
    updated_at: datetime = row["updated_at"]
    return updated_at


async def progress_of(conn: Conn, user_id: str, content_id: str) -> dict[str, Any] | None:
    cursor = await conn.execute(
        "SELECT position_seconds, duration_seconds, completed FROM playback.progress"
        " WHERE user_id = %s AND content_id = %s",
        (user_id, content_id),
    )
    return await cursor.fetchone()


async def in_progress(
    conn: Conn, user_id: str, min_ratio: float, max_ratio: float, limit: int
) -> list[ProgressRow]:
    cursor = await conn.execute(
        """
        SELECT content_id::text, position_seconds, duration_seconds, completed, device_id,
               updated_at
          FROM playback.progress
         WHERE user_id = %s AND NOT completed
           AND position_seconds > %s * duration_seconds
           AND position_seconds < %s * duration_seconds
         ORDER BY updated_at DESC, content_id DESC
         LIMIT %s
        """,
        (user_id, min_ratio, max_ratio, limit),
    )
    return [ProgressRow(**row) for row in await cursor.fetchall()]


async def add_history(
    conn: Conn,
    *,
    session_id: str,
    user_id: str,
    content_id: str,
    device_id: str,
    platform: str | None,
    started_at: datetime,
    position: int,
    duration: int,
    completed: bool,
) -> None:
    await conn.execute(
        """
        INSERT INTO playback.history (session_id, user_id, content_id, device_id, platform,
               started_at, ended_at, position_seconds, duration_seconds, completed)
        VALUES (%s, %s, %s, %s, %s, %s, greatest(clock_timestamp(), %s), %s, %s, %s)
        ON CONFLICT (session_id) DO NOTHING
        """,
        (
            session_id, user_id, content_id, device_id, platform, started_at, started_at,
            position, duration, completed,
        ),
    )  # fmt: skip


async def history(
    conn: Conn, user_id: str, before: datetime | None, limit: int
) -> list[dict[str, Any]]:
    cursor = await conn.execute(
        """
        SELECT session_id::text, content_id::text, device_id, platform, started_at, ended_at,
               position_seconds, duration_seconds, completed
          FROM playback.history
         WHERE user_id = %s AND (%s::timestamptz IS NULL OR ended_at < %s::timestamptz)
         ORDER BY ended_at DESC NULLS LAST, id DESC
         LIMIT %s
        """,
        (user_id, before, before, limit),
    )
    return list(await cursor.fetchall())

"""PostgreSQL persistence of CRDT state: one transaction per batch of ops, deduplicated by op id.

Ops of one user are serialised with a transaction-scoped advisory lock, so op log sequence
numbers become visible in order (a device resuming from ``last_seen_seq`` cannot skip an op
that committed late). The CRDT rules run in SQL: a register row is replaced only by a higher
``(hlc_physical, hlc_logical, hlc_node, op_id)``; a tag's add and remove are each set once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from mediagw.common.storage import Pool
from mediagw.sync.crdt import HLC, Op
from mediagw.sync.protocol import op_from_json, op_to_json


@dataclass(frozen=True, slots=True)
class Applied:
    op: Op
    seq: int
    duplicate: bool


@dataclass(frozen=True, slots=True)
class LoggedOp:
    seq: int
    device_id: str | None
    op: Op
    received_at_ms: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    registers: dict[str, dict[str, Any]]
    sets: dict[str, dict[str, list[str]]]
    seq: int


_LWW = """
INSERT INTO sync.crdt_state AS s
    (user_id, key, value, tombstone, hlc_physical, hlc_logical, hlc_node, op_id)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (user_id, key) DO UPDATE SET
    value = EXCLUDED.value, tombstone = EXCLUDED.tombstone,
    hlc_physical = EXCLUDED.hlc_physical, hlc_logical = EXCLUDED.hlc_logical,
    hlc_node = EXCLUDED.hlc_node, op_id = EXCLUDED.op_id, updated_at = now()
WHERE (s.hlc_physical, s.hlc_logical, s.hlc_node COLLATE "C", s.op_id::text)
    < (EXCLUDED.hlc_physical, EXCLUDED.hlc_logical, EXCLUDED.hlc_node COLLATE "C",
       EXCLUDED.op_id::text)
"""
_ADD = """
INSERT INTO sync.or_set_tags AS t (user_id, set_name, element, tag,
    add_hlc_physical, add_hlc_logical, add_hlc_node, add_op_id)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (user_id, set_name, tag) DO UPDATE SET
    add_hlc_physical = EXCLUDED.add_hlc_physical, add_hlc_logical = EXCLUDED.add_hlc_logical,
    add_hlc_node = EXCLUDED.add_hlc_node, add_op_id = EXCLUDED.add_op_id, updated_at = now()
WHERE t.add_hlc_physical IS NULL
"""
_REMOVE = """
INSERT INTO sync.or_set_tags AS t (user_id, set_name, element, tag,
    remove_hlc_physical, remove_hlc_logical, remove_hlc_node, remove_op_id)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (user_id, set_name, tag) DO UPDATE SET
    remove_hlc_physical = EXCLUDED.remove_hlc_physical,
    remove_hlc_logical = EXCLUDED.remove_hlc_logical,
    remove_hlc_node = EXCLUDED.remove_hlc_node, remove_op_id = EXCLUDED.remove_op_id,
    updated_at = now()
WHERE t.remove_hlc_physical IS NULL
"""
_LIVE = """
SELECT set_name, element, tag::text AS tag FROM sync.or_set_tags
WHERE user_id = %s AND add_hlc_physical IS NOT NULL AND remove_hlc_physical IS NULL
"""


class SyncStore:
    def __init__(self, pool: Pool, log_length: int) -> None:
        self.pool = pool
        self.log_length = log_length

    async def apply(
        self, user_id: str, device_id: str | None, ops: list[Op], received_at_ms: int
    ) -> list[Applied]:
        """Persist ``ops`` in one transaction; returns each with its seq (old seq if dup)."""
        results: list[Applied] = []
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 8083))", (user_id,)
            )
            for op in ops:
                results.append(await self._apply_one(conn, user_id, device_id, op, received_at_ms))
            if any(not r.duplicate for r in results):
                await conn.execute(
                    """
                    DELETE FROM sync.op_log WHERE user_id = %s AND seq <= (
                        SELECT seq FROM sync.op_log WHERE user_id = %s
                        ORDER BY seq DESC OFFSET %s LIMIT 1)
                    """,
                    (user_id, user_id, self.log_length),
                )
        return results

    async def _apply_one(
        self,
        conn: AsyncConnection[DictRow],
        user_id: str,
        device_id: str | None,
        op: Op,
        received_at_ms: int,
    ) -> Applied:
        existing = await (
            await conn.execute(
                "SELECT seq, op FROM sync.op_log WHERE user_id = %s AND op_id = %s",
                (user_id, op.op_id),
            )
        ).fetchone()
        if existing is not None:
            return Applied(op_from_json(existing["op"]), int(existing["seq"]), duplicate=True)
        if op.kind == "or_remove" and not op.tags:
            rows = await (
                await conn.execute(
                    _LIVE + " AND set_name = %s AND element = %s ORDER BY tag",
                    (user_id, op.key, op.element),
                )
            ).fetchall()
            op = replace(op, tags=tuple(row["tag"] for row in rows))
        hlc = op.hlc
        if op.kind == "lww_set":
            value = None if op.value is None else Jsonb(op.value)
            await conn.execute(
                _LWW,
                (user_id, op.key, value, op.value is None, *_hlc(hlc), op.op_id),
            )
        else:
            sql = _ADD if op.kind == "or_add" else _REMOVE
            for tag in op.tags:
                await conn.execute(sql, (user_id, op.key, op.element, tag, *_hlc(hlc), op.op_id))
        body = op_to_json(op)
        body["received_at_ms"] = received_at_ms
        row = await (
            await conn.execute(
                """
                INSERT INTO sync.op_log (user_id, op_id, device_id, op_type, key, op,
                    hlc_physical, hlc_logical, hlc_node)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING seq
                """,
                (user_id, op.op_id, device_id, op.kind, op.key, Jsonb(body), *_hlc(hlc)),
            )
        ).fetchone()
        assert row is not None
        return Applied(op, int(row["seq"]), duplicate=False)

    async def snapshot(self, user_id: str) -> Snapshot:
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            regs = await (
                await conn.execute(
                    """
                    SELECT key, value, hlc_physical, hlc_logical, hlc_node, op_id::text AS op_id
                    FROM sync.crdt_state WHERE user_id = %s AND NOT tombstone ORDER BY key
                    """,
                    (user_id,),
                )
            ).fetchall()
            tags = await (
                await conn.execute(_LIVE + " ORDER BY set_name, element, tag", (user_id,))
            ).fetchall()
            seq_row = await (
                await conn.execute(
                    "SELECT coalesce(max(seq), 0) AS seq FROM sync.op_log WHERE user_id = %s",
                    (user_id,),
                )
            ).fetchone()
        registers = {
            r["key"]: {
                "value": r["value"],
                "hlc": HLC(r["hlc_physical"], r["hlc_logical"], r["hlc_node"]).to_json(),
                "op_id": r["op_id"],
            }
            for r in regs
        }
        sets: dict[str, dict[str, list[str]]] = {}
        for t in tags:
            sets.setdefault(t["set_name"], {}).setdefault(t["element"], []).append(t["tag"])
        return Snapshot(registers, sets, int(seq_row["seq"]) if seq_row else 0)

    async def ops_after(self, user_id: str, seq: int) -> list[LoggedOp]:
        async with self.pool.connection() as conn:
            rows = await (
                await conn.execute(
                    """
                    SELECT seq, device_id, op FROM sync.op_log
                    WHERE user_id = %s AND seq > %s ORDER BY seq LIMIT %s
                    """,
                    (user_id, seq, self.log_length),
                )
            ).fetchall()
        return [
            LoggedOp(
                int(r["seq"]),
                r["device_id"],
                op_from_json(r["op"]),
                int(r["op"].get("received_at_ms", 0)),
            )
            for r in rows
        ]

    async def watchlist(self, user_id: str) -> list[dict[str, Any]]:
        async with self.pool.connection() as conn:
            rows = await (
                await conn.execute(
                    """
                    SELECT element, min(add_hlc_physical) AS added_ms,
                        array_agg(tag::text ORDER BY tag) AS tags
                    FROM sync.or_set_tags
                    WHERE user_id = %s AND set_name = 'watchlist'
                        AND add_hlc_physical IS NOT NULL AND remove_hlc_physical IS NULL
                    GROUP BY element ORDER BY min(add_hlc_physical) DESC, element
                    """,
                    (user_id,),
                )
            ).fetchall()
        return [
            {"content_id": r["element"], "added_at_ms": int(r["added_ms"]), "tags": r["tags"]}
            for r in rows
        ]

    # --- devices (users.devices): the REST registry beside the CRDT state -----------------

    async def devices(self, user_id: str) -> list[dict[str, Any]]:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT id::text AS id, device_key, type, name, platform, created_at, last_seen_at"
                " FROM users.devices WHERE user_id = %s ORDER BY created_at, id",
                (user_id,),
            )
            return await cursor.fetchall()

    async def register_device(
        self, user_id: str, device_key: str, kind: str, name: str | None, platform: str | None
    ) -> dict[str, Any]:
        """Insert, or update the device already registered under ``device_key``; raises
        ``ForeignKeyViolation`` for a user that does not exist."""
        async with self.pool.connection() as conn:
            cursor = await conn.execute(
                """
                INSERT INTO users.devices (user_id, device_key, type, name, platform)
                VALUES (%s, %s, %s, %s, %s)
                ON CONFLICT (user_id, device_key) DO UPDATE SET type = EXCLUDED.type,
                    name = EXCLUDED.name, platform = EXCLUDED.platform, last_seen_at = now()
                RETURNING id::text AS id, device_key, type, name, platform, created_at,
                    last_seen_at
                """,
                (user_id, device_key, kind, name, platform),
            )
            row = await cursor.fetchone()
        if row is None:
            raise RuntimeError("INSERT … RETURNING gave no row")
        return row

    async def forget_device(self, device_id: str, user_id: str) -> bool:
        """Whether the user had that device."""
        async with self.pool.connection() as conn:
            cursor = await conn.execute(
                "DELETE FROM users.devices WHERE id = %s AND user_id = %s", (device_id, user_id)
            )
            return cursor.rowcount > 0


def _hlc(hlc: HLC) -> tuple[int, int, str]:
    return (hlc.physical, hlc.logical, hlc.node)

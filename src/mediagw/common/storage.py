"""Connections to PostgreSQL and Redis, opened in a service's lifespan and closed after."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Protocol

from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

Pool = AsyncConnectionPool[AsyncConnection[DictRow]]
"""An async PostgreSQL pool whose rows are dicts; connections are in autocommit mode, so
``async with conn.transaction()`` marks each transaction explicitly."""


POOL_WAIT_SECONDS = 5.0
"""How long a request waits for a pooled connection before its 503: well inside the gateway's
upstream timeout (10 s), so with PostgreSQL gone a user gets the service's clear
``dependency_unavailable`` rather than the gateway's 504 (measured in the fault matrix)."""

_POOLS: dict[str, list[Pool]] = {}
"""Open pools by service, for the saturation gauges (``mediagw.common.health``)."""


async def open_pool(url: str, *, service: str, min_size: int = 1, max_size: int = 10) -> Pool:
    pool = AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        connection_class=AsyncConnection[DictRow],
        kwargs={"row_factory": dict_row, "autocommit": True},
        timeout=POOL_WAIT_SECONDS,
    )
    await pool.open(wait=True, timeout=15)
    _POOLS[service] = [p for p in _POOLS.get(service, []) if not p.closed] + [pool]
    return pool


def pools_of(service: str) -> list[Pool]:
    """The service's open pools (normally one)."""
    return [p for p in _POOLS.get(service, []) if not p.closed]


def open_redis(url: str) -> Redis:
    return Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=5,
        socket_connect_timeout=2,  # a host that drops packets fails fast, not after 5 s each
        health_check_interval=30,
    )


class StoreSettings(Protocol):
    @property
    def postgres_url(self) -> str: ...
    @property
    def redis_url(self) -> str: ...


async def open_stores(
    stack: AsyncExitStack, settings: StoreSettings, service: str, *, pool_size: int
) -> tuple[Pool, Redis]:
    """What every service's lifespan opens first, each closed by ``stack`` when it unwinds
    (also when a later step of the start-up fails, so nothing is left open)."""
    pool = await open_pool(settings.postgres_url, service=service, max_size=pool_size)
    stack.push_async_callback(pool.close)
    redis = open_redis(settings.redis_url)
    stack.push_async_callback(redis.aclose)
    return pool, redis


PING_WAIT_SECONDS = 1.5
"""A readiness probe's wait for a connection: inside the probe's own 2 s budget, so with
PostgreSQL gone the probe reports the pool's error (and the gateway, probing the service within
the same budget, hears "postgres down" rather than timing out itself)."""


async def ping_postgres(pool: Pool) -> None:
    async with pool.connection(timeout=PING_WAIT_SECONDS) as conn:
        await conn.execute("SELECT 1")


async def ping_redis(redis: Redis) -> None:
    await redis.ping()


def storage_checks(
    pool: Pool, redis: Redis
) -> dict[str, tuple[Callable[[], Awaitable[None]], bool]]:
    """The readiness probes of the two stores most services need, both required."""

    async def postgres() -> None:
        await ping_postgres(pool)

    async def redis_probe() -> None:
        await ping_redis(redis)

    return {"postgres": (postgres, True), "redis": (redis_probe, True)}


__all__ = [
    "DictRow",
    "Pool",
    "open_pool",
    "open_redis",
    "ping_postgres",
    "ping_redis",
    "pools_of",
    "storage_checks",
]

"""One service app run in the test's own process, for the service suites.

The discovery, ingestion, playback and SONA suites each start their app the same way: settings
with a fresh secret on the test's database and Redis DB, the app's real lifespan (pools,
consumers, background tasks), an ``httpx`` client over ASGI, bearer tokens signed with the
app's own secret, and a scenario run under ``asyncio.run``. This module is that way, written
once; each suite keeps only what is its own (seed data, helpers that speak its API).

(Suites that need the service as a real process — sockets, signals, start-up refusals — use the
``service_processes`` fixture instead.)
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

import httpx
from starlette.applications import Starlette

from harness.isolation import IsolatedDatabase, RedisDatabase
from mediagw.common.settings import ServiceSettings, TokenSettings
from mediagw.common.tokens import TokenCodec

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)
WorldT = TypeVar("WorldT")


def settings_for(
    kind: type[SettingsT], database: IsolatedDatabase, redis_db: RedisDatabase, **values: Any
) -> SettingsT:
    """``kind`` on the test's database and Redis DB with a fresh secret; ``values`` add or
    override fields."""
    return kind(
        **{
            "JWT_SECRET": secrets.token_urlsafe(48),
            "env": "test",
            "postgres_url": database.url,
            "redis_url": redis_db.url,
            **values,
        }
    )


class Signer:
    """Bearer headers for any user, signed as the app's auth service would sign them."""

    def __init__(self, settings: TokenSettings) -> None:
        self.codec = TokenCodec(settings)

    def headers(self, user: str, scopes: tuple[str, ...] = ("read", "write")) -> dict[str, str]:
        token, _ = self.codec.issue(user, set(scopes))
        return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def app_client(
    app: Starlette, name: str, request_timeout: float = 5.0
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``app`` while its lifespan runs (started before the first request, shut
    down after the last, as under a server)."""
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=f"http://{name}",
            timeout=request_timeout,
        ) as client,
    ):
        yield client


def scenario_runner(
    start: Callable[..., AbstractAsyncContextManager[WorldT]],
) -> Callable[..., None]:
    """``run(scenario, **settings)``: ``start(**settings)`` gives a world, ``scenario(world)``
    runs inside it, all under one ``asyncio.run``."""

    def run(scenario: Callable[[WorldT], Awaitable[None]], **extra: Any) -> None:
        async def main() -> None:
            async with start(**extra) as world:
                await scenario(world)

        asyncio.run(main())

    return run

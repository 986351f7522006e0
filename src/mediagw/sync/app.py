"""The sync service's app factory (port 8083; mounted in-process by the all-in-one gateway)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from redis.asyncio import BlockingConnectionPool, Redis

from mediagw.common.app import create_service_app
from mediagw.common.health import Check
from mediagw.common.settings import load_settings
from mediagw.common.storage import open_pool, storage_checks
from mediagw.common.tokens import Authenticator, TokenCodec
from mediagw.sync.context import SyncContext
from mediagw.sync.routes import internal_router, router
from mediagw.sync.settings import SyncSettings
from mediagw.sync.ws import ws_router

SERVICE = "sync"


def create_app(settings: SyncSettings | None = None) -> FastAPI:
    settings = settings or load_settings(SyncSettings)
    codec = TokenCodec(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await open_pool(settings.postgres_url, service=SERVICE, max_size=20)
        # Every WebSocket authenticates (and re-checks revocation) through Redis: a blocking
        # pool makes a burst of connections wait for a connection instead of failing.
        redis = Redis.from_pool(
            BlockingConnectionPool.from_url(
                settings.redis_url,
                max_connections=256,
                timeout=5,
                decode_responses=True,
                socket_timeout=5,
                health_check_interval=30,
            )
        )
        authenticator = Authenticator(codec, redis)
        app.state.authenticator = authenticator
        state = SyncContext.build(settings, pool, redis, authenticator)
        app.state.sync = state
        state.hub.start()
        try:
            yield
        finally:
            await state.hub.stop()
            await pool.close()
            await redis.aclose()

    def checks(app: FastAPI) -> dict[str, tuple[Check, bool]]:
        state: SyncContext = app.state.sync
        return {**storage_checks(state.pool, state.redis)}

    return create_service_app(
        service=SERVICE,
        settings=settings,
        routers=[router, internal_router, ws_router],
        lifespan=lifespan,
        checks=checks,
        description="Cross-device sync: WebSocket sessions at /api/v1/sync/ws (versioned JSON "
        "messages: hello, op, ping, handoff → ack, op, state, presence, handoff, error, pong), "
        "CRDT state (HLC-ordered LWW registers, OR-set watchlist), presence and devices.",
    )

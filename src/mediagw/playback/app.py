"""The playback service's app factory (port 8086; mounted in-process by the all-in-one
gateway)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from mediagw.common.app import create_service_app
from mediagw.common.health import Check
from mediagw.common.settings import load_settings
from mediagw.common.storage import open_stores, storage_checks
from mediagw.common.tokens import Authenticator, TokenCodec
from mediagw.playback.catalogue import PostgresContentCatalog
from mediagw.playback.context import PlaybackContext
from mediagw.playback.publisher import SyncPublisher
from mediagw.playback.routes import router
from mediagw.playback.rules import CompletionRule
from mediagw.playback.sessions import SessionStore
from mediagw.playback.settings import PlaybackSettings

SERVICE = "playback"


def create_app(settings: PlaybackSettings | None = None) -> FastAPI:
    settings = settings or load_settings(PlaybackSettings)
    codec = TokenCodec(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            pool, redis = await open_stores(stack, settings, SERVICE, pool_size=20)
            publisher = SyncPublisher(settings.sync_url, settings.sync_timeout_seconds)
            stack.push_async_callback(publisher.aclose)
            app.state.authenticator = Authenticator(codec, redis)
            app.state.playback = PlaybackContext(
                settings=settings,
                pool=pool,
                redis=redis,
                catalog=PostgresContentCatalog(pool),
                sessions=SessionStore(
                    redis, settings.session_ttl_seconds, settings.session_tombstone_seconds
                ),
                publisher=publisher,
                rule=CompletionRule(
                    threshold=settings.completion_threshold,
                    credits_seconds=settings.credits_seconds,
                    min_ratio=settings.continue_min_ratio,
                ),
            )
            yield

    def checks(app: FastAPI) -> dict[str, tuple[Check, bool]]:
        state: PlaybackContext = app.state.playback
        probes = dict(storage_checks(state.pool, state.redis))
        if settings.sync_url:

            async def sync_probe() -> None:
                await state.publisher.ping()

            probes["sync"] = (sync_probe, False)
        return probes

    return create_service_app(
        service=SERVICE,
        settings=settings,
        routers=[router],
        lifespan=lifespan,
        checks=checks,
        description="Playback: sessions and heartbeats, progress, continue watching, history "
        "and platform deep links; progress is published to sync for the user's other devices.",
    )

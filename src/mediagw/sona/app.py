"""The SONA service's app factory (port 8082; mounted in-process by the all-in-one gateway)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from mediagw.common.app import create_service_app
from mediagw.common.health import Check
from mediagw.common.settings import load_settings
from mediagw.common.storage import open_stores, storage_checks
from mediagw.common.tokens import Authenticator, TokenCodec
from mediagw.sona.blas import limit_blas_threads
from mediagw.sona.context import SonaContext
from mediagw.sona.profiles import ProfileStore
from mediagw.sona.refresh import CatalogueLoader, SimilarityJob, every
from mediagw.sona.routes import internal_router, router
from mediagw.sona.settings import SonaSettings

SERVICE = "sona"
log = logging.getLogger("mediagw.sona")


async def _stop_tasks(state: SonaContext) -> None:
    for task in state.tasks:
        task.cancel()
    for task in state.tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


def create_app(settings: SonaSettings | None = None) -> FastAPI:
    settings = settings or load_settings(SonaSettings)
    codec = TokenCodec(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.blas_threads:
            limit_blas_threads(settings.blas_threads)
        async with AsyncExitStack() as stack:
            pool, redis = await open_stores(stack, settings, SERVICE, pool_size=20)
            app.state.authenticator = Authenticator(codec, redis)
            loader = CatalogueLoader(settings)
            state = SonaContext(
                settings=settings,
                pool=pool,
                redis=redis,
                loader=loader,
                similarity=SimilarityJob(settings, pool),
                profiles=ProfileStore(settings, pool, redis, lambda: loader.snapshot),
            )
            app.state.sona = state
            stack.push_async_callback(_stop_tasks, state)  # before the stores close
            try:
                async with pool.connection() as conn:
                    count = await loader.load(conn)
                log.info("sona: %d titles loaded", count)
            except Exception as exc:  # noqa: BLE001 — start anyway; the refresher retries
                problem = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                log.warning("sona: catalogue not loaded at start-up (%s); retrying", problem)
            state.tasks = [
                asyncio.create_task(
                    every(
                        settings.item_refresh_seconds,
                        state.refresh_catalogue,
                        "catalogue refresh",
                        first=False,
                    ),
                    name="sona-catalogue-refresh",
                ),
                asyncio.create_task(
                    every(
                        settings.similarity_refresh_seconds,
                        state.similarity.cycle,
                        "item similarity",
                        first=True,
                    ),
                    name="sona-item-similarity",
                ),
            ]
            yield

    def checks(app: FastAPI) -> dict[str, tuple[Check, bool]]:
        state: SonaContext = app.state.sona
        return {
            **storage_checks(state.pool, state.redis),
        }

    return create_service_app(
        service=SERVICE,
        settings=settings,
        routers=[router, internal_router],
        lifespan=lifespan,
        checks=checks,
        description="SONA personalisation: interactions, user profiles, recommendations and the "
        "re-ranking of search results (internal, for discovery).",
    )

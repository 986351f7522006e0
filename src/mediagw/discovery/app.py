"""The discovery service's app factory (port 8081; mounted by the all-in-one gateway)."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from mediagw.common.app import create_service_app
from mediagw.common.health import Check
from mediagw.common.settings import load_settings
from mediagw.common.storage import storage_checks
from mediagw.common.tokens import TokenCodec
from mediagw.discovery import routes
from mediagw.discovery.context import DiscoveryContext
from mediagw.discovery.settings import DiscoverySettings
from mediagw.discovery.startup import SERVICE, lifespan


def create_app(settings: DiscoverySettings | None = None) -> FastAPI:
    settings = settings or load_settings(DiscoverySettings)
    return create_service_app(
        service=SERVICE,
        settings=settings,
        routers=[routes.router],
        lifespan=lifespan(settings, TokenCodec(settings)),
        checks=_checks,
        description="Natural-language search (vector + full-text, fused, personalised by SONA), "
        "autocomplete, content details with availability and deep links, similar titles.",
    )


def _checks(app: FastAPI) -> dict[str, tuple[Check, bool]]:
    """SONA is optional: without it, search still answers, only unpersonalised."""
    context: DiscoveryContext = app.state.discovery

    async def qdrant() -> None:
        if context.sync is not None and not context.sync.loaded.is_set():
            raise ConnectionError("the embedded index is still loading from PostgreSQL")
        name = context.settings.qdrant_collection
        if not await asyncio.to_thread(context.qdrant.collection_exists, name):
            raise ConnectionError(f"collection {name!r} does not exist")

    return {
        **storage_checks(context.pool, context.redis),
        "qdrant": (qdrant, True),
        "sona": (context.sona.ready, False),
    }

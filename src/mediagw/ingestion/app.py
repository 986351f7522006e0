"""The ingestion service's app factory."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from mediagw.common.app import create_service_app
from mediagw.common.health import Check
from mediagw.common.settings import load_settings
from mediagw.common.storage import storage_checks
from mediagw.common.tokens import TokenCodec
from mediagw.ingestion import routes
from mediagw.ingestion.context import IngestionContext
from mediagw.ingestion.settings import IngestionSettings
from mediagw.ingestion.startup import SERVICE, lifespan


def create_app(settings: IngestionSettings | None = None) -> FastAPI:
    settings = settings or load_settings(IngestionSettings)
    return create_service_app(
        service=SERVICE,
        settings=settings,
        routers=[routes.router],
        lifespan=lifespan(settings, TokenCodec(settings)),
        checks=_checks,
        description="Platform feeds → normalised, de-duplicated catalogue entries with "
        "availability, embeddings and vector index, and Kafka events through a transactional "
        "outbox.",
    )


def _checks(app: FastAPI) -> dict[str, tuple[Check, bool]]:
    """Kafka is required: every change leaves the service as an event through the outbox."""
    context: IngestionContext = app.state.ingestion

    async def kafka() -> None:
        await asyncio.to_thread(context.admin.ping, 1.5)

    async def qdrant() -> None:
        await asyncio.to_thread(
            context.qdrant.collection_exists, context.settings.qdrant_collection
        )

    return {
        **storage_checks(context.pool, context.redis),
        "kafka": (kafka, True),
        "qdrant": (qdrant, False),
    }

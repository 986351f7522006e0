"""Everything a request handler of the ingestion service needs, built once per process."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from qdrant_client import QdrantClient
from redis.asyncio import Redis

from mediagw.common.errors import ApiError
from mediagw.common.storage import Pool
from mediagw.ingestion.producer import EventProducer, TopicAdmin, Topics
from mediagw.ingestion.relay import OutboxRelay
from mediagw.ingestion.runner import Ingestion, RunExecutor
from mediagw.ingestion.settings import IngestionSettings
from mediagw.ingestion.store import Platform, load_platforms, read_platforms_file, upsert_platforms

log = logging.getLogger("mediagw.ingestion")


@dataclass
class IngestionContext:
    settings: IngestionSettings
    pool: Pool
    redis: Redis
    qdrant: QdrantClient
    admin: TopicAdmin
    producer: EventProducer
    relay: OutboxRelay
    topics: Topics
    ingestion: Ingestion
    executor: RunExecutor
    platforms: dict[str, Platform] = field(default_factory=dict)
    _platforms_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def sync_platforms(self) -> None:
        """Upsert ``platforms.json`` (beside the feeds directory) when present, then cache the
        table."""
        async with self._platforms_lock, self.pool.connection() as conn:
            path = self.settings.platforms_file
            if path is not None:
                platforms = await asyncio.to_thread(read_platforms_file, path)
                async with conn.transaction():
                    await upsert_platforms(conn, platforms)
            self.platforms = await load_platforms(conn)

    async def platform(self, platform_id: str) -> Platform:
        """The platform, or a 404 naming the field (platforms.json is re-read once first):
        which platforms exist is configuration, not the request's shape."""
        if platform_id not in self.platforms:
            await self.sync_platforms()
        if platform_id not in self.platforms:
            raise ApiError(
                404,
                "unknown_platform",
                f"unknown platform {platform_id!r}; known: {', '.join(sorted(self.platforms))}",
                field="platform",
            )
        return self.platforms[platform_id]


# async: FastAPI would run a plain `def` dependency in a worker thread, a hop per request.
async def _context(request: Request) -> IngestionContext:
    context: IngestionContext = request.app.state.ingestion
    return context


Ctx = Annotated[IngestionContext, Depends(_context)]

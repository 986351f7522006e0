"""Everything a request handler of the discovery service needs, built once per process."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from qdrant_client import QdrantClient
from redis.asyncio import Redis

from mediagw.common.storage import Pool
from mediagw.discovery.cache import SearchCache
from mediagw.discovery.index import EmbeddedIndexSync, VectorIndex
from mediagw.discovery.search import SearchEngine
from mediagw.discovery.settings import DiscoverySettings
from mediagw.discovery.sona_client import SonaClient

T = TypeVar("T")
LISTING_TTL_SECONDS = 30.0


@dataclass
class DiscoveryContext:
    settings: DiscoverySettings
    pool: Pool
    redis: Redis
    qdrant: QdrantClient
    index: VectorIndex
    cache: SearchCache
    sona: SonaClient
    engine: SearchEngine
    trigram_schema: str
    sync: EmbeddedIndexSync | None = None
    _listings: dict[str, tuple[float, Any]] = field(default_factory=dict)

    async def listing(self, name: str, load: Callable[[], Awaitable[T]]) -> T:
        """A small catalogue listing (platforms, genres), reloaded at most every 30 s."""
        cached = self._listings.get(name)
        if cached is not None and time.monotonic() - cached[0] < LISTING_TTL_SECONDS:
            value: T = cached[1]
            return value
        value = await load()
        self._listings[name] = (time.monotonic(), value)
        return value


def _context(request: Request) -> DiscoveryContext:
    context: DiscoveryContext = request.app.state.discovery
    return context


Ctx = Annotated[DiscoveryContext, Depends(_context)]

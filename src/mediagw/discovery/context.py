"""Everything a request handler of the discovery service needs, built once per process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from qdrant_client import QdrantClient
from redis.asyncio import Redis

from mediagw.common.storage import Pool
from mediagw.discovery.cache import SearchCache
from mediagw.discovery.catalogue_cache import CatalogueCache
from mediagw.discovery.index import EmbeddedIndexSync, VectorIndex
from mediagw.discovery.search import SearchEngine
from mediagw.discovery.settings import DiscoverySettings
from mediagw.discovery.sona_client import SonaClient


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
    rendered: CatalogueCache[bytes]
    sync: EmbeddedIndexSync | None = None


# async: FastAPI would run a plain `def` dependency in a worker thread, a hop per request.
async def _context(request: Request) -> DiscoveryContext:
    context: DiscoveryContext = request.app.state.discovery
    return context


Ctx = Annotated[DiscoveryContext, Depends(_context)]

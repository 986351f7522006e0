"""The discovery service's lifespan, one named step per resource.

Everything opened is pushed on one exit stack as it opens, so it closes in reverse order: the
background jobs stop first, then the SONA client, the Qdrant client, Redis and PostgreSQL. A
step that fails half-way through start-up closes what the earlier steps opened.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from qdrant_client import QdrantClient

from mediagw.common.embedding import Embedder, get_embedder
from mediagw.common.startup import Lifespan, open_vector_store
from mediagw.common.storage import Pool, open_stores
from mediagw.common.tokens import Authenticator, TokenCodec
from mediagw.common.vectors import embedded_lock, is_embedded
from mediagw.discovery import store
from mediagw.discovery.cache import InvalidationConsumer, SearchCache
from mediagw.discovery.catalogue_cache import CatalogueCache, follow_version
from mediagw.discovery.context import DiscoveryContext
from mediagw.discovery.index import EmbeddedIndexSync, VectorIndex
from mediagw.discovery.search import SearchEngine, Vocabulary
from mediagw.discovery.settings import DiscoverySettings
from mediagw.discovery.sona_client import SonaClient

SERVICE = "discovery"
log = logging.getLogger("mediagw.discovery")


def lifespan(settings: DiscoverySettings, codec: TokenCodec) -> Lifespan:
    """Bound to the factory's settings and codec, so each app built has its own."""

    @asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        # The model loads before any connection opens: a slow or failing load holds none.
        embedder = await asyncio.to_thread(
            get_embedder, settings.embedder, settings.embedding_cache_dir
        )
        async with AsyncExitStack() as stack:
            await _start(app, stack, settings, codec, embedder)
            yield

    return run


async def _start(
    app: FastAPI,
    stack: AsyncExitStack,
    settings: DiscoverySettings,
    codec: TokenCodec,
    embedder: Embedder,
) -> None:
    """Open, in dependency order, what the handlers reach through ``app.state``."""
    pool, redis = await open_stores(stack, settings, SERVICE, pool_size=20)
    qdrant = open_vector_store(stack, settings.qdrant_url)
    async with pool.connection() as conn:
        trigram_schema = await store.trigram_schema(conn)
    sona = SonaClient(settings.sona_url, settings.sona_timeout_seconds)
    stack.push_async_callback(sona.aclose)
    cache = SearchCache(redis, settings.search_cache_ttl_seconds)
    index = await _open_index(settings, qdrant, embedder.dim)
    jobs = BackgroundJobs()
    stack.push_async_callback(jobs.stop)  # last pushed: stopped before any connection closes
    engine = SearchEngine(
        settings=settings,
        pool=pool,
        index=index,
        embedder=embedder,
        cache=cache,
        sona=sona,
        vocabulary=Vocabulary(pool),
        kept_hits=_kept("hits", settings),
    )
    sync = None
    if is_embedded(settings.qdrant_url):
        sync = _start_index_sync(jobs, settings, pool, index, embedder, cache)
    if settings.kafka_bootstrap:
        app.state.cache_consumer = _start_cache_invalidation(
            jobs, settings.kafka_bootstrap, settings, cache
        )
    rendered: CatalogueCache[bytes] = _kept("rendered", settings)
    caches: list[CatalogueCache[Any]] = [engine.kept_hits, rendered]
    every = settings.catalogue_check_seconds
    jobs.spawn("catalogue-caches", follow_version(caches, cache.version, every, jobs.stopping))
    app.state.authenticator = Authenticator(codec, redis)
    app.state.discovery = DiscoveryContext(
        settings=settings,
        pool=pool,
        redis=redis,
        qdrant=qdrant,
        index=index,
        cache=cache,
        sona=sona,
        engine=engine,
        trigram_schema=trigram_schema,
        rendered=rendered,
        sync=sync,
    )


def _kept(name: str, settings: DiscoverySettings) -> CatalogueCache[Any]:
    """A per-process catalogue cache (emptied by the one version follower, see ``_start``)."""
    entries, ttl = settings.catalogue_cache_entries, settings.catalogue_cache_ttl_seconds
    return CatalogueCache(name, entries, ttl)


async def _open_index(settings: DiscoverySettings, qdrant: QdrantClient, dim: int) -> VectorIndex:
    """The collection is made sure of before the first search can need it; calls into the
    shared embedded engine are serialised with the process-wide lock (a server needs none)."""
    lock = embedded_lock(settings.qdrant_url) if is_embedded(settings.qdrant_url) else None
    index = VectorIndex(
        qdrant, settings.qdrant_collection, overfetch=settings.embedded_overfetch, lock=lock
    )
    await asyncio.to_thread(index.ensure, dim)
    return index


def _start_index_sync(
    jobs: BackgroundJobs,
    settings: DiscoverySettings,
    pool: Pool,
    index: VectorIndex,
    embedder: Embedder,
    cache: SearchCache,
) -> EmbeddedIndexSync:
    """An embedded engine starts empty and no ingestion writes into it from outside the
    process: it is filled, and kept up, from PostgreSQL; cached results go stale on a change."""
    sync = EmbeddedIndexSync(
        pool,
        index,
        model=embedder.name,
        dim=embedder.dim,
        interval=settings.index_sync_interval_seconds,
        on_change=functools.partial(cache.bump, "index"),
    )
    jobs.spawn("index-sync", sync.run(jobs.stopping))
    return sync


def _start_cache_invalidation(
    jobs: BackgroundJobs, bootstrap: str, settings: DiscoverySettings, cache: SearchCache
) -> InvalidationConsumer:
    """Catalogue events from Kafka invalidate cached results as soon as ingestion changes
    something, rather than when their TTL runs out."""
    consumer = InvalidationConsumer(
        bootstrap,
        settings.topics,
        settings.kafka_group_id,
        cache,
        settings.kafka_session_timeout_ms,
    )
    jobs.spawn("cache-invalidation", consumer.run(jobs.stopping))
    return consumer


class BackgroundJobs:
    """Jobs that end on their own within one poll once told to, so stopping waits for them
    rather than cancelling them half-way through a write."""

    def __init__(self) -> None:
        self.stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def spawn(self, name: str, job: Coroutine[Any, Any, None]) -> None:
        self._tasks.append(asyncio.create_task(_logged(name, job)))

    async def stop(self) -> None:
        self.stopping.set()
        await asyncio.gather(*self._tasks)


async def _logged(name: str, job: Coroutine[Any, Any, None]) -> None:
    try:
        await job
    except Exception:  # a background job's failure is logged, not lost
        log.exception("discovery background task %s stopped with an error", name)

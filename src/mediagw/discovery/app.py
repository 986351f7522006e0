"""The discovery service's app factory (port 8081; mounted by the all-in-one gateway)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI

from mediagw.common.app import create_service_app
from mediagw.common.embedding import get_embedder
from mediagw.common.health import Check
from mediagw.common.settings import load_settings
from mediagw.common.storage import open_stores, storage_checks
from mediagw.common.tokens import Authenticator, TokenCodec
from mediagw.common.vectors import embedded_lock, is_embedded, open_qdrant
from mediagw.discovery import routes, store
from mediagw.discovery.cache import InvalidationConsumer, SearchCache
from mediagw.discovery.context import DiscoveryContext
from mediagw.discovery.index import EmbeddedIndexSync, VectorIndex
from mediagw.discovery.search import SearchEngine, Vocabulary
from mediagw.discovery.settings import DiscoverySettings
from mediagw.discovery.sona_client import SonaClient

SERVICE = "discovery"
log = logging.getLogger("mediagw.discovery")


async def _logged(name: str, job: Coroutine[Any, Any, None]) -> None:
    try:
        await job
    except Exception:  # a background job's failure is logged, not lost
        log.exception("discovery background task %s stopped with an error", name)


def create_app(settings: DiscoverySettings | None = None) -> FastAPI:
    settings = settings or load_settings(DiscoverySettings)
    codec = TokenCodec(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        embedder = await asyncio.to_thread(
            get_embedder, settings.embedder, settings.embedding_cache_dir
        )
        embedded = is_embedded(settings.qdrant_url)
        async with AsyncExitStack() as stack:
            pool, redis = await open_stores(stack, settings, SERVICE, pool_size=20)
            qdrant = open_qdrant(settings.qdrant_url)
            if not embedded:  # the embedded engine is shared by the process; never closed here
                stack.callback(qdrant.close)
            async with pool.connection() as conn:
                trigram_schema = await store.trigram_schema(conn)
            sona = SonaClient(settings.sona_url, settings.sona_timeout_seconds)
            stack.push_async_callback(sona.aclose)
            cache = SearchCache(redis, settings.search_cache_ttl_seconds)
            index = VectorIndex(
                qdrant,
                settings.qdrant_collection,
                overfetch=settings.embedded_overfetch,
                lock=embedded_lock(settings.qdrant_url) if embedded else None,
            )
            await asyncio.to_thread(index.ensure, embedder.dim)
            engine = SearchEngine(
                settings=settings,
                pool=pool,
                index=index,
                embedder=embedder,
                cache=cache,
                sona=sona,
                vocabulary=Vocabulary(pool),
            )
            stop = asyncio.Event()
            jobs: list[asyncio.Task[None]] = []
            sync = None
            if embedded:

                async def invalidate() -> None:
                    await cache.bump("index")

                sync = EmbeddedIndexSync(
                    pool,
                    index,
                    model=embedder.name,
                    dim=embedder.dim,
                    interval=settings.index_sync_interval_seconds,
                    on_change=invalidate,
                )
                jobs.append(asyncio.create_task(_logged("index-sync", sync.run(stop))))
            if settings.kafka_bootstrap:
                consumer = InvalidationConsumer(
                    settings.kafka_bootstrap,
                    settings.topics,
                    settings.kafka_group_id,
                    cache,
                    settings.kafka_session_timeout_ms,
                )
                app.state.cache_consumer = consumer
                jobs.append(asyncio.create_task(_logged("cache-invalidation", consumer.run(stop))))
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
                sync=sync,
            )
            try:
                yield
            finally:
                stop.set()  # background jobs end within one poll; then connections close
                await asyncio.gather(*jobs)

    def checks(app: FastAPI) -> dict[str, tuple[Check, bool]]:
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

    return create_service_app(
        service=SERVICE,
        settings=settings,
        routers=[routes.router],
        lifespan=lifespan,
        checks=checks,
        description="Natural-language search (vector + full-text, fused, personalised by SONA), "
        "autocomplete, content details with availability and deep links, similar titles.",
    )

"""The ingestion service's app factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import psycopg
from confluent_kafka import KafkaException
from fastapi import FastAPI

from mediagw.common.app import create_service_app
from mediagw.common.embedding import get_embedder
from mediagw.common.health import Check
from mediagw.common.settings import load_settings
from mediagw.common.storage import open_stores, storage_checks
from mediagw.common.tokens import Authenticator, TokenCodec
from mediagw.common.vectors import embedded_lock, ensure_collection, is_embedded, open_qdrant
from mediagw.ingestion import routes
from mediagw.ingestion.context import IngestionContext
from mediagw.ingestion.indexer import Indexer
from mediagw.ingestion.producer import EventProducer, TopicAdmin, Topics
from mediagw.ingestion.relay import OutboxRelay
from mediagw.ingestion.runner import Ingestion, RunExecutor
from mediagw.ingestion.settings import IngestionSettings

SERVICE = "ingestion"
log = logging.getLogger("mediagw.ingestion")


def create_app(settings: IngestionSettings | None = None) -> FastAPI:
    settings = settings or load_settings(IngestionSettings)
    codec = TokenCodec(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            pool, redis = await open_stores(stack, settings, SERVICE, pool_size=10)
            app.state.authenticator = Authenticator(codec, redis)

            embedder = await asyncio.to_thread(
                get_embedder, settings.embedder, settings.embedding_cache_dir
            )
            qdrant = open_qdrant(settings.qdrant_url)
            if not is_embedded(settings.qdrant_url):  # the embedded engine is shared
                stack.callback(qdrant.close)
            created = await asyncio.to_thread(
                ensure_collection,
                qdrant,
                settings.qdrant_collection,
                embedder.dim,
                indexed=not is_embedded(settings.qdrant_url),
            )

            topics = Topics(settings.kafka_topic_prefix)
            admin = TopicAdmin(
                settings.kafka_bootstrap,
                partitions=settings.kafka_topic_partitions,
                replication_factor=settings.kafka_replication_factor,
            )
            producer = EventProducer(
                settings.kafka_bootstrap, message_timeout_ms=settings.kafka_message_timeout_ms
            )
            stack.callback(producer.close)
            relay = OutboxRelay(
                pool,
                producer,
                admin,
                topics,
                batch_size=settings.outbox_batch_size,
                poll_interval=settings.outbox_poll_interval_seconds,
                base_backoff=settings.outbox_base_backoff_seconds,
                max_backoff=settings.outbox_max_backoff_seconds,
            )
            try:  # topics at start-up; if the broker is away, the relay creates them later
                await asyncio.to_thread(admin.ensure, topics.names)
                relay.topics_checked = True
            except KafkaException as exc:
                log.warning("kafka topics not checked at start-up (%s); the relay will", exc)
            relay.start()
            stack.push_async_callback(relay.stop)

            lock = (
                embedded_lock(settings.qdrant_url)
                if is_embedded(settings.qdrant_url)
                else contextlib.nullcontext()
            )
            indexer = Indexer(pool, qdrant, settings.qdrant_collection, embedder, lock)
            ingestion = Ingestion(
                pool=pool,
                embedder=embedder,
                indexer=indexer,
                relay=relay,
                topics=topics,
                batch_size=settings.ingest_batch_size,
            )
            executor = RunExecutor(ingestion, settings.max_concurrent_runs)
            stack.push_async_callback(executor.shutdown)
            context = IngestionContext(
                settings=settings,
                pool=pool,
                redis=redis,
                qdrant=qdrant,
                admin=admin,
                producer=producer,
                relay=relay,
                topics=topics,
                ingestion=ingestion,
                executor=executor,
            )
            try:  # a database not migrated yet must not stop the process: runs retry it
                await context.sync_platforms()
            except psycopg.Error as exc:
                log.warning("platforms not loaded at start-up: %s", str(exc).splitlines()[0])
            app.state.ingestion = context
            if created:  # a new (e.g. in-memory) collection: fill it from the database
                rebuild = asyncio.create_task(_rebuild(indexer), name="ingestion-index-rebuild")
                stack.push_async_callback(_cancel, rebuild)
            yield

    def checks(app: FastAPI) -> dict[str, tuple[Check, bool]]:
        context: IngestionContext = app.state.ingestion

        async def kafka() -> None:
            await asyncio.to_thread(context.admin.ping, 1.5)

        async def qdrant() -> None:
            await asyncio.to_thread(context.qdrant.collection_exists, settings.qdrant_collection)

        return {
            **storage_checks(context.pool, context.redis),
            "kafka": (kafka, True),
            "qdrant": (qdrant, False),
        }

    return create_service_app(
        service=SERVICE,
        settings=settings,
        routers=[routes.router],
        lifespan=lifespan,
        checks=checks,
        description="Platform feeds → normalised, de-duplicated catalogue entries with "
        "availability, embeddings and vector index, and Kafka events through a transactional "
        "outbox.",
    )


async def _rebuild(indexer: Indexer) -> None:
    try:
        count = await indexer.rebuild()
    except Exception:
        log.exception("rebuilding the vector index from the database failed")
        return
    if count:
        log.info("vector index rebuilt from the database: %d titles", count)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

"""The ingestion service's lifespan, one named step per resource.

Everything opened is pushed on one exit stack as it opens, so it closes in reverse order: the
index rebuild is cancelled first, then running ingestion runs are shut down, the outbox relay
stops, the Kafka producer closes, then the Qdrant client, Redis and PostgreSQL. A step that
fails half-way through start-up closes what the earlier steps opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import psycopg
from confluent_kafka import KafkaException
from fastapi import FastAPI
from qdrant_client import QdrantClient
from redis.asyncio import Redis

from mediagw.common.embedding import Embedder, get_embedder
from mediagw.common.startup import Lifespan, open_vector_store
from mediagw.common.storage import Pool, open_stores
from mediagw.common.tokens import Authenticator, TokenCodec
from mediagw.common.vectors import embedded_lock, ensure_collection, is_embedded
from mediagw.ingestion.context import IngestionContext
from mediagw.ingestion.indexer import Indexer
from mediagw.ingestion.producer import EventProducer, TopicAdmin, Topics
from mediagw.ingestion.relay import OutboxRelay
from mediagw.ingestion.runner import Ingestion, RunExecutor
from mediagw.ingestion.settings import IngestionSettings

SERVICE = "ingestion"
log = logging.getLogger("mediagw.ingestion")


def lifespan(settings: IngestionSettings, codec: TokenCodec) -> Lifespan:
    """Bound to the factory's settings and codec, so each app built has its own."""

    @asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            await _start(app, stack, settings, codec)
            yield

    return run


async def _start(
    app: FastAPI, stack: AsyncExitStack, settings: IngestionSettings, codec: TokenCodec
) -> None:
    """Open, in dependency order, what the handlers reach through ``app.state``."""
    pool, redis = await open_stores(stack, settings, SERVICE, pool_size=10)
    app.state.authenticator = Authenticator(codec, redis)
    embedder = await asyncio.to_thread(
        get_embedder, settings.embedder, settings.embedding_cache_dir
    )
    qdrant = open_vector_store(stack, settings.qdrant_url)
    created = await asyncio.to_thread(
        ensure_collection,
        qdrant,
        settings.qdrant_collection,
        embedder.dim,
        indexed=not is_embedded(settings.qdrant_url),  # the embedded engine has no such indexes
    )
    relay = await _start_relay(stack, settings, pool)
    indexer = Indexer(pool, qdrant, settings.qdrant_collection, embedder, _index_lock(settings))
    context = _build_context(stack, settings, pool, redis, qdrant, embedder, indexer, relay)
    await _load_platforms(context)
    app.state.ingestion = context
    if created:  # a new (e.g. in-memory) collection: fill it from the database
        _rebuild_in_background(stack, indexer)


async def _start_relay(
    stack: AsyncExitStack, settings: IngestionSettings, pool: Pool
) -> OutboxRelay:
    """Events leave only through the outbox, so the relay runs for the whole life of the
    service; it stops before the producer it sends with is closed."""
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
    await _ensure_topics(relay)
    relay.start()
    stack.push_async_callback(relay.stop)
    return relay


async def _ensure_topics(relay: OutboxRelay) -> None:
    """Topics are created at start-up when the broker is there; when it is away the service
    starts anyway and the relay creates them before its first send."""
    try:
        await asyncio.to_thread(relay.admin.ensure, relay.topics.names)
        relay.topics_checked = True
    except KafkaException as exc:
        log.warning("kafka topics not checked at start-up (%s); the relay will", exc)


def _index_lock(settings: IngestionSettings) -> threading.Lock | contextlib.nullcontext[None]:
    """Calls into the shared embedded engine are serialised process-wide; a server needs none."""
    if is_embedded(settings.qdrant_url):
        return embedded_lock(settings.qdrant_url)
    return contextlib.nullcontext()


def _build_context(
    stack: AsyncExitStack,
    settings: IngestionSettings,
    pool: Pool,
    redis: Redis,
    qdrant: QdrantClient,
    embedder: Embedder,
    indexer: Indexer,
    relay: OutboxRelay,
) -> IngestionContext:
    """The executor is pushed on the stack last of the long-lived parts, so runs in flight are
    cancelled, and awaited, before the relay, Qdrant and the pool they write through close."""
    ingestion = Ingestion(
        pool=pool,
        embedder=embedder,
        indexer=indexer,
        relay=relay,
        topics=relay.topics,
        batch_size=settings.ingest_batch_size,
    )
    executor = RunExecutor(ingestion, settings.max_concurrent_runs)
    stack.push_async_callback(executor.shutdown)
    return IngestionContext(
        settings=settings,
        pool=pool,
        redis=redis,
        qdrant=qdrant,
        admin=relay.admin,
        producer=relay.producer,
        relay=relay,
        topics=relay.topics,
        ingestion=ingestion,
        executor=executor,
    )


async def _load_platforms(context: IngestionContext) -> None:
    """A database not migrated yet must not stop the process: runs load the platforms again."""
    try:
        await context.sync_platforms()
    except psycopg.Error as exc:
        log.warning("platforms not loaded at start-up: %s", str(exc).splitlines()[0])


def _rebuild_in_background(stack: AsyncExitStack, indexer: Indexer) -> None:
    """Readiness does not wait for a full rebuild; shutting down does not wait for it either."""
    rebuild = asyncio.create_task(_rebuild(indexer), name="ingestion-index-rebuild")
    stack.push_async_callback(_cancel, rebuild)


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

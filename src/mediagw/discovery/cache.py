"""The search cache in Redis, and its invalidation from Kafka content events.

``search:cache:{sha256}`` holds one page of a search's *fused* result (ids and scores in
relevance order, before personalisation — so one entry serves every user) for
``search_cache_ttl_seconds``. The hash covers the normalised query, the filters, the region,
the page, the embedder and the current value of the version counter ``search:cache:version``.
Bumping the counter therefore retires every entry at once (they expire unread). It is bumped
by a Kafka consumer (group ``discovery-cache``; topics ``content.updated``,
``availability.changed``, ``content.ingested``) when ``MG_KAFKA_BOOTSTRAP`` is set, and by the
embedded index upkeep when it sees the catalogue change.

A Redis failure never fails a search: it counts as ``search_cache_total{result="error"}`` and
the search runs uncached.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from mediagw.discovery.metrics import CACHE_INVALIDATIONS, CACHE_RESULTS, EVENTS_CONSUMED

log = logging.getLogger("mediagw.discovery.cache")

CACHE_PREFIX = "search:cache:"
VERSION_KEY = "search:cache:version"


@dataclass(frozen=True)
class CachedPage:
    ids: list[str]
    scores: list[float]
    total: int


class SearchCache:
    def __init__(self, redis: Redis, ttl_seconds: int) -> None:
        self.redis = redis
        self.ttl = ttl_seconds

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    async def version(self) -> str | None:
        """The current version, or None when Redis does not answer (then: no caching)."""
        try:
            value = await self.redis.get(VERSION_KEY)
        except (RedisError, OSError) as exc:
            log.warning("search cache unavailable: %s", exc)
            return None
        return str(value) if value is not None else "0"

    @staticmethod
    def key(version: str, request: dict[str, Any]) -> str:
        material = json.dumps({"version": version, **request}, sort_keys=True, ensure_ascii=False)
        return CACHE_PREFIX + hashlib.sha256(material.encode()).hexdigest()

    async def get(self, key: str) -> CachedPage | None:
        try:
            raw = await self.redis.get(key)
        except (RedisError, OSError) as exc:
            log.warning("search cache read failed: %s", exc)
            CACHE_RESULTS.labels("error").inc()
            return None
        if raw is None:
            CACHE_RESULTS.labels("miss").inc()
            return None
        try:
            data = json.loads(raw)
            page = CachedPage(
                ids=[str(i) for i in data["ids"]],
                scores=[float(s) for s in data["scores"]],
                total=int(data["total"]),
            )
        except (ValueError, KeyError, TypeError):
            CACHE_RESULTS.labels("miss").inc()
            return None
        CACHE_RESULTS.labels("hit").inc()
        return page

    async def put(self, key: str, page: CachedPage) -> None:
        value = json.dumps({"ids": page.ids, "scores": page.scores, "total": page.total})
        try:
            await self.redis.set(key, value, ex=self.ttl)
        except (RedisError, OSError) as exc:
            log.warning("search cache write failed: %s", exc)

    async def bump(self, source: str) -> None:
        """Retire every cached search (the version is part of each key)."""
        try:
            await self.redis.incr(VERSION_KEY)
        except (RedisError, OSError) as exc:
            log.warning("could not invalidate the search cache: %s", exc)
            return
        CACHE_INVALIDATIONS.labels(source).inc()


class InvalidationConsumer:
    """Reads content events and bumps the cache version once per batch of events.

    confluent-kafka's consumer blocks, so each poll runs in a worker thread; the loop ends when
    ``stop`` is set (within one poll timeout) and then closes the consumer, which leaves the
    group cleanly. Never cancel the task: set ``stop`` and await it.
    """

    POLL_SECONDS = 0.5

    def __init__(
        self,
        bootstrap: str,
        topics: list[str],
        group_id: str,
        cache: SearchCache,
        session_timeout_ms: int = 6000,
    ) -> None:
        self.topics = topics
        self.cache = cache
        self.config = {
            "bootstrap.servers": bootstrap,
            "group.id": group_id,
            "auto.offset.reset": "latest",
            "enable.auto.commit": True,
            "session.timeout.ms": session_timeout_ms,
            "heartbeat.interval.ms": max(100, session_timeout_ms // 3),
            "error_cb": self._error,
        }
        self.assigned = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def _error(self, error: Any) -> None:
        log.warning("kafka (cache invalidation): %s", error)

    def _on_assign(self, _consumer: Any, partitions: list[Any]) -> None:
        if partitions and self._loop is not None:
            self._loop.call_soon_threadsafe(self.assigned.set)

    async def run(self, stop: asyncio.Event) -> None:
        from confluent_kafka import Consumer, KafkaError  # noqa: PLC0415 — only when configured

        self._loop = asyncio.get_running_loop()
        consumer = Consumer(self.config)
        try:
            consumer.subscribe(self.topics, on_assign=self._on_assign)
            while not stop.is_set():
                messages = await asyncio.to_thread(
                    consumer.consume, num_messages=500, timeout=self.POLL_SECONDS
                )
                events = 0
                for message in messages:
                    error = message.error()
                    if error is None:
                        events += 1
                    elif error.code() != KafkaError._PARTITION_EOF:
                        log.warning("kafka (cache invalidation): %s", error)
                if events:
                    EVENTS_CONSUMED.inc(events)
                    await self.cache.bump("kafka")
        finally:
            await asyncio.to_thread(consumer.close)

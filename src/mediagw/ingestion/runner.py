"""Ingestion runs: a feed through normalisation, resolution, storage, indexing and events.

A run is a background task of the service. Items are taken in batches: the batch is embedded
in one call off the event loop, then each item is stored in its own transaction (content,
ids, availability, embedding, outbox events), then the batch's points are upserted in Qdrant
and the run's counters saved. An invalid item is counted as failed with its reason and the run
goes on; a feed that cannot be read, or a backend that fails, fails the run with the error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from mediagw.common.embedding import Embedder
from mediagw.common.storage import Pool
from mediagw.ingestion.adapters import FeedError, PlatformAdapter
from mediagw.ingestion.indexer import Indexer
from mediagw.ingestion.metrics import ITEMS, RUN_SECONDS, RUNS, UNKNOWN_GENRES
from mediagw.ingestion.normalise import InvalidItem, NormalisedItem, normalise_item
from mediagw.ingestion.producer import Topics
from mediagw.ingestion.relay import OutboxRelay
from mediagw.ingestion.resolve import ContentState, merge
from mediagw.ingestion.store import Platform, StoreContext, Vectors, store_item

log = logging.getLogger("mediagw.ingestion.runs")

MAX_FAILURES_KEPT = 5
ITEM_DATA_ERRORS = (psycopg.errors.IntegrityError, psycopg.errors.DataError)
"""Database refusals caused by one item's data: the item fails, the run goes on."""


@dataclass
class RunStats:
    fetched: int = 0
    new: int = 0
    updated: int = 0
    merged: int = 0
    unchanged: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)

    def fail(self, where: str, reason: str) -> None:
        self.failed += 1
        if len(self.failures) < MAX_FAILURES_KEPT:
            self.failures.append(f"{where}: {reason}")

    def summary(self) -> str | None:
        if not self.failed:
            return None
        more = self.failed - len(self.failures)
        text = f"{self.failed} item(s) failed: " + "; ".join(self.failures)
        return (text + (f"; and {more} more" if more > 0 else ""))[:2000]


@dataclass
class Ingestion:
    """What a run needs; shared by every run of the service."""

    pool: Pool
    embedder: Embedder
    indexer: Indexer
    relay: OutboxRelay
    topics: Topics
    batch_size: int


async def _predict_vectors(
    ingestion: Ingestion, conn: Any, platform: str, items: Sequence[NormalisedItem]
) -> Vectors:
    """Embed, in one batch, the text each item will most likely end up with.

    Items seen before (same platform id) whose text and vector would not change need none;
    the others are embedded with the text their merge would give. The item transaction embeds
    on its own only when resolution found something this prediction could not.
    """
    cursor = await conn.execute(
        """SELECT x.platform_id, c.*, e.model AS embedding_model
             FROM content.external_ids x
             JOIN content.content c ON c.id = x.content_id
             LEFT JOIN content.embeddings e ON e.content_id = c.id
            WHERE x.platform = %s AND x.platform_id = ANY(%s)""",
        (platform, [i.platform_id for i in items]),
    )
    known = {row["platform_id"]: row for row in await cursor.fetchall()}
    texts: list[str] = []
    for item in items:
        row = known.get(item.platform_id)
        if row is None:
            texts.append(ContentState.from_item(item).text)
            continue
        existing = ContentState.from_row(row)
        merged, _ = merge(existing, item)
        if merged.text != existing.text or row["embedding_model"] != ingestion.embedder.name:
            texts.append(merged.text)
    texts = list(dict.fromkeys(texts))
    if not texts:
        return {}
    matrix = await asyncio.to_thread(ingestion.embedder.embed, texts)
    return dict(zip(texts, matrix, strict=True))


async def _save_counts(pool: Pool, run_id: str, stats: RunStats) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            """UPDATE ingestion.runs
                  SET fetched_count = %s, new_count = %s, updated_count = %s, merged_count = %s,
                      failed_count = %s, updated_at = now()
                WHERE id = %s""",
            (stats.fetched, stats.new, stats.updated, stats.merged, stats.failed, run_id),
        )


async def _store_batch(
    ingestion: Ingestion,
    ctx: StoreContext,
    batch: list[tuple[int, NormalisedItem]],
    stats: RunStats,
) -> None:
    platform = ctx.platform.id
    stored: list[str] = []
    async with ingestion.pool.connection() as conn:
        vectors = await _predict_vectors(ingestion, conn, platform, [i for _, i in batch])
        # Pipeline mode: the writes an item makes without reading their result go out
        # together instead of one round trip each (most of a seeding's time was waiting).
        async with conn.pipeline():
            for index, item in batch:
                try:
                    async with conn.transaction():
                        outcome = await store_item(conn, item, ctx, vectors)
                except ITEM_DATA_ERRORS as exc:
                    reason = str(exc).splitlines()[0][:300]
                    stats.fail(f"#{index} {item.platform_id}", f"database refused: {reason}")
                    ITEMS.labels(platform, "failed").inc()
                    log.warning("run %s: item #%d refused: %s", ctx.run_id, index, reason)
                    continue
                setattr(stats, outcome.result, getattr(stats, outcome.result) + 1)
                ITEMS.labels(platform, outcome.result).inc()
                stored.append(outcome.content_id)
    ingestion.relay.wake()
    # Every stored title's point, changed or not: a run repairs an index that missed an
    # earlier upsert (the database is the source of truth; an upsert is idempotent).
    await ingestion.indexer.index(list(dict.fromkeys(stored)))


async def ingest(
    ingestion: Ingestion, run_id: str, platform: Platform, adapter: PlatformAdapter
) -> RunStats:
    """Read, normalise, resolve, store and index a whole feed; the run's counts."""
    stats = RunStats()
    ctx = StoreContext(run_id, platform, ingestion.embedder, ingestion.topics)
    batch: list[tuple[int, NormalisedItem]] = []
    try:
        async for raw in adapter.items():
            index = stats.fetched
            stats.fetched += 1
            try:
                item = normalise_item(raw, platform.id)
            except InvalidItem as exc:
                raw_id = raw.get("id", raw.get("asset_id")) if isinstance(raw, dict) else None
                stats.fail(f"#{index}" + (f" {raw_id}" if raw_id else ""), exc.reason)
                ITEMS.labels(platform.id, "failed").inc()
                continue
            if item.dropped_genres:
                UNKNOWN_GENRES.labels(platform.id).inc(len(item.dropped_genres))
            batch.append((index, item))
            if len(batch) >= ingestion.batch_size:
                await _store_batch(ingestion, ctx, batch, stats)
                await _save_counts(ingestion.pool, run_id, stats)
                batch = []
        if batch:
            await _store_batch(ingestion, ctx, batch, stats)
    finally:
        await _save_counts(ingestion.pool, run_id, stats)
        await ingestion.relay.refresh_gauges()
    return stats


class RunExecutor:
    """Runs ingestion runs as background tasks, a bounded number at a time."""

    def __init__(self, ingestion: Ingestion, max_concurrent: int) -> None:
        self.ingestion = ingestion
        self._slots = asyncio.Semaphore(max_concurrent)
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, run_id: str, platform: Platform, adapter: PlatformAdapter) -> None:
        task = asyncio.create_task(self._execute(run_id, platform, adapter), name=f"run-{run_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_idle(self) -> None:
        """Until every submitted run has finished (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.wait_idle()

    async def _mark(self, run_id: str, status: str, error: str | None) -> None:
        async with self.ingestion.pool.connection() as conn:
            if status == "running":
                await conn.execute(
                    "UPDATE ingestion.runs SET status = 'running', started_at = now(), "
                    "updated_at = now() WHERE id = %s",
                    (run_id,),
                )
                return
            await conn.execute(
                """UPDATE ingestion.runs
                      SET status = %s, error = %s, finished_at = now(), updated_at = now(),
                          started_at = coalesce(started_at, now())
                    WHERE id = %s""",
                (status, error, run_id),
            )

    async def _execute(self, run_id: str, platform: Platform, adapter: PlatformAdapter) -> None:
        started = time.monotonic()
        status, error, stats = "failed", None, None
        try:
            async with self._slots:
                await self._mark(run_id, "running", None)
                log.info("run %s: %s from %s started", run_id, platform.id, adapter.source)
                stats = await ingest(self.ingestion, run_id, platform, adapter)
                status, error = "succeeded", stats.summary()
        except asyncio.CancelledError:
            error = "interrupted: the service stopped during the run"
            raise
        except FeedError as exc:
            error = str(exc)[:2000]
        except Exception as exc:
            log.exception("run %s failed", run_id)
            error = f"{type(exc).__name__}: {exc}"[:2000]
        finally:
            try:
                await asyncio.shield(self._mark(run_id, status, error))
            except Exception:  # the database is gone too; the log says it
                log.exception("run %s: could not record its end (%s)", run_id, status)
            RUNS.labels(platform.id, status).inc()
            RUN_SECONDS.labels(platform.id).observe(time.monotonic() - started)
            log.info("run %s: %s (%s)", run_id, status, error or "no error")

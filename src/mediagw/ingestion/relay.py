"""The transactional outbox: events are written with the rows they describe, then relayed.

Ingestion inserts each event into ``ingestion.outbox`` in the transaction that changes the
catalogue, so an event is never lost and never emitted for a rolled-back change. The relay, a
background task of the service, claims unsent rows in order (``FOR UPDATE SKIP LOCKED``, so
several relays share the work), produces them with the idempotent producer, and on each
delivery report

- delivered → ``sent_at`` is set (and the run's ``events_sent`` counted);
- retriable failure (broker down, timed out, unknown topic …) → ``attempts``, ``last_error``
  and ``next_attempt_at`` (exponential backoff with full jitter) are recorded; the relay also
  waits that long before claiming again, so rows are retried in their original order;
- non-retriable failure (invalid payload, message too large, not authorised) →
  ``last_error`` is recorded, ``next_attempt_at`` becomes :data:`DEAD_LETTER` (9999-12-31: a
  dead letter, never retried; finite so every client library can read it), and
  ``kafka_events_failed_total`` counts it for alerting.

Claiming moves ``next_attempt_at`` past the delivery timeout (a lease): a relay that dies with
rows claimed leaves them to be retried after the lease. Delivery is therefore at least once;
consumers that deduplicate on ``event_id`` see every event exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaException
from psycopg.rows import DictRow
from pydantic import ValidationError

from mediagw.common.events import Event
from mediagw.common.storage import Pool
from mediagw.ingestion.metrics import EVENTS_FAILED, OUTBOX_DEAD, OUTBOX_PENDING, PRODUCE_RETRIES
from mediagw.ingestion.producer import (
    Delivery,
    EventProducer,
    Outgoing,
    TopicAdmin,
    Topics,
)

log = logging.getLogger("mediagw.ingestion.relay")

_CLAIM = """
WITH due AS (
    SELECT event_id FROM ingestion.outbox
     WHERE sent_at IS NULL AND next_attempt_at <= clock_timestamp()
     ORDER BY created_at, event_id
     LIMIT %(limit)s
     FOR UPDATE SKIP LOCKED
)
UPDATE ingestion.outbox o
   SET attempts = o.attempts + 1,
       next_attempt_at = clock_timestamp() + make_interval(secs => %(lease)s)
  FROM due
 WHERE o.event_id = due.event_id
RETURNING o.event_id, o.run_id, o.topic, o.event_type, o.key, o.payload, o.schema_version,
          o.occurred_at, o.created_at, o.attempts
"""
_MARK_SENT = """
UPDATE ingestion.outbox SET sent_at = clock_timestamp(), last_error = NULL
 WHERE event_id = ANY(%s::uuid[]) AND sent_at IS NULL
RETURNING run_id
"""
_COUNT_SENT = """
UPDATE ingestion.runs
   SET events_sent = events_sent + %(n)s, events_pending = greatest(events_pending - %(n)s, 0),
       updated_at = now()
 WHERE id = %(run_id)s
"""
DEAD_LETTER = "9999-12-31T00:00:00Z"
"""``next_attempt_at`` of an event that failed permanently: it is never claimed again."""
_RESCHEDULE = f"""
UPDATE ingestion.outbox o
   SET last_error = u.error,
       next_attempt_at = CASE WHEN u.delay IS NULL THEN '{DEAD_LETTER}'::timestamptz
                              ELSE clock_timestamp() + make_interval(secs => u.delay) END
  FROM unnest(%s::uuid[], %s::float8[], %s::text[]) AS u(event_id, delay, error)
 WHERE o.event_id = u.event_id AND o.sent_at IS NULL
"""  # noqa: S608 — a constant, no input
_COUNTS = f"""
SELECT count(*) FILTER (WHERE next_attempt_at < '{DEAD_LETTER}') AS pending,
       count(*) FILTER (WHERE next_attempt_at >= '{DEAD_LETTER}') AS dead
  FROM ingestion.outbox WHERE sent_at IS NULL
"""  # noqa: S608 — a constant, no input


def backoff(attempts: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base · 2^(attempts-1))]."""
    ceiling = min(cap, base * 2 ** max(0, min(attempts - 1, 30)))
    return (rng or random).uniform(0, ceiling)


def outgoing(row: DictRow) -> Outgoing | Delivery:
    """The message for an outbox row, or a permanent failure when it does not validate."""
    event_id, topic = str(row["event_id"]), str(row["topic"])
    try:
        event = Event(
            event_id=event_id,
            type=row["event_type"],
            occurred_at=row["occurred_at"],
            key=row["key"],
            payload=row["payload"],
            schema_version=row["schema_version"],
        )
        event.validate_payload()
    except ValidationError as exc:
        problem = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        return Delivery(event_id, topic, False, False, "invalid_event", problem[:500])
    return Outgoing(event_id, topic, event.key, event.model_dump_json().encode(), event.type)


class OutboxRelay:
    """Moves outbox rows to Kafka; one background task per service process."""

    def __init__(
        self,
        pool: Pool,
        producer: EventProducer,
        admin: TopicAdmin,
        topics: Topics,
        *,
        batch_size: int,
        poll_interval: float,
        base_backoff: float,
        max_backoff: float,
    ) -> None:
        self.pool = pool
        self.producer = producer
        self.admin = admin
        self.topics = topics
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.lease_seconds = producer.message_timeout_ms / 1000 + 30
        self.topics_checked = False
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._failures = 0
        self._gauges_at = 0.0

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="ingestion-outbox-relay")

    def wake(self) -> None:
        """New rows were committed: look now rather than at the next poll."""
        self._wake.set()

    async def stop(self, grace: float = 5.0) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is None:
            return
        done, _ = await asyncio.wait({self._task}, timeout=grace)
        if not done:  # blocked on deliveries to a broker that is away: give up on them
            await asyncio.to_thread(self.producer.purge)
            done, _ = await asyncio.wait({self._task}, timeout=grace)
        if not done:
            self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            backing_off = False
            try:
                if not self.topics_checked:
                    await self._check_topics()
                claimed, retry_in = await self.relay_once()
                if retry_in is not None:
                    delay, backing_off = retry_in, True
                else:
                    delay = 0.0 if claimed else self.poll_interval
            except KafkaException as exc:
                self._failures += 1
                delay, backing_off = (
                    backoff(self._failures, self.base_backoff, self.max_backoff),
                    True,
                )
                log.warning("kafka unavailable (%s); outbox relay retries in %.2f s", exc, delay)
            except Exception:  # the relay must outlive any one failure (PG restart, …)
                self._failures += 1
                delay, backing_off = (
                    backoff(self._failures, self.base_backoff, self.max_backoff),
                    True,
                )
                log.exception("outbox relay iteration failed; retrying in %.2f s", delay)
            self.producer.poll()  # librdkafka's log lines reach Python logging when served
            self.admin.poll()
            await self._refresh_gauges_if_due()
            if delay > 0:
                await self._sleep(delay, interruptible=not backing_off)

    async def _sleep(self, seconds: float, *, interruptible: bool) -> None:
        """Wait ``seconds``; new rows (wake) cut a poll short but never a backoff."""
        deadline = time.monotonic() + seconds
        while not self._stopping:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                await asyncio.wait_for(self._wake.wait(), remaining)
            except TimeoutError:
                return
            if interruptible:
                return
            self._wake.clear()

    async def _check_topics(self) -> None:
        created = await asyncio.to_thread(self.admin.ensure, self.topics.names)
        self.topics_checked = True
        if created and self._failures:
            # Topics vanished while deliveries failed: the broker lost its state, and with it
            # this producer's id. Start a fresh producer rather than fail on the old one.
            log.warning("kafka topics %s were missing; replacing the producer", created)
            await asyncio.to_thread(self.producer.reset)

    # --- one batch -------------------------------------------------------------------------

    async def relay_once(self) -> tuple[int, float | None]:
        """Claim, produce and record one batch; returns (rows claimed, seconds to back off
        before the next claim when some failed retriably, else None)."""
        rows = await self._claim()
        if not rows:
            return 0, None
        messages: list[Outgoing] = []
        results: list[Delivery] = []
        for row in rows:
            message = outgoing(row)
            if isinstance(message, Outgoing):
                messages.append(message)
            else:
                results.append(message)
        if messages:
            results.extend(await asyncio.to_thread(self.producer.send, messages))
        attempts = max(int(row["attempts"]) for row in rows)
        return len(rows), await self._record(results, attempts)

    async def _claim(self) -> list[DictRow]:
        async with self.pool.connection() as conn, conn.transaction():
            cursor = await conn.execute(
                _CLAIM, {"limit": self.batch_size, "lease": self.lease_seconds}
            )
            rows = await cursor.fetchall()
        return sorted(rows, key=lambda r: (r["created_at"], str(r["event_id"])))

    async def _record(self, results: Sequence[Delivery], attempts: int) -> float | None:
        sent = [r.event_id for r in results if r.delivered]
        retry = [r for r in results if not r.delivered and r.retriable]
        dead = [r for r in results if not r.delivered and not r.retriable]
        delay = backoff(attempts, self.base_backoff, self.max_backoff) if retry else None
        ids: list[str] = []
        delays: list[float | None] = []
        errors: list[str] = []
        for failure in retry:
            ids.append(failure.event_id)
            delays.append(delay)
            errors.append(f"{failure.reason}: {failure.error}"[:1000])
            PRODUCE_RETRIES.labels(failure.topic).inc()
        for failure in dead:
            ids.append(failure.event_id)
            delays.append(None)
            errors.append(f"{failure.reason}: {failure.error}"[:1000])
            EVENTS_FAILED.labels(failure.topic, failure.reason or "unknown").inc()
            log.error(
                "event %s on %s failed permanently (%s: %s); it stays in the outbox",
                failure.event_id,
                failure.topic,
                failure.reason,
                failure.error,
            )
        async with self.pool.connection() as conn, conn.transaction():
            if sent:
                cursor = await conn.execute(_MARK_SENT, (sent,))
                per_run = Counter(str(r["run_id"]) for r in await cursor.fetchall() if r["run_id"])
                for run_id in sorted(per_run):  # one order for every relay: no deadlock
                    await conn.execute(_COUNT_SENT, {"n": per_run[run_id], "run_id": run_id})
            if ids:
                await conn.execute(_RESCHEDULE, (ids, delays, errors))
        if retry:
            self._failures += 1
            if any(r.suspect_topics for r in retry):
                self.topics_checked = False
            reasons = Counter(r.reason for r in retry)
            log.warning(
                "%d event(s) not delivered (%s); retrying in %.2f s",
                len(retry),
                ", ".join(f"{k} x{n}" for k, n in reasons.items()),
                delay,
            )
        else:
            self._failures = 0
        if sent or ids:
            await self.refresh_gauges()
        return delay

    # --- gauges ----------------------------------------------------------------------------

    async def refresh_gauges(self) -> dict[str, Any]:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(_COUNTS)
            row = await cursor.fetchone()
        assert row is not None
        OUTBOX_PENDING.set(int(row["pending"]))
        OUTBOX_DEAD.set(int(row["dead"]))
        self._gauges_at = time.monotonic()
        return dict(row)

    async def _refresh_gauges_if_due(self) -> None:
        if time.monotonic() - self._gauges_at < self.poll_interval:
            return
        try:
            await self.refresh_gauges()
        except Exception:  # a gauge refresh must never stop the relay
            log.debug("outbox gauge refresh failed", exc_info=True)

"""The Kafka side: an idempotent ``acks=all`` producer, topic set-up, and the metrics of both.

The producer is used by the outbox relay only, from one thread at a time (every call here
blocks: run it with ``asyncio.to_thread``). librdkafka's own log lines go to Python logging
(``mediagw.ingestion.librdkafka``), never to stderr.

A fatal producer error (with idempotence on, e.g. ``UNKNOWN_PRODUCER_ID`` after a broker lost
its state) poisons the librdkafka handle for good: the producer is then replaced by a new one
and the affected events are retried from the outbox.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from mediagw.common.events import AVAILABILITY_CHANGED, CONTENT_INGESTED, CONTENT_UPDATED
from mediagw.ingestion.metrics import (
    DELIVERY_LATENCY,
    EVENTS_DELIVERED,
    EVENTS_SENT,
)

log = logging.getLogger("mediagw.ingestion.kafka")
librdkafka_log = logging.getLogger("mediagw.ingestion.librdkafka")

EVENT_TYPES = (CONTENT_INGESTED, CONTENT_UPDATED, AVAILABILITY_CHANGED)
"""The topics ingestion publishes (``user.interaction`` belongs to SONA)."""


PERMANENT_ERRORS = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.INVALID_MSG,
        KafkaError.INVALID_RECORD,
        KafkaError.RECORD_LIST_TOO_LARGE,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
        KafkaError.TOPIC_EXCEPTION,
        KafkaError.UNSUPPORTED_FOR_MESSAGE_FORMAT,
        KafkaError.INVALID_REQUIRED_ACKS,
        KafkaError._INVALID_ARG,
        KafkaError._KEY_SERIALIZATION,
        KafkaError._VALUE_SERIALIZATION,
    }
)
"""Errors a retry cannot fix: the event is recorded as failed and alerted on, not retried."""
STALE_PRODUCER_ERRORS = frozenset(
    {
        KafkaError.PRODUCER_FENCED,
        KafkaError.INVALID_PRODUCER_EPOCH,
        KafkaError.UNKNOWN_PRODUCER_ID,
        KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER,
        KafkaError.INVALID_PRODUCER_ID_MAPPING,
        KafkaError._FENCED,
    }
)
"""The broker no longer accepts this producer's id or epoch. librdkafka does not call these
fatal for an idempotent (non-transactional) producer, yet every retry on the same producer
fails the same way — seen after the tansu broker was paused for 30 s, when the relay retried
PRODUCER_FENCED forever and half an ingestion run's events never left the outbox. Only a new
producer (a new producer id) gets through."""


def needs_new_producer(error: KafkaError) -> bool:
    return bool(error.fatal()) or error.code() in STALE_PRODUCER_ERRORS


TOPIC_SUSPECT_ERRORS = frozenset(
    {
        KafkaError._UNKNOWN_TOPIC,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._UNKNOWN_PARTITION,
        KafkaError._MSG_TIMED_OUT,
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
    }
)
"""After these, check the topics exist before producing again (an in-memory broker that
restarted comes back without them)."""


@dataclass(frozen=True)
class Topics:
    """Topic names: the event type, behind an optional prefix (tests use unique prefixes)."""

    prefix: str = ""

    def name(self, event_type: str) -> str:
        return f"{self.prefix}{event_type}"

    @property
    def names(self) -> list[str]:
        return [self.name(t) for t in EVENT_TYPES]


@dataclass(frozen=True)
class Outgoing:
    """One event to produce: its outbox id, topic, key and serialised envelope."""

    event_id: str
    topic: str
    key: str
    value: bytes
    event_type: str


@dataclass(frozen=True)
class Delivery:
    """What became of one event: delivered, or failed (retriable or not) with a reason."""

    event_id: str
    topic: str
    delivered: bool
    retriable: bool = True
    reason: str | None = None
    error: str | None = None
    suspect_topics: bool = False


def _failure(message: Outgoing, error: KafkaError) -> Delivery:
    code = error.code()
    return Delivery(
        message.event_id,
        message.topic,
        delivered=False,
        retriable=error.fatal() or code not in PERMANENT_ERRORS,
        reason=error.name() or str(code),
        error=str(error.str())[:500],
        suspect_topics=code in TOPIC_SUSPECT_ERRORS,
    )


class EventProducer:
    """An idempotent producer that is replaced when librdkafka declares it dead, or the broker
    refuses its producer id (:func:`needs_new_producer`)."""

    def __init__(
        self, bootstrap: str, *, message_timeout_ms: int, client_id: str = "mediagw-ingestion"
    ) -> None:
        self.bootstrap = bootstrap
        self.message_timeout_ms = message_timeout_ms
        self.client_id = client_id
        self._fatal = threading.Event()
        self._producer = self._create()
        self.generation = 1
        """How many producers this one has been (each replacement after a fatal error adds 1)."""

    def _on_error(self, error: KafkaError) -> None:
        if needs_new_producer(error):
            self._fatal.set()
            log.error("kafka producer fatal error (it will be replaced): %s", error.str())
        elif error.code() == KafkaError._ALL_BROKERS_DOWN:
            log.warning("kafka producer: %s", error.str())
        else:  # connection refused and the like, every reconnect: the relay reports outcomes
            log.debug("kafka producer: %s", error.str())

    def _create(self) -> Any:
        self._fatal.clear()
        return Producer(
            {
                "bootstrap.servers": self.bootstrap,
                "client.id": self.client_id,
                "enable.idempotence": True,
                "acks": "all",
                "message.timeout.ms": self.message_timeout_ms,
                "allow.auto.create.topics": False,
                "linger.ms": 5,
                "reconnect.backoff.ms": 100,
                "reconnect.backoff.max.ms": 2000,
                "logger": librdkafka_log,
                "error_cb": self._on_error,
            }
        )

    def reset(self) -> None:
        """Replace the producer by a fresh one (new producer id); queued events are dropped."""
        self._replace()

    def _replace(self) -> None:
        old, self._producer = self._producer, None
        try:
            old.purge(in_queue=True, in_flight=True, blocking=False)
            old.flush(0)
        except (KafkaException, RuntimeError, SystemError) as exc:
            log.info("discarding the old kafka producer: %s", exc)
        del old
        self._producer = self._create()
        self.generation += 1
        log.warning("kafka producer replaced (generation %d)", self.generation)

    def send(self, messages: Sequence[Outgoing]) -> list[Delivery]:
        """Produce ``messages`` and wait for every delivery report (bounded by the message
        timeout). Blocking. Events with no report are returned as retriable failures."""
        reports: dict[str, Delivery] = {}
        started: dict[str, float] = {}
        acked: dict[str, float] = {}

        def reporter(message: Outgoing) -> Any:
            # Runs inside poll()/flush(): record and return, nothing that could raise.
            def on_delivery(error: KafkaError | None, _: Any) -> None:
                if error is None:
                    reports[message.event_id] = Delivery(message.event_id, message.topic, True)
                    acked[message.event_id] = time.monotonic()
                else:
                    reports[message.event_id] = _failure(message, error)
                    if needs_new_producer(error):
                        self._fatal.set()

            return on_delivery

        if self._fatal.is_set():
            self._replace()
        for message in messages:
            if self._fatal.is_set():
                break
            started[message.event_id] = time.monotonic()
            self._produce(message, reporter(message), reports)
        try:
            remaining = self._producer.flush(self.message_timeout_ms / 1000 + 10)
        except (KafkaException, RuntimeError, SystemError) as exc:
            # A fatal error surfaces from flush() (and may leave a Python error set while a
            # later callback runs); every event without a report is retried on a new producer.
            log.warning("kafka producer failed while flushing: %s", exc)
            self._fatal.set()
            remaining = -1
        if remaining:
            self._fatal.set()
        if self._fatal.is_set():
            self._replace()
        for message in messages:
            if message.event_id in acked:
                EVENTS_DELIVERED.labels(message.topic).inc()
                DELIVERY_LATENCY.observe(acked[message.event_id] - started[message.event_id])
        return [
            reports.get(m.event_id)
            or Delivery(m.event_id, m.topic, False, True, "no_delivery_report", "no report")
            for m in messages
        ]

    def _produce(self, message: Outgoing, callback: Any, reports: dict[str, Delivery]) -> None:
        for _ in range(50):
            try:
                self._producer.produce(
                    message.topic,
                    key=message.key.encode(),
                    value=message.value,
                    headers=[("event_id", message.event_id), ("event_type", message.event_type)],
                    on_delivery=callback,
                )
            except BufferError:  # the local queue is full: serve delivery reports, then retry
                self._producer.poll(0.1)
                continue
            except KafkaException as exc:
                error = exc.args[0]
                reports[message.event_id] = _failure(message, error)
                if needs_new_producer(error):
                    self._fatal.set()
                return
            EVENTS_SENT.labels(message.topic).inc()
            return
        reports[message.event_id] = Delivery(
            message.event_id, message.topic, False, True, "queue_full", "local queue full"
        )

    def poll(self) -> None:
        """Serve pending callbacks and librdkafka's log lines (non-blocking)."""
        try:
            self._producer.poll(0)
        except (KafkaException, RuntimeError, SystemError) as exc:
            self._fatal.set()
            log.warning("kafka producer failed while polling: %s", exc)

    def close(self, timeout: float = 5.0) -> int:
        """Flush what is queued (bounded); returns how many events were left undelivered."""
        try:
            return int(self._producer.flush(timeout))
        except (KafkaException, RuntimeError, SystemError) as exc:
            log.warning("kafka producer failed while closing: %s", exc)
            return -1

    def purge(self) -> None:
        """Drop queued events (they fail with _PURGE_QUEUE and stay in the outbox)."""
        self._producer.purge(in_queue=True, in_flight=False, blocking=False)


class TopicAdmin:
    """Creates the event topics when missing and answers health checks. Blocking calls."""

    def __init__(self, bootstrap: str, *, partitions: int, replication_factor: int) -> None:
        self.partitions = partitions
        self.replication_factor = replication_factor
        config: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "client.id": "mediagw-ingestion-admin",
            "logger": librdkafka_log,
            "socket.timeout.ms": 5000,
            "reconnect.backoff.max.ms": 2000,
        }
        self._admin = AdminClient(config)

    def poll(self) -> None:
        """Serve librdkafka's log lines (non-blocking)."""
        self._admin.poll(0)

    def ping(self, timeout: float = 1.5) -> None:
        metadata = self._admin.list_topics(timeout=timeout)
        self._admin.poll(0)
        if not metadata.brokers:
            raise ConnectionError("the broker answered with no brokers in its metadata")

    def ensure(self, topics: Sequence[str], timeout: float = 5.0) -> list[str]:
        """Create the topics that do not exist; returns the names created."""
        existing = set(self._admin.list_topics(timeout=timeout).topics)
        missing = [t for t in topics if t not in existing]
        if not missing:
            return []
        futures = self._admin.create_topics(
            [NewTopic(t, self.partitions, self.replication_factor) for t in missing],
            operation_timeout=timeout,
            request_timeout=timeout,
        )
        created = []
        for topic, future in futures.items():
            try:
                future.result(timeout=timeout + 1)
                created.append(topic)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
        self._admin.poll(0)
        if created:
            log.info("created kafka topics %s", ", ".join(created))
        return created

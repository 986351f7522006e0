"""Prometheus metrics of the ingestion service: the one place they are declared.

The catalogue (`alerting/metrics.md`, `mediagw metrics catalogue`) is generated from here;
dashboards and alert rules use only the names it lists.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ITEMS = Counter(
    "ingestion_items_total",
    "Feed items by outcome (new, merged, updated, unchanged, failed)",
    ["platform", "result"],
)

UNKNOWN_GENRES = Counter(
    "ingestion_unknown_genres_total",
    "Feed genres that map to no canonical genre (dropped)",
    ["platform"],
)

RUNS = Counter("ingestion_runs_total", "Finished ingestion runs by status", ["platform", "status"])

RUN_SECONDS = Histogram(
    "ingestion_run_duration_seconds",
    "Duration of ingestion runs",
    ["platform"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)

EVENTS_SENT = Counter("kafka_events_sent_total", "Events handed to the Kafka producer", ["topic"])

EVENTS_DELIVERED = Counter(
    "kafka_events_delivered_total", "Events acknowledged by every in-sync replica", ["topic"]
)

EVENTS_FAILED = Counter(
    "kafka_events_failed_total",
    "Events that failed with a non-retriable error (kept in the outbox, never retried)",
    ["topic", "reason"],
)

PRODUCE_RETRIES = Counter(
    "kafka_produce_retries_total",
    "Deliveries that failed with a retriable error and were rescheduled with backoff",
    ["topic"],
)

OUTBOX_PENDING = Gauge(
    "kafka_outbox_pending", "Outbox events not yet delivered to Kafka", multiprocess_mode="livemax"
)

OUTBOX_DEAD = Gauge(
    "kafka_outbox_dead_letters",
    "Outbox events that failed permanently and wait for an operator",
    multiprocess_mode="livemax",
)

DELIVERY_LATENCY = Histogram(
    "kafka_delivery_latency_seconds",
    "From handing an event to the producer to the brokers' acknowledgement",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)

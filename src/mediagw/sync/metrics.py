"""Prometheus metrics of the sync service."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CONNECTED_DEVICES = Gauge(
    "sync_connected_devices",
    "Authenticated WebSocket connections open on the sync service",
    multiprocess_mode="livesum",
)
MESSAGES = Counter(
    "sync_messages_total", "Sync WebSocket messages by direction and type", ["direction", "type"]
)
PROPAGATION = Histogram(
    "sync_propagation_seconds",
    "From the server receiving an op to writing it to another device of the same user",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0),
)
SLOW_CONSUMERS_DROPPED = Counter(
    "sync_slow_consumers_dropped_total",
    "Connections closed with 1013 because their outgoing queue was full",
)

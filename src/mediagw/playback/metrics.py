"""Prometheus metrics of the playback service: the one place they are declared.

The catalogue (`alerting/metrics.md`, `mediagw metrics catalogue`) is generated from here;
dashboards and alert rules use only the names it lists.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

PUBLISHED = Counter("playback_sync_publishes_total", "Progress ops accepted by sync")

PUBLISH_FAILURES = Counter(
    "playback_sync_publish_failures_total",
    "Progress ops not published to sync (reason: unavailable = neither configured nor mounted, "
    "status = sync answered an error, error = transport failure)",
    ["reason"],
)

SESSIONS_ACTIVE = Gauge(
    "playback_sessions_active",
    "Live playback sessions (heartbeat within the session TTL), across all instances",
    multiprocess_mode="max",
)

HEARTBEATS = Counter("playback_heartbeats_total", "Heartbeats accepted", ["state"])

PROGRESS_WRITES = Counter("playback_progress_writes_total", "Progress rows written", ["trigger"])

SESSIONS_STARTED = Counter("playback_sessions_started_total", "Playback sessions started")

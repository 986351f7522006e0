"""The metric names (and their labels) a dashboard query may use: the one list the lint reads.

The source of truth is the generated metrics catalogue ``alerting/metrics.md`` (read through
``harness.obs.catalogue``). Until that file is committed, the table below — the metrics the
services expose as listed for issue 12 — stands in for it; ``known_metrics()`` is the one
place that decides which is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.obs import catalogue


@dataclass(frozen=True)
class Metric:
    name: str
    """As scraped: a counter's ``_total`` included; a histogram's base name."""
    kind: str
    labels: tuple[str, ...]

    def series(self) -> tuple[str, ...]:
        if self.kind == "histogram":
            return tuple(f"{self.name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
        return (self.name,)


def _m(name: str, kind: str, labels: str = "") -> Metric:
    return Metric(name, kind, tuple(labels.split()))


_ISSUE_12 = [
    _m("http_requests_total", "counter", "service route method status"),
    _m("http_request_duration_seconds", "histogram", "service route method"),
    _m("http_requests_in_flight", "gauge", "service"),
    _m("dependency_up", "gauge", "service dependency required"),
    _m("db_pool_max_connections", "gauge", "service"),
    _m("db_pool_in_use_connections", "gauge", "service"),
    _m("db_pool_waiting_requests", "gauge", "service"),
    _m("auth_logins_total", "counter", "result"),
    _m("auth_token_refreshes_total", "counter", "result"),
    _m("auth_refresh_token_reuse_detected_total", "counter"),
    _m("auth_token_families_revoked_total", "counter", "reason"),
    _m("auth_tokens_issued_total", "counter", "grant"),
    _m("auth_password_hash_seconds", "histogram", "operation"),
    _m("gateway_circuit_breaker_open", "gauge", "upstream"),
    _m("search_stage_duration_seconds", "histogram", "stage"),
    _m("search_vector_failures_total", "counter"),
    _m("search_rerank_fallback_total", "counter", "reason"),
    _m("search_vector_path_total", "counter", "path"),
    _m("search_cache_total", "counter", "result"),
    _m("search_cache_invalidations_total", "counter", "source"),
    _m("discovery_cache_events_total", "counter"),
    _m("discovery_index_upserts_total", "counter"),
    _m("discovery_index_deletes_total", "counter"),
    _m("discovery_index_sync_errors_total", "counter"),
    _m("sona_rerank_duration_seconds", "histogram"),
    _m("sona_recommendations_duration_seconds", "histogram"),
    _m("sona_interactions_total", "counter", "kind result"),
    _m("sona_reranks_total", "counter", "personalised"),
    _m("sona_catalogue_titles", "gauge"),
    _m("sona_item_neighbour_pairs", "gauge"),
    _m("sona_profile_lookups_total", "counter", "source"),
    _m("sync_connected_devices", "gauge"),
    _m("sync_messages_total", "counter", "direction type"),
    _m("sync_propagation_seconds", "histogram"),
    _m("sync_slow_consumers_dropped_total", "counter"),
    _m("playback_sessions_active", "gauge"),
    _m("playback_heartbeats_total", "counter", "state"),
    _m("playback_progress_writes_total", "counter", "trigger"),
    _m("playback_sessions_started_total", "counter"),
    _m("playback_sync_publishes_total", "counter"),
    _m("playback_sync_publish_failures_total", "counter", "reason"),
    _m("ingestion_items_total", "counter", "platform result"),
    _m("ingestion_unknown_genres_total", "counter", "platform"),
    _m("ingestion_runs_total", "counter", "platform status"),
    _m("ingestion_run_duration_seconds", "histogram", "platform"),
    _m("kafka_events_sent_total", "counter", "topic"),
    _m("kafka_events_delivered_total", "counter", "topic"),
    _m("kafka_events_failed_total", "counter", "topic reason"),
    _m("kafka_produce_retries_total", "counter", "topic"),
    _m("kafka_outbox_pending", "gauge"),
    _m("kafka_outbox_dead_letters", "gauge"),
    _m("kafka_delivery_latency_seconds", "histogram"),
]
ISSUE_12_METRICS: dict[str, Metric] = {m.name: m for m in _ISSUE_12}

SCRAPE_METRICS = {"up": Metric("up", "gauge", ())}
"""Series Prometheus itself writes for every target."""
TARGET_LABELS = ("job", "instance", "component")
"""Labels every scraped series carries (job ``mediagw``; ``component`` names the process)."""
RECORDING_RULE_PREFIXES = ("slo:",)
"""Recording rules a query may use; their names are checked against the rule files, not here."""


def known_metrics(catalogue_file: Path = catalogue.CATALOGUE_FILE) -> dict[str, Metric]:
    """Every metric a dashboard may query, by name: the catalogue's once it is committed."""
    if catalogue_file.is_file():
        table = {
            name: Metric(name, entry.kind, entry.labels)
            for name, entry in catalogue.load(catalogue_file).items()
        }
    else:
        table = dict(ISSUE_12_METRICS)
    return {**table, **SCRAPE_METRICS}


def series_index(metrics: dict[str, Metric]) -> dict[str, Metric]:
    """Series name (``_bucket``/``_sum``/``_count`` for histograms) → its metric."""
    return {series: metric for metric in metrics.values() for series in metric.series()}

"""Prometheus metrics of the discovery service: the one place they are declared.

The catalogue (`alerting/metrics.md`, `mediagw metrics catalogue`) is generated from here;
dashboards and alert rules use only the names it lists.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

STAGE_SECONDS = Histogram(
    "search_stage_duration_seconds",
    "Time spent in each stage of a search",
    ["stage"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)

VECTOR_FAILURES = Counter(
    "search_vector_failures_total",
    "Searches answered from full-text alone because the vector index failed",
)

RERANK_FALLBACKS = Counter(
    "search_rerank_fallback_total",
    "Signed-in searches served in the unpersonalised order because SONA's re-rank failed",
    ["reason"],
)

VECTOR_PATHS = Counter(
    "search_vector_path_total",
    "How vector searches were answered: unfiltered, embedded over-fetch + Python filter, "
    "or Qdrant's filtered query",
    ["path"],
)

INDEX_UPSERTS = Counter(
    "discovery_index_upserts_total", "Points written to the embedded index from PostgreSQL"
)

INDEX_DELETES = Counter(
    "discovery_index_deletes_total", "Points removed from the embedded index (title deleted)"
)

INDEX_SYNC_ERRORS = Counter(
    "discovery_index_sync_errors_total", "Failed refreshes of the embedded index"
)

CACHE_RESULTS = Counter("search_cache_total", "Search cache lookups by result", ["result"])

CATALOGUE_CACHE = Counter(
    "discovery_catalogue_cache_total",
    "Lookups in the per-process catalogue caches (rendered answers, hydrated hits), by result",
    ["cache", "result"],
)

CACHE_INVALIDATIONS = Counter(
    "search_cache_invalidations_total",
    "Bumps of the search cache version, by what triggered them",
    ["source"],
)

EVENTS_CONSUMED = Counter(
    "discovery_cache_events_total", "Content events read by the cache invalidation consumer"
)

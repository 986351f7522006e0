"""Prometheus metrics of the sona service: the one place they are declared.

The catalogue (`alerting/metrics.md`, `mediagw metrics catalogue`) is generated from here;
dashboards and alert rules use only the names it lists.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

FINE_BUCKETS = (  # SONA answers in milliseconds: its p95 goal is 5 ms
    0.0005, 0.001, 0.0015, 0.002, 0.0025, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.02, 0.05,
)  # fmt: skip

RERANK_SECONDS = Histogram(
    "sona_rerank_duration_seconds",
    "Server-side time of a re-rank: profile lookup and scoring (after auth and parsing)",
    buckets=FINE_BUCKETS,
)

RECOMMENDATIONS_SECONDS = Histogram(
    "sona_recommendations_duration_seconds",
    "Server-side time to build a recommendation list: profile lookup and scoring (after auth "
    "and parsing)",
    buckets=(*FINE_BUCKETS, 0.1, 0.25),
)

INTERACTIONS = Counter("sona_interactions_total", "Interactions received", ["kind", "result"])

RERANKS = Counter("sona_reranks_total", "Re-rank calls", ["personalised"])

CATALOGUE_TITLES = Gauge(
    "sona_catalogue_titles", "Titles in SONA's in-memory item matrix", multiprocess_mode="max"
)

NEIGHBOUR_PAIRS = Gauge(
    "sona_item_neighbour_pairs", "Item-item neighbour pairs in memory", multiprocess_mode="max"
)

PROFILE_LOOKUPS = Counter(
    "sona_profile_lookups_total", "Where profiles were found: local, redis or database", ["source"]
)

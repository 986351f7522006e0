"""The discovery service's dashboard: RED, pool, search stages, cache, vector paths, index.

Search latency is the sum of its stages; the stage panel shows which one a slow search spends
its time in, and the vector-path panel which Qdrant strategy the filters forced.
"""

from __future__ import annotations

from typing import Any

from harness.obs.dashboards import promql
from harness.obs.dashboards.common import Prom, Step, graph
from harness.obs.dashboards.red import service_board


def dashboard() -> dict[str, Any]:
    # Longer than 80 lines on purpose: one panel after another, in the order the dashboard
    # shows them, so the code reads top to bottom like the board it draws.
    board = service_board(
        "discovery",
        "Search and content: request rate, errors and latency by route, database pool, search "
        "stage timings, cache, vector search paths and the index consumer.",
    )
    board.row("Search")
    board.add(
        graph(
            "Search stage duration p95",
            "95th percentile time of each search stage (search_stage_duration_seconds).",
            "s",
            Prom(
                promql.quantile(0.95, "search_stage_duration_seconds", by="stage"),
                "{{stage}}",
            ),
        ),
        graph(
            "Search stage duration p50",
            "Median time of each search stage.",
            "s",
            Prom(
                promql.quantile(0.5, "search_stage_duration_seconds", by="stage"),
                "{{stage}}",
            ),
        ),
        graph(
            "Search cache hit ratio",
            "Share of search cache lookups answered from the cache.",
            "percentunit",
            Prom(
                promql.ratio(
                    promql.rate("search_cache_total", 'result="hit"'),
                    promql.rate("search_cache_total"),
                ),
                "hit ratio",
            ),
            minimum=0,
            maximum=1,
            width=8,
        ),
        graph(
            "Search cache lookups by result",
            "Cache lookups per second: hit, miss, error (an error falls through to a search).",
            "ops",
            Prom(promql.rate("search_cache_total", by="result"), "{{result}}"),
            stacked=True,
            width=8,
        ),
        graph(
            "Search cache invalidations",
            "Cache invalidations per second by source, and catalogue events the cache consumed.",
            "ops",
            Prom(promql.rate("search_cache_invalidations_total", by="source"), "{{source}}"),
            Prom(promql.rate("discovery_cache_events_total"), "events consumed"),
            width=8,
        ),
        graph(
            "Vector search path",
            "Vector searches per second by strategy (unfiltered, filtered, overfetch, "
            "filtered_ids).",
            "ops",
            Prom(promql.rate("search_vector_path_total", by="path"), "{{path}}"),
            stacked=True,
        ),
        graph(
            "Vector failures and re-rank fallbacks",
            "Vector searches that failed (the search answers from text alone) and SONA re-rank "
            "fallbacks by reason (results stay in relevance order), per second.",
            "ops",
            Prom(promql.rate("search_vector_failures_total"), "vector failures"),
            Prom(
                promql.rate("search_rerank_fallback_total", by="reason"),
                "rerank fallback: {{reason}}",
            ),
            steps=(Step(None, "green"), Step(0.1, "red")),
        ),
    )
    board.row("Index")
    board.add(
        graph(
            "Index writes",
            "Vector index upserts and deletes per second (from catalogue events).",
            "ops",
            Prom(promql.rate("discovery_index_upserts_total"), "upserts"),
            Prom(promql.rate("discovery_index_deletes_total"), "deletes"),
        ),
        graph(
            "Index sync errors",
            "Index synchronisation errors per second: above zero, search results go stale.",
            "ops",
            Prom(promql.rate("discovery_index_sync_errors_total"), "sync errors"),
            steps=(Step(None, "green"), Step(0.001, "red")),
        ),
    )
    return board.model()

"""The SONA personalisation service's dashboard: RED, pool, re-rank and recommendation latency.

Re-ranking sits on the search path with a p95 target of 5 ms (DESIGN §5); the threshold line on
the re-rank panel is that target.
"""

from __future__ import annotations

from typing import Any

from harness.obs.dashboards import promql
from harness.obs.dashboards.common import Prom, Step, graph, single
from harness.obs.dashboards.red import service_board

RERANK_TARGET_SECONDS = 0.005


def dashboard() -> dict[str, Any]:
    board = service_board(
        "sona",
        "Personalisation: request rate, errors and latency by route, database pool, re-rank "
        "and recommendation latency, interactions and profile lookups.",
    )
    rerank, recommend = "sona_rerank_duration_seconds", "sona_recommendations_duration_seconds"
    board.row("Personalisation")
    board.add(
        graph(
            "Re-rank latency",
            "p50 / p95 / p99 time to personalise a result list; the line is the 5 ms p95 target.",
            "s",
            Prom(promql.quantile(0.5, rerank), "p50"),
            Prom(promql.quantile(0.95, rerank), "p95"),
            Prom(promql.quantile(0.99, rerank), "p99"),
            steps=(Step(None, "green"), Step(RERANK_TARGET_SECONDS, "red")),
        ),
        graph(
            "Recommendation latency",
            "p50 / p95 / p99 time to compute a user's recommendations.",
            "s",
            Prom(promql.quantile(0.5, recommend), "p50"),
            Prom(promql.quantile(0.95, recommend), "p95"),
            Prom(promql.quantile(0.99, recommend), "p99"),
        ),
        graph(
            "Interactions by kind and result",
            "Interactions (views, plays, ratings …) received per second, by kind and outcome.",
            "ops",
            Prom(promql.rate("sona_interactions_total", by="kind, result"), "{{kind}} {{result}}"),
            stacked=True,
        ),
        graph(
            "Re-ranks by personalisation",
            "Re-rank calls per second, split by whether a profile personalised them.",
            "ops",
            Prom(
                promql.rate("sona_reranks_total", by="personalised"),
                "personalised={{personalised}}",
            ),
            stacked=True,
        ),
        graph(
            "Profile lookups by source",
            "User profile lookups per second by where the profile was found (local, redis, "
            "database).",
            "ops",
            Prom(promql.rate("sona_profile_lookups_total", by="source"), "{{source}}"),
            stacked=True,
        ),
        single(
            "Catalogue titles",
            "Titles in SONA's in-memory catalogue.",
            "short",
            Prom(promql.gauge("sona_catalogue_titles", agg="max"), "titles", instant=True),
            width=6,
            height=8,
        ),
        single(
            "Item neighbour pairs",
            "Item-to-item neighbour pairs SONA holds for similarity.",
            "short",
            Prom(promql.gauge("sona_item_neighbour_pairs", agg="max"), "pairs", instant=True),
            width=6,
            height=8,
        ),
    )
    return board.model()

"""The ingestion service's dashboard: RED, pool, items, runs and run duration by platform.

Kafka delivery of what ingestion produces has its own dashboard (``mgh-kafka``).
"""

from __future__ import annotations

from typing import Any

from harness.obs.dashboards import promql
from harness.obs.dashboards.common import Prom, graph
from harness.obs.dashboards.red import service_board


def dashboard() -> dict[str, Any]:
    board = service_board(
        "ingestion",
        "Catalogue ingestion: request rate, errors and latency by route, database pool, items "
        "by result, runs and run duration per platform.",
    )
    board.row("Ingestion runs")
    board.add(
        graph(
            "Items by platform and result",
            "Feed items processed per second by platform and outcome.",
            "ops",
            Prom(
                promql.rate("ingestion_items_total", by="platform, result"),
                "{{platform}} {{result}}",
            ),
            stacked=True,
        ),
        graph(
            "Unknown genres by platform",
            "Items per second whose genre the taxonomy did not know (mapped to a fallback).",
            "ops",
            Prom(promql.rate("ingestion_unknown_genres_total", by="platform"), "{{platform}}"),
        ),
        graph(
            "Runs by platform and status",
            "Ingestion runs finished in each interval, by platform and status.",
            "short",
            Prom(
                promql.increase("ingestion_runs_total", by="platform, status"),
                "{{platform}} {{status}}",
            ),
            stacked=True,
        ),
        graph(
            "Run duration p95",
            "95th percentile duration of an ingestion run, by platform.",
            "s",
            Prom(
                promql.quantile(0.95, "ingestion_run_duration_seconds", by="platform"),
                "{{platform}}",
            ),
        ),
    )
    return board.model()

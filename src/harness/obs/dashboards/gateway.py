"""The gateway's dashboard: RED by (coarse) route, upstream health and circuit breakers.

The gateway labels routes coarsely (``/api/v1/content/*``) and holds no database pool; its
dependencies are the upstream services, whose readiness the saturation row shows.
"""

from __future__ import annotations

from typing import Any

from harness.obs.dashboards import promql
from harness.obs.dashboards.common import Prom, Step, graph, single
from harness.obs.dashboards.red import service_board


def dashboard() -> dict[str, Any]:
    board = service_board(
        "gateway",
        "The API gateway: request rate, errors and latency by route group, upstream readiness "
        "and circuit breakers.",
        pool=False,
    )
    board.row("Circuit breakers")
    board.add(
        graph(
            "Circuit breaker open by upstream",
            "1 while the gateway's breaker for an upstream is open (calls fail fast instead of "
            "waiting on a failing service).",
            "none",
            Prom(
                promql.gauge("gateway_circuit_breaker_open", by="upstream", agg="max"),
                "{{upstream}}",
            ),
            steps=(Step(None, "green"), Step(1, "red")),
            minimum=0,
            maximum=1,
            width=16,
        ),
        single(
            "Open breakers",
            "How many upstream circuit breakers are open now.",
            "short",
            Prom(
                f"count({promql.sel('gateway_circuit_breaker_open')} == 1) or vector(0)",
                "open",
                instant=True,
            ),
            steps=(Step(None, "green"), Step(1, "red")),
            width=8,
            height=8,
        ),
    )
    return board.model()

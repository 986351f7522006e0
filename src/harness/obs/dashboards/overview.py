"""The overview: every service's RED figures side by side, then what is down.

The first place to look in an incident: which service's traffic, errors or latency moved, and
whether a process stopped answering scrapes or a dependency stopped answering its probe.
"""

from __future__ import annotations

from typing import Any

from harness.obs.dashboards import promql
from harness.obs.dashboards.common import (
    UP_DOWN,
    Board,
    Prom,
    Step,
    graph,
    grid,
    single,
)
from harness.obs.dashboards.red import ERROR_RATIO_STEPS


def dashboard() -> dict[str, Any]:
    # Longer than 80 lines on purpose: one panel after another, in the order the dashboard
    # shows them, so the code reads top to bottom like the board it draws.
    board = Board(
        "mgh-overview",
        "Media Gateway / Overview",
        "Every service's request rate, 5xx ratio, p95 latency and in-flight requests; scrape "
        "targets and dependency readiness.",
        "prometheus",
        tags=("overview",),
    )
    duration = "http_request_duration_seconds"
    board.row("Health")
    board.add(
        single(
            "Processes down",
            'Scrape targets of job "mediagw" whose last scrape failed (up == 0).',
            "short",
            Prom('count(up{job="mediagw"} == 0) or vector(0)', "down", instant=True),
            steps=(Step(None, "green"), Step(1, "red")),
            width=4,
        ),
        single(
            "Required dependencies down",
            "Required dependencies (required=true) whose last readiness probe failed, across "
            "services.",
            "short",
            Prom('count(dependency_up{required="true"} == 0) or vector(0)', "down", instant=True),
            steps=(Step(None, "green"), Step(1, "red")),
            width=4,
        ),
        single(
            "Processes",
            'Every scrape target of job "mediagw" by component (the service, or all-in-one).',
            "none",
            Prom('up{job="mediagw"}', "{{component}} {{instance}}", instant=True),
            mappings=UP_DOWN,
            width=16,
        ),
    )
    board.row("Requests by service")
    board.add(
        graph(
            "Request rate by service",
            "Requests per second each service answered.",
            "reqps",
            Prom(promql.rate("http_requests_total", by="service"), "{{service}}"),
        ),
        graph(
            "5xx ratio by service",
            "Share of each service's responses that were server errors (5xx).",
            "percentunit",
            Prom(
                promql.share(
                    promql.rate("http_requests_total", 'status=~"5.."', by="service"),
                    promql.rate("http_requests_total", by="service"),
                ),
                "{{service}}",
            ),
            steps=ERROR_RATIO_STEPS,
            minimum=0,
        ),
        graph(
            "Latency p95 by service",
            "95th percentile server-side response time of each service, all routes.",
            "s",
            Prom(promql.quantile(0.95, duration, by="service"), "{{service}}"),
        ),
        graph(
            "Requests in flight by service",
            "HTTP requests each service is handling right now.",
            "short",
            Prom(promql.gauge("http_requests_in_flight", by="service"), "{{service}}"),
        ),
    )
    board.row("Dependencies")
    board.add(
        grid(
            "Dependency readiness",
            "Each service's dependencies and whether the last readiness probe answered "
            "(dependency_up: 1 up, 0 down).",
            "none",
            Prom(
                promql.gauge("dependency_up", by="service, dependency, required", agg="min"),
                table=True,
            ),
            mappings=UP_DOWN,
            width=16,
            height=10,
        ),
        single(
            "Open circuit breakers",
            "Upstream circuit breakers the gateway holds open now.",
            "short",
            Prom("count(gateway_circuit_breaker_open == 1) or vector(0)", "open", instant=True),
            steps=(Step(None, "green"), Step(1, "red")),
            width=8,
            height=10,
        ),
    )
    return board.model()

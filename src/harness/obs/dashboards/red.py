"""The rows every service dashboard opens with: RED by route, then saturation and health.

RED metrics carry a ``service`` label in every deployment mode (one process per service or
all-in-one), so these rows filter on it; liveness comes from ``up{job="mediagw"}``, whose
``component`` target label is the service name, or ``all-in-one`` when one process serves all.
"""

from __future__ import annotations

from harness.obs.dashboards import promql
from harness.obs.dashboards.common import UP_DOWN, Board, Choice, Prom, Step, graph, single

ERROR_RATIO_STEPS = (Step(None, "green"), Step(0.01, "red"))
"""5xx share above 1 % is red: the availability objectives allow about that much."""


def route_choice(service: str) -> Choice:
    return Choice(
        "route",
        "Route",
        f'label_values(http_requests_total{{service="{service}"}}, route)',
        f"Route templates the {service} service has answered (the route label of the RED metrics)",
    )


def add_red(board: Board, service: str) -> None:
    """Rate, errors and duration of ``service`` by route (the dashboard's ``route`` variable)."""
    every = f'service="{service}", route=~"$route"'
    errors = f'{every}, status=~"5.."'
    duration = "http_request_duration_seconds"
    board.row("Requests: rate, errors, duration")
    board.add(
        graph(
            "Request rate by route",
            f"Requests per second the {service} service answered, by route template.",
            "reqps",
            Prom(promql.rate("http_requests_total", every, by="route"), "{{route}}"),
        ),
        graph(
            "Responses by status",
            f"Responses per second of the {service} service by HTTP status, selected routes.",
            "reqps",
            Prom(promql.rate("http_requests_total", every, by="status"), "{{status}}"),
            stacked=True,
        ),
        graph(
            "5xx ratio by route",
            "Share of responses that were server errors (5xx), by route: the availability SLI.",
            "percentunit",
            Prom(
                promql.share(
                    promql.rate("http_requests_total", errors, by="route"),
                    promql.rate("http_requests_total", every, by="route"),
                ),
                "{{route}}",
            ),
            steps=ERROR_RATIO_STEPS,
            minimum=0,
        ),
        graph(
            "Latency p50 / p95 / p99",
            "Server-side response time quantiles across the selected routes "
            "(from http_request_duration_seconds buckets).",
            "s",
            Prom(promql.quantile(0.5, duration, every), "p50"),
            Prom(promql.quantile(0.95, duration, every), "p95"),
            Prom(promql.quantile(0.99, duration, every), "p99"),
        ),
        graph(
            "Latency p95 by route",
            "95th percentile server-side response time per route template.",
            "s",
            Prom(promql.quantile(0.95, duration, every, by="route"), "{{route}}"),
            width=24,
        ),
    )


def add_saturation(board: Board, service: str, *, pool: bool = True) -> None:
    """In-flight requests, the database pool (services that hold one) and health: the
    process's scrape and each dependency's readiness probe."""
    only = f'service="{service}"'
    board.row("Saturation and health")
    board.add(
        graph(
            "Requests in flight",
            f"HTTP requests the {service} service is handling right now (all workers).",
            "short",
            Prom(promql.gauge("http_requests_in_flight", only), "in flight"),
            width=8 if pool else 12,
        )
    )
    if pool:
        board.add(
            graph(
                "Database pool",
                "Connections in use against the pool maximum, and requests waiting for a "
                "connection (waiting above zero means the pool is the bottleneck).",
                "short",
                Prom(promql.gauge("db_pool_in_use_connections", only), "in use"),
                Prom(promql.gauge("db_pool_max_connections", only), "max"),
                Prom(promql.gauge("db_pool_waiting_requests", only), "waiting"),
                width=8,
            ),
            graph(
                "Database pool utilisation",
                "Connections in use as a share of the pool maximum.",
                "percentunit",
                Prom(
                    promql.ratio(
                        promql.gauge("db_pool_in_use_connections", only),
                        promql.gauge("db_pool_max_connections", only),
                    ),
                    "in use / max",
                ),
                steps=(Step(None, "green"), Step(0.8, "orange"), Step(0.95, "red")),
                minimum=0,
                maximum=1,
                width=8,
            ),
        )
    board.add(
        single(
            "Dependencies",
            f"Whether each dependency of the {service} service answered its last readiness "
            "probe (dependency_up; probed every few seconds).",
            "none",
            Prom(
                promql.gauge("dependency_up", only, by="dependency, required", agg="min"),
                "{{dependency}} (required={{required}})",
                instant=True,
            ),
            mappings=UP_DOWN,
            width=12,
        ),
        single(
            "Process up",
            f"Prometheus's last scrape of each process serving {service} (up{{job=mediagw}}; "
            "component is the service name, or all-in-one).",
            "none",
            Prom(
                f'up{{job="mediagw", component=~"{service}|all-in-one"}}',
                "{{component}} {{instance}}",
                instant=True,
            ),
            mappings=UP_DOWN,
            width=12,
        ),
    )


def service_board(service: str, summary: str, *, pool: bool = True) -> Board:
    """A service's dashboard with its RED and saturation rows; the caller adds domain rows."""
    board = Board(
        f"mgh-service-{service}",
        f"Media Gateway / {service}",
        summary,
        "prometheus",
        tags=("service", service),
    ).choice(route_choice(service))
    add_red(board, service)
    add_saturation(board, service, pool=pool)
    return board

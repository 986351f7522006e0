"""Prometheus metrics: RED metrics for every service plus a ``/metrics`` endpoint.

Routes are labelled by their template (``/api/v1/content/{content_id}``), never the raw path,
so label cardinality stays bounded whatever clients send. With ``PROMETHEUS_MULTIPROC_DIR`` set
(several uvicorn workers) the endpoint aggregates every worker's samples.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.5, 0.75, 1.0, 2.5,
    5.0, 10.0,
)  # fmt: skip
"""Every latency threshold of ``load/slo.yaml`` is a bound here, so latency SLIs are exact
bucket counts, never interpolated."""

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests answered", ["service", "route", "method", "status"]
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["service", "route", "method"],
    buckets=LATENCY_BUCKETS,
)
HTTP_IN_FLIGHT = Gauge(
    "http_requests_in_flight",
    "HTTP requests being handled",
    ["service"],
    multiprocess_mode="livesum",
)
DEPENDENCY_UP = Gauge(
    "dependency_up",
    "1 when the service's readiness probe of the dependency answered at its last run",
    ["service", "dependency", "required"],
    multiprocess_mode="livemin",
)
DB_POOL_MAX = Gauge(
    "db_pool_max_connections",
    "PostgreSQL connections the service's pool may open",
    ["service"],
    multiprocess_mode="livesum",
)
DB_POOL_IN_USE = Gauge(
    "db_pool_in_use_connections",
    "PostgreSQL connections lent out by the service's pool",
    ["service"],
    multiprocess_mode="livesum",
)
DB_POOL_WAITING = Gauge(
    "db_pool_waiting_requests",
    "Requests queued for a PostgreSQL connection of the service's pool",
    ["service"],
    multiprocess_mode="livesum",
)
UNMATCHED_ROUTE = "<unmatched>"


def route_template(scope: Scope) -> str:
    """The route's template as the documents spell it (``{session_id}``, without the
    ``:uuid_text`` convertor a Starlette route keeps in ``path``)."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(path) if path else UNMATCHED_ROUTE


HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "options"})


def prime_route_series(service: str, document: Mapping[str, Any]) -> None:
    """Create the latency series of every operation in the service's OpenAPI document, at zero.

    A labelled histogram has no series until its first observation, so an SLI over a quiet
    route would read "absent" — indistinguishable from a metric that vanished — and dashboards
    would show no data instead of no traffic. The document's path templates are exactly the
    route labels the middleware records, and a bounded set.
    """
    for path, operations in document.get("paths", {}).items():
        for method in operations:
            if method in HTTP_METHODS:
                HTTP_DURATION.labels(service, path, method.upper())


class RequestMetrics:
    """The RED series of one service, for the edge layer to record each HTTP request in.

    ``labels()`` takes a lock and validates its arguments on every call; the children are kept
    here per label set instead (the route label is bounded, so the dictionaries are too).
    """

    def __init__(self, service: str) -> None:
        self.service = service
        self.in_flight = HTTP_IN_FLIGHT.labels(service)
        self._counts: dict[tuple[str, str, int], Any] = {}
        self._durations: dict[tuple[str, str], Any] = {}

    def record(self, scope: Scope, status: int, seconds: float) -> None:
        route, method = route_template(scope), str(scope.get("method", "GET"))
        count = self._counts.get((route, method, status))
        if count is None:
            count = HTTP_REQUESTS.labels(self.service, route, method, str(status))
            self._counts[route, method, status] = count
        count.inc()
        duration = self._durations.get((route, method))
        if duration is None:
            duration = HTTP_DURATION.labels(self.service, route, method)
            self._durations[route, method] = duration
        duration.observe(seconds)


def metrics_endpoint(_: Request) -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped in prometheus-client
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

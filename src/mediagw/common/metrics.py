"""Prometheus metrics: RED metrics for every service plus a ``/metrics`` endpoint.

Routes are labelled by their template (``/api/v1/content/{content_id}``), never the raw path,
so label cardinality stays bounded whatever clients send. With ``PROMETHEUS_MULTIPROC_DIR`` set
(several uvicorn workers) the endpoint aggregates every worker's samples.
"""

from __future__ import annotations

import os
import time

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
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

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
UNMATCHED_ROUTE = "<unmatched>"


def route_template(scope: Scope) -> str:
    """The route's template as the documents spell it (``{session_id}``, without the
    ``:uuid_text`` convertor a Starlette route keeps in ``path``)."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(path) if path else UNMATCHED_ROUTE


class MetricsMiddleware:
    """Counts and times every HTTP request under the service's name."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") == "/metrics":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        in_flight = HTTP_IN_FLIGHT.labels(self.service)
        in_flight.inc()

        async def send_recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_recording)
        finally:
            in_flight.dec()
            route, method = route_template(scope), str(scope.get("method", "GET"))
            HTTP_REQUESTS.labels(self.service, route, method, str(status)).inc()
            HTTP_DURATION.labels(self.service, route, method).observe(time.perf_counter() - started)


def metrics_endpoint(_: Request) -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped in prometheus-client
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

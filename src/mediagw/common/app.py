"""The app factory every service uses: one middleware stack, one error shape, health, metrics.

A service supplies its routers, its lifespan (which opens its connections) and its readiness
checks; everything a client or an operator relies on across services is set up here once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.middleware.cors import CORSMiddleware

from mediagw import __version__
from mediagw.api_versions import API_VERSIONS
from mediagw.common import faults
from mediagw.common.errors import install_error_handlers
from mediagw.common.health import Check, health_router, probing
from mediagw.common.metrics import metrics_endpoint, prime_route_series
from mediagw.common.middleware import EdgeMiddleware
from mediagw.common.settings import ServiceSettings


def _priming(
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]], service: str
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """``lifespan``, creating the latency series of every documented operation at start-up
    (once the document is final). Not the gateway's: it labels proxied calls by prefix."""

    @asynccontextmanager
    async def primed(app: FastAPI) -> AsyncIterator[None]:
        async with lifespan(app):
            if service != "gateway":
                prime_route_series(service, app.openapi())
            yield

    return primed


def create_service_app(
    *,
    service: str,
    settings: ServiceSettings,
    routers: Sequence[APIRouter],
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    checks: Callable[[FastAPI], dict[str, tuple[Check, bool]]],
    description: str,
    inner_middleware: Sequence[tuple[Any, dict[str, Any]]] = (),
    **fastapi_options: Any,
) -> FastAPI:
    """Build a service app. ``inner_middleware`` runs inside the shared stack, just before the
    routes (the gateway's dispatcher goes there, so proxied calls get the same treatment)."""

    def service_checks() -> dict[str, tuple[Check, bool]]:
        return checks(app)

    app = FastAPI(
        # FastAPI's native OpenTelemetry hooks would look for a tracer provider on every
        # request (≈ 5 % of a worker's time in a profile); this system's telemetry is Prometheus.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        title=f"Media Gateway — {service}",
        # A service's contract version; an app outside the table (a test's) has the package's.
        version=API_VERSIONS.get(service, __version__),
        description=description,
        lifespan=probing(
            _priming(lifespan, service),
            service,
            service_checks,
            settings.readiness_probe_interval_s,
        ),
        **fastapi_options,
    )
    app.state.settings = settings
    app.state.service = service
    install_error_handlers(app)
    for router in routers:
        app.include_router(router)
    app.include_router(health_router(service, service_checks))
    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)

    # Added innermost first: the edge must wrap everything so every answer carries its id.
    for middleware, options in inner_middleware:
        app.add_middleware(middleware, **options)
    if faults.enabled(settings) and service != "gateway":
        # In the services (once, also when they are mounted in the gateway's process), inside
        # the edge: injected latency and errors are measured and answered like real ones.
        app.add_middleware(faults.FaultInjectionMiddleware, settings=settings)
    app.add_middleware(
        EdgeMiddleware,
        service=service,
        max_body_bytes=settings.max_body_bytes,
        max_header_bytes=settings.max_header_bytes,
    )
    if settings.cors_origin_list:
        # Outside the edge, so every answer — the edge's own 413, 431 and 500 too — carries the
        # CORS headers a browser needs to read it; a preflight is answered here, before the
        # edge (it gets no request id and is not counted in the RED metrics).
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID", "X-API-Key"],
            expose_headers=["X-Request-ID", "Retry-After"],
            max_age=600,
        )
    return app

"""The app factory every service uses: one middleware stack, one error shape, health, metrics.

A service supplies its routers, its lifespan (which opens its connections) and its readiness
checks; everything a client or an operator relies on across services is set up here once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.middleware.cors import CORSMiddleware

from mediagw import __version__
from mediagw.api_versions import API_VERSIONS
from mediagw.common import faults
from mediagw.common.errors import install_error_handlers
from mediagw.common.metrics import MetricsMiddleware, metrics_endpoint
from mediagw.common.middleware import (
    BodySizeLimitMiddleware,
    SecurityHeadersMiddleware,
    UnexpectedErrorMiddleware,
)
from mediagw.common.requestid import RequestIdMiddleware
from mediagw.common.settings import ServiceSettings

Check = Callable[[], Awaitable[None]]
"""A readiness probe of one dependency: returns when it answers, raises otherwise."""

CHECK_TIMEOUT_SECONDS = 2.0


class Liveness(BaseModel):
    status: str
    service: str
    version: str


class DependencyState(BaseModel):
    status: str
    latency_ms: float
    required: bool
    error: str | None = None


class Readiness(BaseModel):
    status: str
    service: str
    dependencies: dict[str, DependencyState]


async def _run_check(check: Check) -> tuple[str | None, float]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001 — any failure of a dependency is reported, not raised
        return f"{type(exc).__name__}: {exc}".splitlines()[0][:300], time.perf_counter() - started
    return None, time.perf_counter() - started


def health_router(service: str, checks: Callable[[], dict[str, tuple[Check, bool]]]) -> APIRouter:
    """``/health/live`` (the process answers) and ``/health/ready`` (dependencies answer).

    ``checks`` returns ``{name: (probe, required)}``; ready is 503 when a required one fails.
    """
    router = APIRouter(tags=["health"])

    @router.get("/health/live", response_model=Liveness)
    async def live() -> Liveness:
        return Liveness(status="ok", service=service, version=__version__)

    @router.get(
        "/health/ready",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "A required dependency is down"}},
    )
    async def ready() -> JSONResponse:
        probes = checks()
        results = await asyncio.gather(*(_run_check(probe) for probe, _ in probes.values()))
        dependencies = {
            name: DependencyState(
                status="ok" if error is None else "down",
                latency_ms=round(seconds * 1000, 2),
                required=required,
                error=error,
            )
            for (name, (_, required)), (error, seconds) in zip(probes.items(), results, strict=True)
        }
        down_required = any(d.status != "ok" and d.required for d in dependencies.values())
        degraded = any(d.status != "ok" for d in dependencies.values())
        status = "down" if down_required else ("degraded" if degraded else "ok")
        body = Readiness(status=status, service=service, dependencies=dependencies)
        return JSONResponse(body.model_dump(), status_code=503 if down_required else 200)

    return router


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
    app = FastAPI(
        title=f"Media Gateway — {service}",
        # A service's contract version; an app outside the table (a test's) has the package's.
        version=API_VERSIONS.get(service, __version__),
        description=description,
        lifespan=lifespan,
        **fastapi_options,
    )
    app.state.settings = settings
    app.state.service = service
    install_error_handlers(app)
    for router in routers:
        app.include_router(router)
    app.include_router(health_router(service, lambda: checks(app)))
    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)

    # Added innermost first: the request id must wrap everything so every answer carries it.
    for middleware, options in inner_middleware:
        app.add_middleware(middleware, **options)
    if faults.enabled(settings) and service != "gateway":
        # In the services (once, also when they are mounted in the gateway's process), inside
        # metrics and request ids: injected latency and errors are measured and answered like
        # real ones.
        app.add_middleware(faults.FaultInjectionMiddleware, settings=settings)
    app.add_middleware(BodySizeLimitMiddleware, limit=settings.max_body_bytes)
    app.add_middleware(UnexpectedErrorMiddleware)
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID", "X-API-Key"],
            expose_headers=["X-Request-ID", "Retry-After"],
            max_age=600,
        )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(MetricsMiddleware, service=service)
    app.add_middleware(RequestIdMiddleware)
    return app

"""Health: ``/health/live``, ``/health/ready``, and the same readiness probes as metrics.

An orchestrator asks ``/health/ready``; Prometheus only scrapes ``/metrics``. So each service
also runs its probes in the background every ``MG_READINESS_PROBE_INTERVAL_S`` seconds and
publishes the outcome per dependency (``dependency_up``) with its connection pool's occupancy
(``db_pool_*``): "readiness failing" and "pool saturated" alerts need nobody to poll the
endpoint, and both views come from one probe run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from mediagw import __version__
from mediagw.common.metrics import DB_POOL_IN_USE, DB_POOL_MAX, DB_POOL_WAITING, DEPENDENCY_UP
from mediagw.common.storage import pools_of

log = logging.getLogger("mediagw.health")

Check = Callable[[], Awaitable[None]]
"""A readiness probe of one dependency: returns when it answers, raises otherwise."""

Checks = Callable[[], dict[str, tuple[Check, bool]]]
"""``{name: (probe, required)}`` — called on every probe run, so late-bound dependencies (the
gateway's upstreams) are included once they exist."""

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

    @property
    def ready(self) -> bool:
        return self.status != "down"


async def _run_check(check: Check) -> tuple[str | None, float]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001 — any failure of a dependency is reported, not raised
        return f"{type(exc).__name__}: {exc}".splitlines()[0][:300], time.perf_counter() - started
    return None, time.perf_counter() - started


def _record_pools(service: str) -> None:
    pools = pools_of(service)
    if not pools:
        return
    stats = [pool.get_stats() for pool in pools]
    DB_POOL_MAX.labels(service).set(sum(s.get("pool_max", 0) for s in stats))
    in_use = sum(s.get("pool_size", 0) - s.get("pool_available", 0) for s in stats)
    DB_POOL_IN_USE.labels(service).set(in_use)
    DB_POOL_WAITING.labels(service).set(sum(s.get("requests_waiting", 0) for s in stats))


async def probe(service: str, checks: Checks) -> Readiness:
    """Run every probe once; publish the outcome as metrics and return it."""
    probes = checks()
    results = await asyncio.gather(*(_run_check(check) for check, _ in probes.values()))
    dependencies = {
        name: DependencyState(
            status="ok" if error is None else "down",
            latency_ms=round(seconds * 1000, 2),
            required=required,
            error=error,
        )
        for (name, (_, required)), (error, seconds) in zip(probes.items(), results, strict=True)
    }
    for name, state in dependencies.items():
        required = "true" if state.required else "false"
        DEPENDENCY_UP.labels(service, name, required).set(1 if state.status == "ok" else 0)
    _record_pools(service)
    down_required = any(d.status != "ok" and d.required for d in dependencies.values())
    degraded = any(d.status != "ok" for d in dependencies.values())
    status = "down" if down_required else ("degraded" if degraded else "ok")
    return Readiness(status=status, service=service, dependencies=dependencies)


def health_router(service: str, checks: Checks) -> APIRouter:
    """``/health/live`` (the process answers) and ``/health/ready`` (dependencies answer; 503
    when a required one fails)."""
    router = APIRouter(tags=["health"])
    # Constant for the life of the process: encoded once (the probe every load balancer and
    # every bench hits most should cost the framework and nothing more).
    liveness = Liveness(status="ok", service=service, version=__version__).model_dump_json()

    @router.get("/health/live", response_model=Liveness)
    async def live() -> Response:
        return Response(liveness, media_type="application/json")

    @router.get(
        "/health/ready",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "A required dependency is down"}},
    )
    async def ready() -> JSONResponse:
        body = await probe(service, checks)
        return JSONResponse(body.model_dump(), status_code=200 if body.ready else 503)

    return router


async def _probe_forever(service: str, checks: Checks, interval: float) -> None:
    while True:
        try:
            await probe(service, checks)
        except Exception:  # the probe loop must outlive any one failure
            log.exception("%s: background readiness probe failed", service)
        await asyncio.sleep(interval)


def probing(
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    service: str,
    checks: Checks,
    interval: float,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """``lifespan`` with the background probe running while the service is up (from the
    moment its connections are open); ``interval`` 0 turns it off."""

    @asynccontextmanager
    async def with_probes(app: FastAPI) -> AsyncIterator[None]:
        async with lifespan(app):
            task = None
            if interval > 0:
                task = asyncio.create_task(_probe_forever(service, checks, interval))
            try:
                yield
            finally:
                if task is not None:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)

    return with_probes

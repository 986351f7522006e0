"""Faults injected on purpose, for experiments: added latency and errors on chosen routes.

The regression gate proves it catches a 20 % slowdown or 2 % errors on one endpoint, and the
alert drills make a burn-rate alert fire, by turning these on in a test stack:
``MG_INJECT_LATENCY_MS`` (delay), ``MG_INJECT_ERROR_RATE`` (share answered 500
``injected_fault``) and ``MG_INJECT_ROUTES`` (a regular expression searched in the path).
Off by default, and refused at start-up when ``MG_ENV=production`` (``ServiceSettings``).
"""

from __future__ import annotations

import asyncio
import random
import re
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from mediagw.common.errors import ApiError
from mediagw.common.middleware import send_error
from mediagw.common.settings import ServiceSettings

SPIN_BELOW_SECONDS = 0.002
"""Shorter delays hold the event loop (at most 2 ms a request, for experiments only)."""
INJECTED = ApiError(500, "injected_fault", "a fault injected for an experiment (MG_INJECT_*)")


class FaultInjectionMiddleware:
    def __init__(self, app: ASGIApp, settings: ServiceSettings) -> None:
        self.app = app
        self.delay = settings.inject_latency_ms / 1000
        self.error_rate = settings.inject_error_rate
        self.routes = re.compile(settings.inject_routes) if settings.inject_routes else None
        self._random = random.Random()  # noqa: S311 — picks requests to fail, not secrets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.routes is None:
            await self.app(scope, receive, send)
            return
        if not self.routes.search(str(scope.get("path", ""))):
            await self.app(scope, receive, send)
            return
        if self.delay:
            await self._wait()
        if self.error_rate and self._random.random() < self.error_rate:
            await send_error(send, INJECTED)
            return
        await self.app(scope, receive, send)

    async def _wait(self) -> None:
        """Add exactly ``delay``. Below :data:`SPIN_BELOW_SECONDS` the time is spun, not slept:
        ``asyncio.sleep`` returns only when the loop next gets round to its timers, which under
        load adds a millisecond or more — a "1 %" slowdown would be several times that."""
        if self.delay >= SPIN_BELOW_SECONDS:
            await asyncio.sleep(self.delay)
            return
        deadline = time.perf_counter() + self.delay
        while time.perf_counter() < deadline:
            pass


def enabled(settings: ServiceSettings) -> bool:
    return bool(settings.inject_routes) and (
        settings.inject_latency_ms > 0 or settings.inject_error_rate > 0
    )

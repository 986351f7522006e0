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

from starlette.types import ASGIApp, Receive, Scope, Send

from mediagw.common.errors import ApiError
from mediagw.common.middleware import send_error
from mediagw.common.settings import ServiceSettings

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
            await asyncio.sleep(self.delay)
        if self.error_rate and self._random.random() < self.error_rate:
            await send_error(send, INJECTED)
            return
        await self.app(scope, receive, send)


def enabled(settings: ServiceSettings) -> bool:
    return bool(settings.inject_routes) and (
        settings.inject_latency_ms > 0 or settings.inject_error_rate > 0
    )

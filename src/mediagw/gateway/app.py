"""The gateway's app factory: all-in-one (services in this process) or per-service (HTTP)."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from mediagw.common import peers
from mediagw.common.app import create_service_app
from mediagw.common.health import Check
from mediagw.common.settings import load_settings
from mediagw.common.storage import open_redis, ping_redis
from mediagw.common.tokens import Authenticator, TokenCodec
from mediagw.gateway.breaker import CircuitBreaker
from mediagw.gateway.dispatch import DispatchMiddleware, GatewayState
from mediagw.gateway.exchange import ApiKeyExchange
from mediagw.gateway.openapi import merge
from mediagw.gateway.operations import OperationTable
from mediagw.gateway.settings import GatewaySettings
from mediagw.gateway.upstream import HttpUpstream, InProcessUpstream, Upstream, not_ready

SERVICE = "gateway"
IN_PROCESS_SERVICES: dict[str, str] = {
    "auth": "mediagw.auth.app",
    "sona": "mediagw.sona.app",
    "ingestion": "mediagw.ingestion.app",
    "discovery": "mediagw.discovery.app",
    "sync": "mediagw.sync.app",
    "playback": "mediagw.playback.app",
}
"""Services the all-in-one gateway mounts, by module exposing ``create_app``, in start order
(discovery calls SONA and playback calls sync, so callees come first). A module that does
not exist yet is skipped."""


def _ready_check(name: str, app: FastAPI) -> Callable[[], Awaitable[None]]:
    async def ready() -> None:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://in-process"
        ) as client:
            response = await client.get("/health/ready")
        if response.status_code != 200:
            raise not_ready(name, response)

    return ready


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or load_settings(GatewaySettings)
    state = GatewayState()
    codec = TokenCodec(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        redis = open_redis(settings.redis_url)
        state.authenticator = Authenticator(codec, redis)
        async with AsyncExitStack() as stack:
            stack.push_async_callback(redis.aclose)
            if settings.gateway_mode == "all-in-one":
                await _mount_in_process(state, stack)
            else:
                _connect_upstreams(state, settings, stack)
            yield

    def checks(_: FastAPI) -> dict[str, tuple[Check, bool]]:
        probes: dict[str, tuple[Check, bool]] = {}
        authenticator = state.authenticator
        if authenticator is not None:

            async def redis_probe() -> None:
                await ping_redis(authenticator.redis)

            probes["redis"] = (redis_probe, True)
        for name, upstream in state.upstreams.items():
            probes[name] = (upstream.ready, True)
        return probes

    app = create_service_app(
        service=SERVICE,
        settings=settings,
        routers=[],
        lifespan=lifespan,
        checks=checks,
        description="The public entry: routes /api/v1 to the services, checks tokens at the edge.",
        inner_middleware=[(DispatchMiddleware, {"state": state})],
    )
    own_document = app.openapi

    def public_document() -> dict[str, Any]:
        """The public API of every mounted service (see ``mediagw.gateway.openapi``); cached
        once the services are mounted, so a request before start-up does not freeze it."""
        if state.document is not None:
            return state.document
        services = {name: service.openapi() for name, service in state.service_apps.items()}
        document = merge(own_document(), services)
        if services:
            state.document = document
        return document

    app.openapi = public_document  # type: ignore[method-assign]  # FastAPI's documented hook
    return app


async def _mount_in_process(state: GatewayState, stack: AsyncExitStack) -> None:
    for name, module_name in IN_PROCESS_SERVICES.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if not exc.name or not module_name.startswith(exc.name):
                raise  # a real import error inside the service, not a service not built yet
            continue
        service_app: FastAPI = module.create_app()
        peers.register(name, service_app)
        state.service_apps[name] = service_app
        stack.callback(peers.unregister, name)
        await stack.enter_async_context(service_app.router.lifespan_context(service_app))
        ready = _ready_check(name, service_app)
        state.upstreams[name] = InProcessUpstream(name, service_app, ready)
        state.operations[name] = OperationTable.from_document(service_app.openapi())
        if name == "auth":
            client = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=service_app), base_url="http://in-process"
                )
            )
            state.exchange = ApiKeyExchange(client)


def _connect_upstreams(
    state: GatewayState, settings: GatewaySettings, stack: AsyncExitStack
) -> None:
    client = httpx.AsyncClient(
        timeout=httpx.Timeout(
            settings.upstream_timeout_seconds, connect=settings.upstream_connect_timeout_seconds
        ),
        limits=httpx.Limits(
            max_connections=settings.upstream_max_connections,
            max_keepalive_connections=settings.upstream_max_connections,
        ),
        follow_redirects=False,
    )
    stack.push_async_callback(client.aclose)
    for name, url in settings.upstream_urls().items():
        breaker = CircuitBreaker(
            name, settings.breaker_failure_threshold, settings.breaker_reset_seconds
        )
        upstream: Upstream = HttpUpstream(
            name, url, client, breaker, trust_forwarded_for=settings.trust_forwarded_for
        )
        state.upstreams[name] = upstream
    auth = state.upstreams.get("auth")
    if isinstance(auth, HttpUpstream):
        exchange_client = httpx.AsyncClient(base_url=auth.base_url, timeout=client.timeout)
        stack.push_async_callback(exchange_client.aclose)
        # Auth's breaker: API key checks fail fast with the rest of auth's traffic.
        state.exchange = ApiKeyExchange(exchange_client, auth.breaker)

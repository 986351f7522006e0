"""The gateway's core: authenticate at the edge, then hand the request to its service.

Runs as the innermost middleware of the gateway app, so requests it routes have already passed
request ids, metrics, security headers, CORS and the body limit, and requests it does not route
(health, metrics) fall through to the gateway's own endpoints.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from mediagw.common.errors import ApiError
from mediagw.common.middleware import send_error
from mediagw.common.security import unauthorized
from mediagw.common.tokens import Authenticator, InvalidToken, Principal
from mediagw.gateway import wsproxy
from mediagw.gateway.exchange import EXCHANGE_PATH, ApiKeyExchange
from mediagw.gateway.operations import Access, OperationTable, allow_header
from mediagw.gateway.routing import INTERNAL, Route, route_for
from mediagw.gateway.upstream import HttpUpstream, InProcessUpstream, Upstream

API_PREFIX = "/api/v1"
_DOCUMENT_RETRY_SECONDS = 5.0


@dataclass
class GatewayState:
    """Filled by the gateway's lifespan: the upstreams and the token checker."""

    upstreams: dict[str, Upstream] = field(default_factory=dict)
    authenticator: Authenticator | None = None
    exchange: ApiKeyExchange | None = None
    """API keys → access tokens (``mediagw.gateway.exchange``); None without auth."""
    service_apps: dict[str, FastAPI] = field(default_factory=dict)
    """The services mounted in this process (all-in-one), whose documents the gateway's merges."""
    document: dict[str, Any] | None = None
    operations: dict[str, OperationTable] = field(default_factory=dict)
    """Each service's paths, methods and access rules, read from its document."""
    _document_retry_at: dict[str, float] = field(default_factory=dict)

    async def operations_for(self, service: str) -> OperationTable | None:
        """The service's operation table; fetched from a remote service's ``/openapi.json``
        on first use (per-service mode). None while that fails: the gateway then forwards
        without its own method check and the service, which checks tokens itself over HTTP,
        decides — retried every few seconds, not on every request."""
        table = self.operations.get(service)
        upstream = self.upstreams.get(service)
        if table is not None or upstream is None:
            return table
        if time.monotonic() < self._document_retry_at.get(service, 0.0):
            return None
        try:
            document = await upstream.document()
        except (httpx.HTTPError, ApiError, ValueError, KeyError):
            self._document_retry_at[service] = time.monotonic() + _DOCUMENT_RETRY_SECONDS
            return None
        table = self.operations[service] = OperationTable.from_document(document)
        return table


@dataclass(frozen=True)
class _RouteLabel:
    """Stands in for a Starlette route so metrics label proxied calls by table entry."""

    path: str


class DispatchMiddleware:
    def __init__(self, app: ASGIApp, state: GatewayState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] == "websocket" and path.startswith(API_PREFIX):
            await self._websocket(scope, receive, send, path)
            return
        if scope["type"] != "http" or not path.startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        try:
            route = self._route(path)
            scope["route"] = _RouteLabel(route.name)
            upstream = self.state.upstreams.get(route.service)
            if upstream is None:
                raise ApiError(
                    503, "service_not_deployed", f"{route.service} is not deployed in this stack"
                )
            access = await self._access(route, path, str(scope["method"]))
            await self._authenticate(scope, access)
        except ApiError as error:
            await send_error(send, error)
            return
        try:
            await upstream(scope, receive, send)
        except ApiError as error:  # raised by an HTTP upstream before it started answering
            await send_error(send, error)
        finally:
            # A mounted app overwrites the route with its own template; the gateway's metrics
            # keep the table entry, the same in all-in-one and per-service mode. Per-endpoint
            # figures come from each service's own metrics (service="auth", …).
            scope["route"] = _RouteLabel(route.name)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        """WebSockets go to their service: in this process, or relayed to its address
        (``mediagw.gateway.wsproxy``). The service authenticates the socket itself (the token
        may arrive as the first message, after the handshake the gateway sees)."""
        route = None if INTERNAL.match(path) else route_for(path)
        upstream = self.state.upstreams.get(route.service) if route else None
        if isinstance(upstream, InProcessUpstream):
            await upstream(scope, receive, send)
        elif isinstance(upstream, HttpUpstream):
            await wsproxy.proxy(
                upstream.name,
                upstream.base_url,
                upstream.breaker,
                upstream.connect_timeout,
                scope,
                receive,
                send,
            )
        else:
            await send({"type": "websocket.close", "code": 4404, "reason": "no socket here"})

    @staticmethod
    def _route(path: str) -> Route:
        route = None if INTERNAL.match(path) else route_for(path)
        if route is None:
            raise ApiError(404, "not_found", f"no API endpoint at {path}")
        return route

    async def _access(self, route: Route, path: str, method: str) -> Access:
        """404 for a path the service does not document, 405 (with ``Allow``) for a method
        it does not serve there — both before any credential is looked at."""
        table = await self.state.operations_for(route.service)
        if table is None:
            return Access.OPTIONAL
        item = table.match(path)
        if item is None:
            raise ApiError(404, "not_found", f"no API endpoint at {path}")
        access = item.access(method)
        if access is None:
            raise ApiError(
                405,
                "method_not_allowed",
                f"{method} is not allowed on {item.template}",
                headers={"Allow": allow_header(item.methods)},
            )
        return access

    async def _authenticate(self, scope: Scope, access: Access) -> None:
        """Check the request's credentials as the operation's ``access`` says (see
        ``mediagw.gateway.operations``): not at all, if present, or required."""
        if access is Access.NONE:
            return
        headers: dict[bytes, bytes] = dict(scope["headers"])
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        api_key = headers.get(b"x-api-key", b"").decode("latin-1")
        if api_key and not authorization and scope["path"] != EXCHANGE_PATH:
            principal = await self._api_key_principal(api_key)
            authorization = f"Bearer {principal[0]}"
            scope["headers"] = [
                *(h for h in scope["headers"] if h[0] not in {b"x-api-key", b"authorization"}),
                (b"authorization", authorization.encode()),
            ]
            scope.setdefault("state", {})["principal"] = principal[1]
            return
        if authorization.lower().startswith("bearer "):
            scope.setdefault("state", {})["principal"] = await self._principal(
                authorization[7:].strip()
            )
        elif authorization and not authorization.lower().startswith("basic "):
            raise unauthorized("invalid_token", "Authorization header must be 'Bearer <token>'")
        elif access is Access.REQUIRED:
            raise unauthorized("missing_token", "this endpoint needs an access token")

    async def _principal(self, token: str) -> Principal:
        assert self.state.authenticator is not None
        try:
            return await self.state.authenticator.authenticate(token)
        except InvalidToken as exc:
            raise unauthorized(exc.code, exc.message) from None

    async def _api_key_principal(self, api_key: str) -> tuple[str, Principal]:
        """The token an API key stands for and its principal. A cached token that is refused
        (its key was revoked since) is dropped and the key exchanged again once: auth then
        refuses a revoked key, and a key still good gets a fresh token."""
        exchange = self.state.exchange
        if exchange is None:
            raise ApiError(503, "service_not_deployed", "auth is not deployed: API keys unusable")
        token = await exchange.token(api_key)
        try:
            return token, await self._principal(token)
        except ApiError:
            exchange.forget(api_key)
        token = await exchange.token(api_key)
        return token, await self._principal(token)

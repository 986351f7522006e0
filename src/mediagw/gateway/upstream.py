"""Where a routed request goes: a service app in this process, or a service over HTTP.

Both speak ASGI to the gateway, so the dispatcher does not care which mode it runs in. The HTTP
upstream pools connections, bounds every call with timeouts, and sits behind a circuit breaker.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import httpx
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from mediagw.common.edge import PASSED_THE_EDGE
from mediagw.common.errors import ApiError
from mediagw.gateway.breaker import CircuitBreaker

HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te",
     b"trailers", b"transfer-encoding", b"upgrade", b"host", b"content-length"}
)  # fmt: skip


async def guarded(
    name: str,
    breaker: CircuitBreaker | None,
    call: Callable[[], Awaitable[httpx.Response]],
) -> httpx.Response:
    """One call to the service ``name`` behind its circuit breaker: refused at once while the
    breaker is open (503 with ``Retry-After``); a timeout is 504 and a transport failure 502,
    both counted against the breaker, as is a 5xx answer (which is returned: the caller decides
    what a 5xx becomes). Used for routed requests and for the gateway's API-key exchange."""
    if breaker is not None and not breaker.allow():
        raise ApiError(
            503,
            "upstream_unavailable",
            f"{name} is failing; the gateway stopped calling it for a moment",
            headers={"Retry-After": str(breaker.retry_after())},
        )
    try:
        response = await call()
    except httpx.TimeoutException:
        if breaker is not None:
            breaker.record_failure()
        raise ApiError(504, "upstream_timeout", f"{name} did not answer in time") from None
    except httpx.TransportError as exc:
        if breaker is not None:
            breaker.record_failure()
        raise ApiError(502, "upstream_unreachable", f"{name} is unreachable: {exc}") from None
    except BaseException:
        if breaker is not None:
            breaker.release()
        raise
    if breaker is not None:
        if response.status_code >= 500:
            breaker.record_failure()
        else:
            breaker.record_success()
    return response


class Upstream(Protocol):
    name: str

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...

    async def ready(self) -> None: ...

    async def document(self) -> dict[str, Any]:
        """The service's OpenAPI document: what it serves, and which operations need a token."""
        ...


def not_ready(service: str, response: httpx.Response) -> ConnectionError:
    """A service's failed readiness as the gateway reports it: the dependencies the service
    names as down, so the gateway's own ``/health/ready`` says *why* (``auth: postgres down``)."""
    try:
        dependencies = response.json().get("dependencies", {})
        down = sorted(name for name, state in dependencies.items() if state["status"] != "ok")
    except (ValueError, AttributeError, KeyError, TypeError):
        down = []
    why = f"{', '.join(down)} down" if down else "not ready"
    return ConnectionError(f"{service}: {why} (/health/ready answered {response.status_code})")


class InProcessUpstream:
    """A service app mounted in the gateway process (all-in-one mode)."""

    def __init__(self, name: str, app: FastAPI, ready: Callable[[], Awaitable[None]]) -> None:
        self.name = name
        self.app: ASGIApp = app
        self._service = app
        self._ready = ready

    async def document(self) -> dict[str, Any]:
        return self._service.openapi()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[PASSED_THE_EDGE] = True  # the gateway's own layers ran: see common.edge
        await self.app(scope, receive, send)

    async def ready(self) -> None:
        await self._ready()


class HttpUpstream:
    """A service reached over HTTP (per-service mode)."""

    def __init__(
        self,
        name: str,
        base_url: str,
        client: httpx.AsyncClient,
        breaker: CircuitBreaker,
        trust_forwarded_for: bool = False,
    ) -> None:
        self.name = name
        self.base_url = base_url
        self.client = client
        self.breaker = breaker
        self.trust_forwarded_for = trust_forwarded_for

    @property
    def connect_timeout(self) -> float:
        """The client's connect timeout (also bounds a WebSocket handshake upstream)."""
        connect = self.client.timeout.connect
        return float(connect) if connect is not None else 5.0

    async def ready(self) -> None:
        response = await self.client.get(f"{self.base_url}/health/ready")
        if response.status_code != 200:
            raise not_ready(self.name, response)

    async def document(self) -> dict[str, Any]:
        response = await self.client.get(f"{self.base_url}/openapi.json")
        response.raise_for_status()
        document: dict[str, Any] = response.json()
        return document

    async def _forward(self, scope: Scope, receive: Receive) -> httpx.Response:
        """Send the request upstream (``guarded`` maps its failures)."""
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        headers = [
            (k, v)
            for k, v in scope["headers"]
            if k.lower() not in HOP_BY_HOP and k.lower() != b"x-forwarded-for"
        ]
        client_host = scope.get("client", ("", 0))[0] if scope.get("client") else ""
        # Services trust this header from the gateway, so a client's own X-Forwarded-For is
        # dropped (it would let anyone pick the address rate limits and audit logs see), unless
        # the gateway itself sits behind a proxy it trusts: then the chain is extended.
        chain = [client_host]
        if self.trust_forwarded_for:
            incoming = b",".join(v for k, v in scope["headers"] if k.lower() == b"x-forwarded-for")
            parts = incoming.decode("latin-1").split(",")
            chain = [*(p.strip() for p in parts if p.strip()), client_host]
        headers.append((b"x-forwarded-for", ", ".join(chain).encode("latin-1")))
        url = f"{self.base_url}{scope['path']}"
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode("latin-1")
        request = self.client.build_request(scope["method"], url, headers=headers, content=body)
        return await self.client.send(request, stream=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await guarded(self.name, self.breaker, lambda: self._forward(scope, receive))
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [
                        (k, v) for k, v in response.headers.raw if k.lower() not in HOP_BY_HOP
                    ],
                }
            )
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()

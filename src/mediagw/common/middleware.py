"""The edge: what every service does around every request, in one pure-ASGI pass.

One layer instead of a stack of six (request id, metrics, security headers, last-resort errors,
header and body limits): each layer of a stack wraps ``send`` again and adds frames to every
message, and the gateway's health route — the floor under every path — paid for all of them.
The order of the old stack is kept where it shows: the request id and the security headers are
on every answer, the edge's own error answers included; metrics record those answers too.

A request the all-in-one gateway hands to a service mounted in its process has already passed
the gateway's edge (``mediagw.common.edge``): the service's edge then only records its metrics
and answers unexpected errors, which are the service's own.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mediagw.common.edge import passed_the_edge
from mediagw.common.errors import ApiError, dependency_unavailable, error_payload
from mediagw.common.metrics import RequestMetrics
from mediagw.common.requestid import HEADER as REQUEST_ID_HEADER
from mediagw.common.requestid import adopt_request_id, bind_request_id, unbind_request_id

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
"""Headers an API should always send; API answers are also never cached by default."""
_CSP = b"content-security-policy"
_DOC_PATHS = ("/docs", "/redoc")
_REQUEST_ID = REQUEST_ID_HEADER.encode()
log = logging.getLogger("mediagw.errors")


class BodyTooLarge(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            413, "payload_too_large", f"request body exceeds the {limit}-byte limit", field="body"
        )


class HeadersTooLarge(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            431,
            "headers_too_large",
            f"request headers exceed the {limit}-byte limit",
            field="headers",
        )


class EdgeMiddleware:
    """Request ids, RED metrics, security headers, header and body limits and the last-resort
    error answer, for HTTP and WebSocket scopes, in one pass."""

    def __init__(
        self, app: ASGIApp, *, service: str, max_body_bytes: int, max_header_bytes: int
    ) -> None:
        self.app = app
        self.metrics = RequestMetrics(service)
        self.body_limit = max_body_bytes
        self.header_limit = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket" and not passed_the_edge(scope):
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _RequestHeaders(scope)
        token = bind_request_id(adopt_request_id(scope, headers.request_id))
        try:
            if headers.size > self.header_limit:  # refused before the handshake is accepted
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
        finally:
            unbind_request_id(token)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        at_edge = not passed_the_edge(scope)
        headers = _RequestHeaders(scope) if at_edge else None
        request_id = adopt_request_id(scope, headers.request_id) if headers else None
        token = bind_request_id(request_id) if request_id is not None else None
        measured = scope.get("path") != "/metrics"
        started_at = time.perf_counter()
        if measured:
            self.metrics.in_flight.inc()
        answer = _Answer(send, request_id, relax_csp=str(scope["path"]).startswith(_DOC_PATHS))
        try:
            await self._guarded(scope, receive, answer, headers)
        finally:
            if measured:
                self.metrics.in_flight.dec()
                self.metrics.record(scope, answer.status, time.perf_counter() - started_at)
            if token is not None:
                unbind_request_id(token)

    async def _guarded(
        self, scope: Scope, receive: Receive, answer: _Answer, headers: _RequestHeaders | None
    ) -> None:
        """The limits, then the app; an exception before the answer started is answered here.

        Starlette's own last-resort handler answers from outside every middleware, so its 500
        would lack the request id and the security headers; this one is inside them.
        """
        try:
            if headers is not None:
                await self._limited(scope, receive, answer, headers)
            else:
                await self.app(scope, receive, answer.send)
        except BodyTooLarge as too_large:
            if answer.started:
                raise
            await send_error(answer.send_out, too_large, close=True)
        except Exception as exc:
            if answer.started:
                raise
            # A middleware's own backend call (the gateway's revocation check, rate limits)
            # fails outside the route handlers: a lost backend is still a 503, not a bug.
            error = dependency_unavailable(exc)
            if error is None:
                log.exception(
                    "unhandled error on %s %s", scope.get("method"), scope.get("path"), exc_info=exc
                )
                error = ApiError(
                    500, "internal_error", "an unexpected error occurred; see the logs"
                )
            await send_error(answer.send_out, error)

    async def _limited(
        self, scope: Scope, receive: Receive, answer: _Answer, headers: _RequestHeaders
    ) -> None:
        """Refuse headers over the limit with 431 and bodies over it with 413 — by
        Content-Length, or while the body streams in."""
        if headers.size > self.header_limit:
            await send_error(answer.send_out, HeadersTooLarge(self.header_limit), close=True)
            return
        declared = headers.content_length
        if declared is not None and (not declared.isdigit() or int(declared) > self.body_limit):
            await send_error(answer.send_out, BodyTooLarge(self.body_limit), close=True)
            return
        received = 0
        limit = self.body_limit

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    answer.body_too_large = BodyTooLarge(limit)
                    raise answer.body_too_large
            return message

        await self.app(scope, counting_receive, answer.send)


class _RequestHeaders:
    """What the edge reads of the request's headers, in one pass over them.

    ``size`` counts names and values, as nginx's and h11's limits do: httptools sets no limit
    of its own (a 200 KB cookie was served like any request). The last of repeated headers
    wins, as in a dict of them.
    """

    __slots__ = ("content_length", "request_id", "size")

    def __init__(self, scope: Scope) -> None:
        self.size = 0
        self.request_id = b""
        self.content_length: bytes | None = None
        for name, value in scope["headers"]:
            self.size += len(name) + len(value)
            if name == _REQUEST_ID:
                self.request_id = value
            elif name == b"content-length":
                self.content_length = value


class _Answer:
    """The one ``send`` wrapper of a request: edge headers on the way out, the status for the
    metrics, whether the answer started, and the 413 that replaces whatever the app answers to
    a body cut short (FastAPI turns the error raised from ``receive`` into a 400 of its own)."""

    __slots__ = (
        "_send",
        "body_too_large",
        "relax_csp",
        "replaced",
        "request_id",
        "started",
        "status",
    )

    def __init__(self, send: Send, request_id: str | None, *, relax_csp: bool) -> None:
        self._send = send
        self.request_id = request_id
        self.relax_csp = relax_csp
        self.status = 500
        self.started = self.replaced = False
        self.body_too_large: BodyTooLarge | None = None

    async def send(self, message: Message) -> None:
        """What the app is given."""
        if self.replaced:
            return
        if message["type"] == "http.response.start" and self.body_too_large is not None:
            self.replaced = True
            await send_error(self.send_out, self.body_too_large, close=True)
            return
        await self.send_out(message)

    async def send_out(self, message: Message) -> None:
        """To the server, with the edge's headers (the edge's own answers start here)."""
        if message["type"] == "http.response.start":
            self.started = True
            self.status = int(message["status"])
            if self.request_id is not None:
                message["headers"] = self._edge_headers(message.get("headers", []))
        await self._send(message)

    def _edge_headers(self, headers: Any) -> list[tuple[bytes, bytes]]:
        present = {key.lower() for key, _ in headers}
        out = [(key, value) for key, value in headers if key.lower() != _REQUEST_ID]
        for key, value in SECURITY_HEADERS:
            if key not in present and not (self.relax_csp and key == _CSP):
                out.append((key, value))
        if b"cache-control" not in present:
            out.append((b"cache-control", b"no-store"))
        assert self.request_id is not None  # only answers at the edge get these
        out.append((_REQUEST_ID, self.request_id.encode()))
        return out


async def send_error(send: Send, error: ApiError, *, close: bool = False) -> None:
    """Answer with the shared error shape from plain ASGI code (outside FastAPI's handlers)."""
    body = json.dumps(error_payload(error.code, error.message, error.field)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in error.headers.items()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

"""Pure-ASGI middleware shared by every service: security headers and the body-size limit.

Pure ASGI (not BaseHTTPMiddleware) keeps the per-request cost to a function call, which matters
for the gateway's overhead budget.
"""

from __future__ import annotations

import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mediagw.common.edge import passed_the_edge
from mediagw.common.errors import ApiError, dependency_unavailable, error_payload

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
_DOC_PATHS = ("/docs", "/redoc")
log = logging.getLogger("mediagw.errors")


class SecurityHeadersMiddleware:
    """Adds the headers an API should always send; API answers are never cached by default."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or passed_the_edge(scope):
            await self.app(scope, receive, send)
            return
        relax_csp = str(scope.get("path", "")).startswith(_DOC_PATHS)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                for key, value in SECURITY_HEADERS:
                    if key in present or (relax_csp and key == b"content-security-policy"):
                        continue
                    headers.append((key, value))
                if b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyTooLarge(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            413, "payload_too_large", f"request body exceeds the {limit}-byte limit", field="body"
        )


class BodySizeLimitMiddleware:
    """Refuses bodies over ``limit`` bytes with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or passed_the_edge(scope):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await send_error(send, BodyTooLarge(self.limit), close=True)
            return
        received = 0
        exceeded = started = replaced = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    exceeded = True
                    raise BodyTooLarge(self.limit)
            return message

        async def guarded_send(message: Message) -> None:
            # Frameworks may turn the error raised from receive() into an answer of their own
            # (FastAPI: 400 "error parsing the body"); whatever the app answers to a body cut
            # short is replaced by the 413 it deserves.
            nonlocal started, replaced
            if replaced:
                return
            if message["type"] == "http.response.start":
                if exceeded:
                    replaced = True
                    await send_error(send, BodyTooLarge(self.limit), close=True)
                    return
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except BodyTooLarge as error:
            if started or replaced:
                raise
            await send_error(send, error, close=True)


class HeadersTooLarge(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            431,
            "headers_too_large",
            f"request headers exceed the {limit}-byte limit",
            field="headers",
        )


class HeaderSizeLimitMiddleware:
    """Refuses requests whose headers total more than ``limit`` bytes with 431.

    The HTTP parser (httptools) sets no limit of its own, so without this a 200 KB cookie was
    served like any request. A WebSocket handshake over the limit is refused (403) before it is
    accepted. Sizes count names and values, as nginx's and h11's limits do.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not passed_the_edge(scope):
            size = sum(len(name) + len(value) for name, value in scope["headers"])
            if size > self.limit:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                else:
                    await send_error(send, HeadersTooLarge(self.limit), close=True)
                return
        await self.app(scope, receive, send)


class UnexpectedErrorMiddleware:
    """Answers an unhandled exception with the shared 500 error inside the middleware stack.

    Starlette's last-resort handler answers from outside every middleware, so its 500 would
    lack the request id (in the body and the header), the security headers and CORS. This one
    sits just inside them; the exception is logged with its traceback here.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
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
            await send_error(send, error)


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

"""WebSockets to a service reached over HTTP (per-service mode): one upstream socket per client.

The gateway connects to the service first and accepts the client's socket only once the
service has accepted its own, so a client never holds an open socket to nowhere. Then frames
are relayed as they come, both ways, text as text and bytes as bytes; whichever side closes
first, its close code and reason reach the other side (the sync service's 4401/4403 and 1009
must reach a device unchanged). The service authenticates the socket itself, exactly as in
all-in-one mode; the gateway forwards the handshake's ``Authorization``, ``Origin`` and request
id headers and the query string.

A service that cannot be reached counts against the same circuit breaker as its HTTP traffic;
the client's socket is then accepted and closed at once with 1013 (try again later) and a
reason — a handshake refused before accepting would reach the device as a bare HTTP 403, which
says nothing about retrying.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import websockets
from starlette.types import Receive, Scope, Send
from websockets.asyncio.client import ClientConnection

from mediagw.gateway.breaker import CircuitBreaker

log = logging.getLogger("mediagw.gateway.wsproxy")
FORWARDED_HEADERS = (b"authorization", b"origin", b"x-request-id", b"user-agent")
TRY_AGAIN_LATER = 1013
MAX_FRAME_BYTES = 16 * 1024 * 1024
"""The relay does not judge frame sizes: the service enforces its own limit (and closes with
1009); this only bounds what the gateway buffers for one frame."""


def ws_url(base_url: str, scope: Scope) -> str:
    url = base_url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    url += str(scope["path"])
    if scope.get("query_string"):
        url += "?" + scope["query_string"].decode("latin-1")
    return url


async def proxy(
    name: str,
    base_url: str,
    breaker: CircuitBreaker,
    open_timeout: float,
    scope: Scope,
    receive: Receive,
    send: Send,
) -> None:
    """Relay one client socket to the service ``name`` at ``base_url``."""
    if (await receive())["type"] != "websocket.connect":
        return
    if not breaker.allow():
        await _refuse(send, f"{name} is failing")
        return
    headers = [
        (k.decode("latin-1"), v.decode("latin-1"))
        for k, v in scope["headers"]
        if k.lower() in FORWARDED_HEADERS
    ]
    subprotocols: Any = scope.get("subprotocols") or None
    try:
        upstream = await websockets.connect(
            ws_url(base_url, scope),
            additional_headers=headers,
            subprotocols=subprotocols,
            open_timeout=open_timeout,
            max_size=MAX_FRAME_BYTES,
            compression=None,
        )
    except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.InvalidURI) as exc:
        log.warning("WebSocket to %s failed: %s", name, exc)
        breaker.record_failure()
        await _refuse(send, f"{name} unreachable")
        return
    breaker.record_success()
    async with upstream:
        await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol})
        await _relay(upstream, receive, send)


async def _refuse(send: Send, reason: str) -> None:
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": TRY_AGAIN_LATER, "reason": reason})


async def _relay(upstream: ClientConnection, receive: Receive, send: Send) -> None:
    client_task = asyncio.ensure_future(_client_to_upstream(upstream, receive))
    upstream_task = asyncio.ensure_future(_upstream_to_client(upstream, send))
    try:
        await asyncio.wait({client_task, upstream_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (client_task, upstream_task):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await task


async def _client_to_upstream(upstream: ClientConnection, receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "websocket.receive":
            text = message.get("text")
            await upstream.send(text if text is not None else message.get("bytes") or b"")
        elif message["type"] == "websocket.disconnect":
            code = int(message.get("code") or 1000)
            # 1005/1006 are not codes a peer may send: a client that vanished is a going-away.
            await upstream.close(code=code if code not in (1005, 1006) else 1001)
            return


async def _upstream_to_client(upstream: ClientConnection, send: Send) -> None:
    try:
        async for data in upstream:
            if isinstance(data, str):
                await send({"type": "websocket.send", "text": data})
            else:
                await send({"type": "websocket.send", "bytes": bytes(data)})
    except websockets.ConnectionClosed:
        pass
    code = upstream.close_code
    reason = upstream.close_reason or ""
    if code is None or code == 1006:  # the service went away without a close frame
        code, reason = 1011, "upstream closed"
    await send(
        {"type": "websocket.close", "code": code if code != 1005 else 1000, "reason": reason}
    )

"""Malformed HTTP and oversized WebSocket frames through the gateway, on raw sockets.

Below the application: a request the HTTP parser cannot read is answered 400 by the server
(uvicorn's plain-text answer; no JSON is possible before a request exists) and the connection
is closed, so nothing smuggled behind it is read as a second request. Headers over the limit
(``MG_MAX_HEADER_BYTES``, 16 KiB) get the shared JSON error with 431. On the sync socket, a
frame over the service's limit is refused with an error frame and the socket stays usable; one
over what the gateway buffers for one frame (16 MiB) closes it with 1009. After all of it the
gateway is still ready.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from harness.accounts import Account, expect
from harness.stack import Stack

pytestmark = pytest.mark.e2e

HEADER_LIMIT = 16_384
RELAY_LIMIT = 16 * 1024 * 1024
SERVICE_FRAME_LIMIT = 65_536


def _raw(stack: Stack, request: bytes) -> tuple[bytes, bool]:
    """Send bytes on a fresh connection; (everything answered, whether the server closed it)."""
    parts = urlsplit(stack.base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as conn:
        conn.sendall(request)
        answer = b""
        while True:
            try:
                chunk = conn.recv(65_536)
            except TimeoutError:
                return answer, False
            if not chunk:
                return answer, True
            answer += chunk


MALFORMED = {
    "not HTTP at all": b"GARBAGE\r\n\r\n",
    "a header line without a colon": b"GET /health/live HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n",
    "an unknown HTTP version": b"GET /health/live HTTP/9.9\r\nHost: x\r\n\r\n",
    "a negative Content-Length": (
        b"GET /health/live HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"
    ),
    "a chunk size that is not hex": (
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nZZZ\r\n{}\r\n0\r\n\r\n"
    ),
    # Content-Length and chunked together is the classic smuggling shape: refused outright,
    # and the "second request" hidden in the body is never answered.
    "Content-Length with chunked, hiding a second request": (
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /health/live HTTP/1.1\r\nHost: x\r\n\r\n"
    ),
}


@pytest.mark.parametrize("request_bytes", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_request_the_parser_cannot_read_is_400_and_the_connection_closes(
    stack: Stack, request_bytes: bytes
) -> None:
    answer, closed = _raw(stack, request_bytes)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert answer.count(b"HTTP/1.1 ") == 1, "a second answer: something behind it was read"
    assert closed, "the connection stayed open after a request it could not read"


def test_headers_over_the_limit_are_431_with_the_shared_error(api: httpx.Client) -> None:
    big = {"X-Padding": "a" * (HEADER_LIMIT + 1)}
    refused = api.get("/health/live", headers=big)
    assert refused.status_code == 431, refused.text
    error = refused.json()["error"]
    assert (error["code"], error["field"]) == ("headers_too_large", "headers")
    assert str(HEADER_LIMIT) in error["message"]
    assert refused.headers["connection"] == "close"


def test_headers_under_the_limit_are_served(api: httpx.Client) -> None:
    expect(api.get("/health/live", headers={"X-Padding": "a" * (HEADER_LIMIT // 2)}), 200)


def test_a_200_kb_cookie_on_a_raw_socket_is_refused(stack: Stack) -> None:
    request = b"GET /health/live HTTP/1.1\r\nHost: x\r\nCookie: " + b"c" * 200_000 + b"\r\n\r\n"
    answer, _ = _raw(stack, request)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]


def _ws_url(stack: Stack, account: Account) -> str:
    return stack.base_url.replace("http://", "ws://") + (
        f"/api/v1/sync/ws?access_token={account.access_token}"
    )


HANDSHAKE_HEADERS = {
    # One line over the WebSocket server's own 8 KiB line limit: its 431, before the app.
    "one oversized line": ({"X-Padding": "a" * 9_000}, 431),
    # Lines each under that limit, together over MG_MAX_HEADER_BYTES: the app's refusal of a
    # handshake, which HTTP-wise is a 403.
    "many lines over the total": ({f"X-Padding-{i}": "a" * 6_000 for i in range(3)}, 403),
}


@pytest.mark.parametrize(
    ("headers", "status"), HANDSHAKE_HEADERS.values(), ids=HANDSHAKE_HEADERS.keys()
)
def test_a_websocket_handshake_with_oversized_headers_is_refused(
    stack: Stack, new_account: Callable[..., Account], headers: dict[str, str], status: int
) -> None:
    user = new_account()

    async def scenario() -> None:
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(
                _ws_url(stack, user), additional_headers=headers, open_timeout=10
            )
        assert refused.value.response.status_code == status

    asyncio.run(scenario())


async def _next_error(ws: websockets.ClientConnection) -> dict[str, object]:
    async with asyncio.timeout(10):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "error":
                return dict(message)


def test_a_frame_over_the_sync_limit_is_refused_and_the_socket_stays_usable(
    stack: Stack, new_account: Callable[..., Account]
) -> None:
    user = new_account()

    async def scenario() -> None:
        async with websockets.connect(_ws_url(stack, user), max_size=2**24) as ws:
            frame = json.dumps({"v": 1, "type": "ping", "pad": "x" * SERVICE_FRAME_LIMIT})
            await ws.send(frame)
            error = await _next_error(ws)
            assert error["code"] == "frame_too_large", error
            await ws.send(json.dumps({"v": 1, "type": "teleport"}))  # still read and answered
            assert (await _next_error(ws))["code"] == "unknown_type"

    asyncio.run(scenario())


async def _read_until_closed(ws: websockets.ClientConnection) -> ConnectionClosed:
    async with asyncio.timeout(20):
        while True:
            try:
                await ws.recv()
            except ConnectionClosed as closed:
                return closed


def test_a_frame_over_what_the_gateway_buffers_closes_the_socket_with_1009(
    stack: Stack, new_account: Callable[..., Account]
) -> None:
    user = new_account()

    async def scenario() -> None:
        async with websockets.connect(_ws_url(stack, user), max_size=2**25) as ws:
            await ws.send("x" * (RELAY_LIMIT + 1))
            closed = await _read_until_closed(ws)
            assert closed.rcvd is not None
            assert closed.rcvd.code == 1009

    asyncio.run(scenario())


def test_the_gateway_is_still_ready_after_the_abuse(api: httpx.Client) -> None:
    expect(api.get("/health/ready"), 200)

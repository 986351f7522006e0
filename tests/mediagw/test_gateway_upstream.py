"""The HTTP upstream of per-service mode on its own: what it forwards, what it drops, and what a
failing service becomes.

The service is an ``httpx.MockTransport`` — a unit test of the forwarding rules and the breaker;
suites/services/test_per_service_mode.py runs the same code against real service processes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from mediagw.common.errors import ApiError
from mediagw.gateway.breaker import CircuitBreaker
from mediagw.gateway.upstream import HttpUpstream

pytestmark = pytest.mark.unit

Handler = Callable[[httpx.Request], httpx.Response]


def _upstream(
    handler: Handler, *, trust_forwarded_for: bool = False, threshold: int = 2
) -> tuple[HttpUpstream, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(record))
    breaker = CircuitBreaker("svc-test", threshold=threshold, reset_seconds=30)
    upstream = HttpUpstream(
        "svc", "http://svc", client, breaker, trust_forwarded_for=trust_forwarded_for
    )
    return upstream, seen


def _answer(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Handler:
    """A streamed answer, as a real connection gives one (the upstream relays it raw)."""
    return lambda _: httpx.Response(status, headers=headers, stream=httpx.ByteStream(body))


def _scope(headers: list[tuple[bytes, bytes]], query: bytes = b"") -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/things",
        "query_string": query,
        "headers": headers,
        "client": ("203.0.113.9", 5555),
    }


def _call(upstream: HttpUpstream, scope: dict[str, Any], body: bytes = b"{}") -> list[Any]:
    sent: list[Any] = []
    chunks = [
        {"type": "http.request", "body": body[:1], "more_body": True},
        {"type": "http.request", "body": body[1:], "more_body": False},
    ]

    async def receive() -> Any:
        return chunks.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    asyncio.run(upstream(scope, receive, send))
    return sent


def test_the_request_is_forwarded_whole_without_hop_by_hop_headers() -> None:
    upstream, seen = _upstream(_answer(201, b'{"ok":true}', {"Connection": "close"}))
    headers = [
        (b"authorization", b"Bearer t"),
        (b"connection", b"keep-alive"),
        (b"host", b"gateway"),
        (b"content-type", b"application/json"),
    ]
    sent = _call(upstream, _scope(headers, b"a=1&b=2"), b'{"x": 1}')
    (request,) = seen
    assert str(request.url) == "http://svc/api/v1/things?a=1&b=2"
    assert request.content == b'{"x": 1}'
    assert request.headers["authorization"] == "Bearer t"
    assert request.headers["x-forwarded-for"] == "203.0.113.9"
    assert request.headers["host"] == "svc"  # the upstream's own, not the gateway's
    start = sent[0]
    assert start["status"] == 201
    assert b"connection" not in {k.lower() for k, _ in start["headers"]}
    assert b"".join(m.get("body", b"") for m in sent[1:]) == b'{"ok":true}'


@pytest.mark.parametrize(
    ("trusted", "expected"), [(False, "203.0.113.9"), (True, "198.51.100.7, 203.0.113.9")]
)
def test_a_clients_x_forwarded_for_is_dropped_unless_the_gateway_trusts_its_proxy(
    trusted: bool, expected: str
) -> None:
    upstream, seen = _upstream(_answer(200), trust_forwarded_for=trusted)
    _call(upstream, _scope([(b"x-forwarded-for", b"198.51.100.7")]))
    assert seen[0].headers["x-forwarded-for"] == expected


def _raise(exc: Exception) -> Handler:
    def handler(_: httpx.Request) -> httpx.Response:
        raise exc

    return handler


def _refused(upstream: HttpUpstream) -> ApiError:
    with pytest.raises(ApiError) as info:
        _call(upstream, _scope([]))
    return info.value


def test_a_timeout_is_504_and_a_dead_service_502_then_the_breaker_sheds_with_503() -> None:
    upstream, _ = _upstream(_raise(httpx.ReadTimeout("slow")))
    assert (_refused(upstream).status, _refused(upstream).code) == (504, "upstream_timeout")

    upstream, seen = _upstream(_raise(httpx.ConnectError("refused")))
    assert _refused(upstream).status == 502
    assert _refused(upstream).code == "upstream_unreachable"
    shed = _refused(upstream)
    assert (shed.status, shed.code) == (503, "upstream_unavailable")
    assert int(shed.headers["Retry-After"]) >= 1
    assert len(seen) == 2, "the open breaker answered without calling the service"


def test_5xx_answers_count_against_the_breaker_and_are_passed_on() -> None:
    upstream, seen = _upstream(_answer(500, b'{"error": "boom"}'))
    for _ in range(2):
        assert _call(upstream, _scope([]))[0]["status"] == 500
    assert _refused(upstream).status == 503
    assert len(seen) == 2


def test_a_4xx_answer_is_the_services_word_and_keeps_the_breaker_closed() -> None:
    upstream, seen = _upstream(_answer(404, b'{"error": "no"}'))
    for _ in range(4):
        assert _call(upstream, _scope([]))[0]["status"] == 404
    assert len(seen) == 4

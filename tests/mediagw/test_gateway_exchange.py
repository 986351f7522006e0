"""The gateway's API-key exchange on its own: what auth's answers and failures become.

Auth is replaced by an ``httpx.MockTransport`` answering as the test says — a unit test of the
error mapping, the cache and the breaker; the real exchange against the real auth service is
covered by suites/services/e2e/test_api_keys.py and suites/services/test_per_service_mode.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from mediagw.common.errors import ApiError
from mediagw.gateway import exchange as exchange_module
from mediagw.gateway.breaker import CircuitBreaker
from mediagw.gateway.exchange import ApiKeyExchange

pytestmark = pytest.mark.unit

KEY = "mgk_" + "A" * 12 + "_" + "B" * 43


def _exchange(
    answer: Callable[[httpx.Request], httpx.Response], breaker: CircuitBreaker | None = None
) -> tuple[ApiKeyExchange, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://auth")
    return ApiKeyExchange(client, breaker), seen


def _token(expires_in: int = 300) -> Callable[[httpx.Request], httpx.Response]:
    return lambda _: httpx.Response(200, json={"access_token": "t-1", "expires_in": expires_in})


def _refused(exchange: ApiKeyExchange) -> ApiError:
    with pytest.raises(ApiError) as info:
        asyncio.run(exchange.token(KEY))
    return info.value


def test_a_token_is_cached_until_near_its_expiry_and_forgotten_on_demand() -> None:
    exchange, seen = _exchange(_token())
    assert asyncio.run(exchange.token(KEY)) == "t-1"
    assert asyncio.run(exchange.token(KEY)) == "t-1"
    assert len(seen) == 1
    assert seen[0].headers["x-api-key"] == KEY
    exchange.forget(KEY)
    asyncio.run(exchange.token(KEY))
    assert len(seen) == 2


def test_expired_entries_are_evicted_when_another_key_is_exchanged() -> None:
    # A token living exactly the margin is expired on arrival: the next insert evicts it.
    exchange, seen = _exchange(_token(expires_in=exchange_module.MARGIN_SECONDS))
    asyncio.run(exchange.token(KEY))
    assert len(exchange) == 1
    asyncio.run(exchange.token(KEY.replace("B", "C")))
    assert len(exchange) == 1  # the first key's entry is gone, only the newest is kept
    assert len(seen) == 2


def test_an_unknown_key_keeps_auths_status_and_code() -> None:
    body = {"error": {"code": "invalid_api_key", "message": "API key is unknown"}}
    exchange, _ = _exchange(lambda _: httpx.Response(401, json=body))
    error = _refused(exchange)
    assert (error.status, error.code, error.field) == (401, "invalid_api_key", "X-API-Key")


@pytest.mark.parametrize(
    ("answer", "status", "code"),
    [
        (lambda _: httpx.Response(500, text="<html>oops</html>"), 502, "upstream_error"),
        (lambda _: httpx.Response(503, json={"error": "down"}), 502, "upstream_error"),
        (lambda _: httpx.Response(200, text="not json"), 502, "upstream_error"),
        (lambda _: httpx.Response(200, json={"token": "misnamed"}), 502, "upstream_error"),
        (lambda _: httpx.Response(401, text="plain text"), 401, "invalid_api_key"),
    ],
)
def test_odd_answers_become_clear_errors_never_a_500(
    answer: Callable[[httpx.Request], httpx.Response], status: int, code: str
) -> None:
    exchange, _ = _exchange(answer)
    error = _refused(exchange)
    assert (error.status, error.code) == (status, code)


def _raise(exc: Exception) -> Callable[[httpx.Request], Any]:
    def handler(_: httpx.Request) -> Any:
        raise exc

    return handler


def test_transport_failures_open_auths_breaker_then_fail_fast_with_retry_after() -> None:
    breaker = CircuitBreaker("auth-test", threshold=2, reset_seconds=30)
    exchange, seen = _exchange(_raise(httpx.ConnectError("refused")), breaker)
    assert (_refused(exchange).status, _refused(exchange).status) == (502, 502)
    shed = _refused(exchange)
    assert (shed.status, shed.code) == (503, "upstream_unavailable")
    assert int(shed.headers["Retry-After"]) >= 1
    assert len(seen) == 2  # the third call never reached auth


def test_a_timeout_is_504() -> None:
    exchange, _ = _exchange(_raise(httpx.ReadTimeout("slow")))
    assert (_refused(exchange).status, _refused(exchange).code) == (504, "upstream_timeout")

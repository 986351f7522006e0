"""The shared app factory: one error shape, request ids, security headers, health, metrics."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
import psycopg
import pytest
import redis.exceptions
from fastapi import APIRouter, FastAPI
from psycopg_pool import PoolTimeout
from pydantic import BaseModel, Field
from starlette.types import Receive, Scope, Send

from mediagw.common.app import create_service_app
from mediagw.common.errors import ApiError, ErrorBody, field_path
from mediagw.common.health import Check
from mediagw.common.middleware import SECURITY_HEADERS, EdgeMiddleware
from mediagw.common.settings import ServiceSettings

pytestmark = pytest.mark.unit

BODY_LIMIT = 1024


# --- field_path ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        (("body", "user", 0, "email"), "user[0].email"),
        (("body", "email"), "email"),
        (("query", "page_size"), "page_size"),
        (("path", "item_id"), "item_id"),
        (("header", "x-api-key"), "x-api-key"),
        (("cookie", "sid"), "sid"),
        (("body", 0), "[0]"),
        (("body", "items", 2), "items[2]"),
        (("body", "a", "b", 1, 3, "c"), "a.b[1][3].c"),
        (("user", "name"), "user.name"),  # no source prefix: nothing dropped
        (("body",), "body"),  # the body as a whole
        (("query",), None),
        ((), None),
    ],
)
def test_field_path(location: tuple[int | str, ...], expected: str | None) -> None:
    assert field_path(location) == expected


# --- a tiny service -----------------------------------------------------------------------


class Item(BaseModel):
    name: str = Field(min_length=1, max_length=50)
    tags: list[str] = []


router = APIRouter()


@router.get("/items/{item_id}")
async def get_item(item_id: int) -> dict[str, int]:
    return {"id": item_id}


@router.post("/items", status_code=201)
async def create_item(item: Item) -> dict[str, Any]:
    return {"name": item.name, "size": len(item.tags)}


@router.get("/conflict")
async def conflict() -> None:
    raise ApiError(409, "already_exists", "that item exists", field="name", headers={"X-A": "1"})


@router.get("/boom")
async def boom() -> None:
    raise RuntimeError("kaboom: internal detail")


@router.get("/database-gone")
async def database_gone() -> None:
    raise psycopg.OperationalError("connection failed: Connection refused")


@router.get("/pool-empty")
async def pool_empty() -> None:
    raise PoolTimeout("couldn't get a connection after 5.00 sec")


@router.get("/redis-gone")
async def redis_gone() -> None:
    raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379.")


@asynccontextmanager
async def no_resources(_: FastAPI) -> AsyncIterator[None]:
    yield


async def passing_probe() -> None:
    return None


async def failing_probe() -> None:
    raise ConnectionRefusedError("nothing listens on 127.0.0.1:1")


def make_app(*, required_fails: bool = False, service: str | None = None) -> tuple[FastAPI, str]:
    """An app whose `db` probe passes and whose `cache` probe fails; one of them is required."""
    name = service or f"unit-{uuid.uuid4().hex[:8]}"

    def checks(_: FastAPI) -> dict[str, tuple[Check, bool]]:
        return {"db": (passing_probe, not required_fails), "cache": (failing_probe, required_fails)}

    app = create_service_app(
        service=name,
        settings=ServiceSettings(max_body_bytes=BODY_LIMIT, env="test"),
        routers=[router],
        lifespan=no_resources,
        checks=checks,
        description="unit-test service",
    )
    return app, name


Call = Callable[..., Awaitable[httpx.Response]]


def drive(app: FastAPI, scenario: Callable[[Call], Awaitable[Any]]) -> Any:
    """Run ``scenario(call)`` against ``app`` in-process on a fresh event loop."""

    async def run() -> Any:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            return await scenario(client.request)

    return asyncio.run(run())


def one(app: FastAPI, method: str, url: str, **kwargs: Any) -> httpx.Response:
    async def scenario(call: Call) -> httpx.Response:
        return await call(method, url, **kwargs)

    response: httpx.Response = drive(app, scenario)
    return response


def assert_error_shape(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    ErrorBody.model_validate(body)  # exactly {"error": {code, message, field, request_id}}
    assert set(body["error"]) == {"code", "message", "field", "request_id"}
    detail: dict[str, Any] = body["error"]
    assert detail["code"] == code
    assert detail["message"]
    assert detail["request_id"] == response.headers["x-request-id"]
    return detail


@pytest.fixture
def app() -> FastAPI:
    return make_app()[0]


# --- errors -------------------------------------------------------------------------------


def test_unknown_path_is_404_in_the_shared_shape(app: FastAPI) -> None:
    detail = assert_error_shape(one(app, "GET", "/nowhere"), 404, "not_found")
    assert detail["field"] is None


def test_wrong_method_is_405_in_the_shared_shape(app: FastAPI) -> None:
    response = one(app, "DELETE", "/items/1")
    assert_error_shape(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET"


def test_invalid_path_parameter_is_422_naming_the_field(app: FastAPI) -> None:
    detail = assert_error_shape(one(app, "GET", "/items/abc"), 422, "validation_failed")
    assert detail["field"] == "item_id"
    assert detail["message"].startswith("item_id: ")


def test_invalid_body_field_is_422_with_its_path(app: FastAPI) -> None:
    response = one(app, "POST", "/items", json={"name": "ok", "tags": ["a", 7]})
    detail = assert_error_shape(response, 422, "validation_failed")
    assert detail["field"] == "tags[1]"


def test_several_invalid_fields_report_the_first_and_count_the_rest(app: FastAPI) -> None:
    response = one(app, "POST", "/items", json={"name": "", "tags": [1, 2]})
    detail = assert_error_shape(response, 422, "validation_failed")
    assert detail["field"] == "name"
    assert detail["message"].endswith("(and 2 more problems)")


def test_malformed_json_is_400_not_422(app: FastAPI) -> None:
    response = one(
        app, "POST", "/items", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    detail = assert_error_shape(response, 400, "malformed_json")
    assert detail["field"] == "body"


def test_declared_oversized_body_is_413(app: FastAPI) -> None:
    response = one(app, "POST", "/items", json={"name": "x", "tags": ["y" * BODY_LIMIT]})
    detail = assert_error_shape(response, 413, "payload_too_large")
    assert detail["field"] == "body"
    assert f"{BODY_LIMIT}-byte limit" in detail["message"]
    assert response.headers["connection"] == "close"


def test_body_at_the_limit_is_accepted(app: FastAPI) -> None:
    payload = b'{"name": "x", "tags": ["' + b"y" * 100 + b'"]}'
    padded = payload + b" " * (BODY_LIMIT - len(payload))
    assert len(padded) == BODY_LIMIT
    response = one(
        app, "POST", "/items", content=padded, headers={"content-type": "application/json"}
    )
    assert response.status_code == 201, response.text


def test_streamed_oversized_body_is_413(app: FastAPI) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "x", "tags": ["'
        for _ in range(4):
            yield b"y" * 512
        yield b'"]}'

    async def scenario(call: Call) -> httpx.Response:
        return await call(
            "POST", "/items", content=chunks(), headers={"content-type": "application/json"}
        )

    response: httpx.Response = drive(app, scenario)
    assert "content-length" not in response.request.headers
    assert_error_shape(response, 413, "payload_too_large")


def test_api_error_keeps_status_code_field_and_headers(app: FastAPI) -> None:
    response = one(app, "GET", "/conflict")
    detail = assert_error_shape(response, 409, "already_exists")
    assert detail == {**detail, "message": "that item exists", "field": "name"}
    assert response.headers["x-a"] == "1"


@pytest.mark.parametrize(
    ("path", "dependency"),
    [("/database-gone", "postgres"), ("/pool-empty", "postgres"), ("/redis-gone", "redis")],
)
def test_an_unreachable_backend_is_503_dependency_unavailable_naming_it(
    app: FastAPI, path: str, dependency: str
) -> None:
    response = one(app, "GET", path)
    detail = assert_error_shape(response, 503, "dependency_unavailable")
    assert detail["message"] == "a backend this request needs is unavailable; retry shortly"
    assert response.headers["retry-after"] == "1"
    assert "127.0.0.1" not in response.text, "no internals in the body"
    assert dependency not in response.text, "which backend stays in the logs"


def test_a_backend_lost_outside_the_routes_is_503_too() -> None:
    """Like the gateway's token check, which calls Redis before any route runs: the last-resort
    middleware answers a lost backend as 503, not as a bug."""

    async def revocation_check(scope: Scope, receive: Receive, send: Send) -> None:
        raise redis.exceptions.ConnectionError("Connection closed by server.")

    async def scenario() -> httpx.Response:
        edge = EdgeMiddleware(
            revocation_check, service="unit", max_body_bytes=1024, max_header_bytes=8192
        )
        transport = httpx.ASGITransport(app=edge)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            return await client.get("/api/v1/watchlist")

    response = asyncio.run(scenario())
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "dependency_unavailable"
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["request_id"] == response.headers["x-request-id"]
    assert response.headers["x-content-type-options"] == "nosniff", "edge headers on it too"


def test_unexpected_exception_is_500_without_internals(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    response = one(app, "GET", "/boom")
    assert response.status_code == 500
    body = response.json()
    ErrorBody.model_validate(body)
    assert body["error"]["code"] == "internal_error"
    assert body["error"]["field"] is None
    assert "kaboom" not in response.text
    assert "Traceback" not in response.text
    assert any("kaboom" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


def test_unexpected_exception_500_carries_the_request_id_and_headers(app: FastAPI) -> None:
    response = one(app, "GET", "/boom", headers={"X-Request-ID": "trace-500"})
    assert response.headers.get("x-request-id") == "trace-500"
    assert response.json()["error"]["request_id"] == "trace-500"
    assert response.headers.get("x-content-type-options") == "nosniff"


# --- request ids and headers --------------------------------------------------------------


def test_sane_incoming_request_id_is_echoed(app: FastAPI) -> None:
    response = one(app, "GET", "/nowhere", headers={"X-Request-ID": "trace-42.a:b_c"})
    assert response.headers["x-request-id"] == "trace-42.a:b_c"
    assert response.json()["error"]["request_id"] == "trace-42.a:b_c"


@pytest.mark.parametrize("incoming", ["has spaces", "x" * 129, "<script>", ""])
def test_unsafe_incoming_request_id_is_replaced(app: FastAPI, incoming: str) -> None:
    response = one(app, "GET", "/nowhere", headers={"X-Request-ID": incoming})
    generated = response.headers["x-request-id"]
    assert generated != incoming
    assert len(generated) == 32
    int(generated, 16)
    assert response.json()["error"]["request_id"] == generated


def test_each_request_gets_its_own_id(app: FastAPI) -> None:
    async def scenario(call: Call) -> list[str]:
        responses = [await call("GET", "/items/1") for _ in range(5)]
        return [r.headers["x-request-id"] for r in responses]

    ids: list[str] = drive(app, scenario)
    assert len(set(ids)) == 5


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/items/1", {}),
        ("GET", "/nowhere", {}),
        ("POST", "/items", {"content": b"x" * (BODY_LIMIT + 1)}),
        ("GET", "/health/live", {}),
    ],
    ids=["ok", "404", "413", "health"],
)
def test_security_headers_on_every_answer(
    app: FastAPI, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    response = one(app, method, path, **kwargs)
    for key, value in SECURITY_HEADERS:
        assert response.headers[key.decode()] == value.decode(), key
    assert response.headers["cache-control"] == "no-store"
    assert "x-request-id" in response.headers


def test_docs_relax_only_the_csp(app: FastAPI) -> None:
    response = one(app, "GET", "/docs")
    assert response.status_code == 200
    assert "content-security-policy" not in response.headers
    assert response.headers["x-frame-options"] == "DENY"


# --- health -------------------------------------------------------------------------------


def test_live_answers_with_the_service_name() -> None:
    app, name = make_app()
    response = one(app, "GET", "/health/live")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["service"] == name


def test_ready_is_503_when_a_required_probe_fails() -> None:
    app, name = make_app(required_fails=True)
    response = one(app, "GET", "/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["service"] == name
    cache = body["dependencies"]["cache"]
    assert (cache["status"], cache["required"]) == ("down", True)
    assert cache["error"] == "ConnectionRefusedError: nothing listens on 127.0.0.1:1"
    db = body["dependencies"]["db"]
    assert (db["status"], db["required"], db["error"]) == ("ok", False, None)
    assert db["latency_ms"] >= 0


def test_ready_is_200_degraded_when_only_an_optional_probe_fails() -> None:
    app, _ = make_app(required_fails=False)
    response = one(app, "GET", "/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["dependencies"]["cache"]["status"] == "down"
    assert body["dependencies"]["cache"]["required"] is False
    assert body["dependencies"]["db"]["status"] == "ok"


# --- metrics ------------------------------------------------------------------------------


def metric_lines(text: str, name: str, service: str) -> Sequence[str]:
    return [
        line
        for line in text.splitlines()
        if line.startswith(name + "{") and f'service="{service}"' in line
    ]


def test_metrics_label_routes_by_template_not_raw_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    app, name = make_app()

    async def scenario(call: Call) -> httpx.Response:
        for item_id in (42, 43, 44):
            assert (await call("GET", f"/items/{item_id}")).status_code == 200
        await call("GET", "/nowhere/at/all")
        return await call("GET", "/metrics")

    response: httpx.Response = drive(app, scenario)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    requests = metric_lines(response.text, "http_requests_total", name)
    templated = [line for line in requests if 'route="/items/{item_id}"' in line]
    assert len(templated) == 1, requests
    assert 'method="GET"' in templated[0]
    assert 'status="200"' in templated[0]
    assert templated[0].endswith(" 3.0")
    unmatched = [line for line in requests if 'route="<unmatched>"' in line]
    assert len(unmatched) == 1
    assert 'status="404"' in unmatched[0]
    assert "/items/42" not in response.text
    assert "/nowhere/at/all" not in response.text
    assert metric_lines(response.text, "http_request_duration_seconds_count", name)
    assert not [line for line in requests if 'route="/metrics"' in line]

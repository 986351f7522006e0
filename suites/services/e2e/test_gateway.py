"""What the gateway adds to every answer: security headers, request ids, health, metrics, CORS."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import jwt
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.accounts import Account, expect, unique_email
from harness.backends import Backend
from harness.stack import Stack, launch

pytestmark = pytest.mark.e2e

ALLOWED_ORIGIN = "https://app.example.org"
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "strict-transport-security": "max-age=63072000; includeSubDomains",
    "cache-control": "no-store",
}


def assert_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"code", "message", "field", "request_id"}
    assert error["code"] == code
    return dict(error)


# --- Security headers ----------------------------------------------------------------------

ANSWERS: dict[str, Callable[[httpx.Client], httpx.Response]] = {
    "liveness 200": lambda api: api.get("/health/live"),
    "readiness 200": lambda api: api.get("/health/ready"),
    "gateway 401": lambda api: api.get("/api/v1/me"),
    "gateway 404": lambda api: api.get("/api/v1/nowhere"),
    "auth 202": lambda api: api.post(
        "/api/v1/auth/register", json={"email": unique_email(), "password": "long enough pw 1"}
    ),
    "auth 422": lambda api: api.post("/api/v1/auth/register", json={"email": "nope"}),
    "auth 405": lambda api: api.get("/api/v1/auth/login"),
    "auth 400 oauth": lambda api: api.post("/api/v1/auth/token", data={"grant_type": "x"}),
    "413": lambda api: api.post(
        "/api/v1/auth/login", content=b"x" * 1_100_000, headers={"Content-Type": "text/plain"}
    ),
}


@pytest.mark.parametrize("answer", list(ANSWERS))
def test_every_answer_carries_the_security_headers(api: httpx.Client, answer: str) -> None:
    response = ANSWERS[answer](api)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, f"{name} on {answer}"
        assert len(response.headers.get_list(name)) == 1, f"{name} sent twice on {answer}"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "server" not in response.headers, "the server does not announce itself"


def test_signed_in_answers_are_not_cacheable(
    api: httpx.Client, new_account: Callable[..., Account]
) -> None:
    account = new_account()
    response = expect(api.get("/api/v1/me", headers=account.headers), 200)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"


# --- Request ids ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "incoming",
    ["abc", "req-42", "trace:span.1_2-3", "A" * 128, str(uuid.uuid4()), uuid.uuid4().hex],
)
def test_a_sane_request_id_is_echoed_on_success_and_in_errors(
    api: httpx.Client, incoming: str
) -> None:
    ok = api.get("/health/live", headers={"X-Request-ID": incoming})
    assert ok.headers["x-request-id"] == incoming
    denied = api.get("/api/v1/me", headers={"X-Request-ID": incoming})
    assert assert_error(denied, 401, "missing_token")["request_id"] == incoming
    assert denied.headers["x-request-id"] == incoming
    refused = api.post(
        "/api/v1/auth/register", json={"email": "x"}, headers={"X-Request-ID": incoming}
    )
    assert assert_error(refused, 422, "validation_failed")["request_id"] == incoming
    assert refused.headers.get_list("x-request-id") == [incoming]


@pytest.mark.parametrize(
    "incoming",
    [
        "A" * 129,
        "x" * 5000,
        "has spaces in it",
        "semi;colon",
        "<script>alert(1)</script>",
        "../../etc/passwd",
        'quote"d',
        "",
    ],
)
def test_an_insane_request_id_is_replaced_everywhere(api: httpx.Client, incoming: str) -> None:
    ok = api.get("/health/live", headers={"X-Request-ID": incoming})
    assert GENERATED_ID.match(ok.headers["x-request-id"])
    denied = api.get("/api/v1/me", headers={"X-Request-ID": incoming})
    replaced = denied.headers["x-request-id"]
    assert GENERATED_ID.match(replaced)
    assert assert_error(denied, 401, "missing_token")["request_id"] == replaced
    refused = api.post(
        "/api/v1/auth/register", json={"email": "x"}, headers={"X-Request-ID": incoming}
    )
    routed_id = refused.headers["x-request-id"]
    assert GENERATED_ID.match(routed_id)
    assert routed_id != replaced, "each request gets its own id"
    assert assert_error(refused, 422, "validation_failed")["request_id"] == routed_id


def test_without_a_request_id_each_answer_gets_a_fresh_one(api: httpx.Client) -> None:
    ids = {api.get("/api/v1/me").headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5
    assert all(GENERATED_ID.match(i) for i in ids)


# --- Health --------------------------------------------------------------------------------


def test_liveness(api: httpx.Client) -> None:
    body = expect(api.get("/health/live"), 200).json()
    assert body["status"] == "ok"
    assert body["service"] == "gateway"
    assert re.match(r"^\d+\.\d+", body["version"])


def test_readiness_lists_each_dependency_as_ok(api: httpx.Client) -> None:
    body = expect(api.get("/health/ready"), 200).json()
    assert (body["status"], body["service"]) == ("ok", "gateway")
    dependencies = body["dependencies"]
    assert {"redis", "auth"} <= set(dependencies)
    for name, state in dependencies.items():
        assert state["status"] == "ok", (name, state)
        assert state["required"] is True
        assert state["error"] is None
        assert 0 <= state["latency_ms"] < 2000


def test_health_is_not_behind_authentication(api: httpx.Client) -> None:
    bogus = {"Authorization": "Bearer not-a-token"}
    expect(api.get("/health/live", headers=bogus), 200)
    expect(api.get("/health/ready", headers=bogus), 200)


# --- Metrics -------------------------------------------------------------------------------


def _requests_total(api: httpx.Client) -> list[dict[str, str]]:
    response = expect(api.get("/metrics"), 200)
    assert response.headers["content-type"].startswith("text/plain")
    labels = []
    for family in text_string_to_metric_families(response.text):
        if family.name == "http_requests":
            labels += [
                {**s.labels, "value": str(s.value)}
                for s in family.samples
                if s.name == "http_requests_total"
            ]
    return labels


def test_metrics_count_requests_by_route_template_never_by_raw_id(
    api: httpx.Client, new_account: Callable[..., Account]
) -> None:
    account = new_account()
    raw_ids = [str(uuid.uuid4()) for _ in range(3)]
    for raw in raw_ids:
        api.delete(f"/api/v1/auth/sessions/{raw}", headers=account.headers)
        api.delete(f"/api/v1/auth/api-keys/{raw}", headers=account.headers)
        api.get(f"/api/v1/content/{raw}")
        api.get(f"/api/v1/unknown/{raw}")
    expect(api.get("/api/v1/me", headers=account.headers), 200)

    samples = _requests_total(api)
    text = api.get("/metrics").text
    for raw in raw_ids:
        assert raw not in text, "a raw id leaked into a metric label"

    by_service: dict[str, set[str]] = {}
    for sample in samples:
        by_service.setdefault(sample["service"], set()).add(sample["route"])
    assert {"gateway", "auth", "discovery"} <= set(by_service)
    assert {"/api/v1/auth/*", "/api/v1/me", "/api/v1/content/*", "/health/live"} <= by_service[
        "gateway"
    ]
    assert {
        "/api/v1/auth/sessions/{session_id}",
        "/api/v1/auth/api-keys/{key_id}",
        "/api/v1/me",
        "/api/v1/auth/login",
    } <= by_service["auth"]
    assert "/api/v1/content/{content_id}" in by_service["discovery"]
    assert "<unmatched>" in by_service["gateway"]
    for sample in samples:
        assert set(sample) == {"service", "route", "method", "status", "value"}
        assert sample["route"].startswith(("/", "<unmatched>")), sample
        assert re.fullmatch(r"[1-5]\d\d", sample["status"]), sample


def test_metrics_count_each_request(api: httpx.Client) -> None:
    def live_count() -> float:
        return sum(
            float(s["value"])
            for s in _requests_total(api)
            if (s["service"], s["route"], s["method"], s["status"])
            == ("gateway", "/health/live", "GET", "200")
        )

    before = live_count()
    for _ in range(3):
        expect(api.get("/health/live"), 200)
    assert live_count() == before + 3


# --- CORS ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cors_stack(postgres_backend: Backend, redis_backend: Backend) -> Iterator[Stack]:
    with launch(
        backends={"postgres": postgres_backend, "redis": redis_backend},
        extra_env={"MG_CORS_ORIGINS": ALLOWED_ORIGIN},
    ) as stack:
        yield stack


@pytest.fixture
def cors_api(cors_stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cors_stack.base_url, timeout=15) as client:
        yield client


def _preflight(client: httpx.Client, origin: str, method: str = "POST") -> httpx.Response:
    return client.options(
        "/api/v1/auth/login",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type, authorization",
        },
    )


def test_cors_preflight_from_the_allowed_origin_is_allowed(cors_api: httpx.Client) -> None:
    response = _preflight(cors_api, ALLOWED_ORIGIN)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed_headers = response.headers["access-control-allow-headers"].lower()
    assert "content-type" in allowed_headers
    assert "authorization" in allowed_headers
    assert response.headers["access-control-max-age"] == "600"
    assert "access-control-allow-credentials" not in response.headers


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example.com",
        "http://app.example.org",
        "https://app.example.org.evil.com",
        "https://sub.app.example.org",
        "null",
    ],
)
def test_cors_preflight_from_another_origin_is_refused(cors_api: httpx.Client, origin: str) -> None:
    response = _preflight(cors_api, origin)
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


def test_cors_actual_request_headers(cors_api: httpx.Client) -> None:
    allowed = cors_api.get("/health/live", headers={"Origin": ALLOWED_ORIGIN})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    exposed = allowed.headers["access-control-expose-headers"].lower()
    assert "x-request-id" in exposed
    assert "retry-after" in exposed

    error = cors_api.get("/api/v1/me", headers={"Origin": ALLOWED_ORIGIN})
    assert error.status_code == 401
    assert error.headers["access-control-allow-origin"] == ALLOWED_ORIGIN

    other = cors_api.get("/health/live", headers={"Origin": "https://evil.example.com"})
    assert other.status_code == 200
    assert "access-control-allow-origin" not in other.headers


def test_without_cors_origins_no_origin_is_allowed(api: httpx.Client) -> None:
    response = _preflight(api, ALLOWED_ORIGIN)
    assert "access-control-allow-origin" not in response.headers
    simple = api.get("/health/live", headers={"Origin": ALLOWED_ORIGIN})
    assert "access-control-allow-origin" not in simple.headers


# --- Unexpected failures -------------------------------------------------------------------


def test_a_failing_dependency_gives_a_json_503_with_id_and_headers(
    postgres_backend: Backend, owned_backend: Callable[[str], Backend]
) -> None:
    """When Redis dies under the stack, answers are 503 ``dependency_unavailable`` (a lost
    backend, not a bug) in the shared error shape, carrying the request id (body and header),
    the security headers and a retry hint, and readiness says what is down."""
    redis = owned_backend("redis")
    with (
        launch(backends={"postgres": postgres_backend, "redis": redis}) as stack,
        httpx.Client(base_url=stack.base_url, timeout=30) as client,
    ):
        now = int(time.time())
        claims = {"iss": "media-gateway", "sub": str(uuid.uuid4()), "scope": "read", "jti": "j1"}
        signed = jwt.encode({**claims, "iat": now, "exp": now + 300}, stack.env["JWT_SECRET"])
        token = {"Authorization": f"Bearer {signed}"}
        assert_error(client.get("/api/v1/me", headers=token), 404, "not_found")  # valid, no user
        redis.kill()

        login = {"email": unique_email(), "password": "long enough pw 1"}
        cases = {
            "auth": client.post("/api/v1/auth/login", json=login, headers={"X-Request-ID": "r-1"}),
            "gateway": client.get("/api/v1/me", headers={**token, "X-Request-ID": "r-2"}),
        }
        for (where, response), request_id in zip(cases.items(), ("r-1", "r-2"), strict=True):
            error = assert_error(response, 503, "dependency_unavailable")
            assert response.headers["retry-after"] == "1", where
            assert error["request_id"] == request_id, where
            assert response.headers["x-request-id"] == request_id, where
            for name, value in SECURITY_HEADERS.items():
                assert response.headers.get(name) == value, (where, name)
            assert "Traceback" not in response.text
            assert "redis" not in response.text.lower(), "internals stay in the logs"

        ready = client.get("/health/ready")
        assert ready.status_code == 503
        body = ready.json()
        assert body["status"] == "down"
        assert body["dependencies"]["redis"]["status"] == "down"
        assert body["dependencies"]["auth"]["status"] == "down"
        expect(client.get("/health/live"), 200)

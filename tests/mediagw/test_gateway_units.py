"""Gateway building blocks: the circuit breaker's state machine, the routing table and the
operation table read from the committed gateway document."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client import REGISTRY

from mediagw.gateway import breaker as breaker_module
from mediagw.gateway.breaker import CircuitBreaker, State
from mediagw.gateway.operations import Access, OperationTable, allow_header
from mediagw.gateway.routing import INTERNAL, ROUTES, route_for

pytestmark = pytest.mark.unit

THRESHOLD = 3
RESET = 10.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(breaker_module, "time", SimpleNamespace(monotonic=fake.monotonic))
    return fake


@pytest.fixture
def breaker(request: pytest.FixtureRequest, clock: Clock) -> CircuitBreaker:
    return CircuitBreaker(f"unit-{request.node.name}", threshold=THRESHOLD, reset_seconds=RESET)


def open_breaker(breaker: CircuitBreaker) -> None:
    for _ in range(THRESHOLD):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state is State.OPEN


def gauge(breaker: CircuitBreaker) -> float | None:
    return REGISTRY.get_sample_value("gateway_circuit_breaker_open", {"upstream": breaker.name})


# --- circuit breaker ----------------------------------------------------------------------


def test_new_breaker_is_closed_and_allows(breaker: CircuitBreaker) -> None:
    assert breaker.state is State.CLOSED
    assert breaker.allow()
    assert breaker.retry_after() == 0


def test_stays_closed_below_the_threshold(breaker: CircuitBreaker) -> None:
    for _ in range(THRESHOLD - 1):
        breaker.record_failure()
    assert breaker.state is State.CLOSED
    assert breaker.allow()


def test_success_resets_the_consecutive_failure_count(breaker: CircuitBreaker) -> None:
    for _ in range(THRESHOLD - 1):
        breaker.record_failure()
    breaker.record_success()
    for _ in range(THRESHOLD - 1):
        breaker.record_failure()
    assert breaker.state is State.CLOSED


def test_opens_after_threshold_consecutive_failures(breaker: CircuitBreaker) -> None:
    open_breaker(breaker)
    assert gauge(breaker) == 1.0


def test_fails_fast_while_open(breaker: CircuitBreaker, clock: Clock) -> None:
    open_breaker(breaker)
    for _ in range(5):
        assert not breaker.allow()
    clock.advance(RESET - 0.5)
    assert breaker.state is State.OPEN
    assert not breaker.allow()


def test_retry_after_counts_down_to_the_half_open_moment(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    open_breaker(breaker)
    clock.advance(3.5)
    assert breaker.retry_after() == 7  # 6.5 s left, rounded up
    clock.advance(6.4)
    assert breaker.retry_after() == 1
    clock.advance(30)
    assert breaker.retry_after() == 1  # never 0 or negative while not closed


def test_half_open_after_reset_allows_exactly_one_trial(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    open_breaker(breaker)
    clock.advance(RESET)
    assert breaker.state is State.HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow()
    assert not breaker.allow()


def test_successful_trial_closes(breaker: CircuitBreaker, clock: Clock) -> None:
    open_breaker(breaker)
    clock.advance(RESET)
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is State.CLOSED
    assert breaker.failures == 0
    assert gauge(breaker) == 0.0
    assert all(breaker.allow() for _ in range(5))


def test_failed_trial_reopens_for_a_full_reset_period(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    open_breaker(breaker)
    clock.advance(RESET)
    assert breaker.allow()
    breaker.record_failure()  # one failure is enough in half-open
    assert breaker.state is State.OPEN
    assert not breaker.allow()
    clock.advance(RESET - 0.1)
    assert breaker.state is State.OPEN
    clock.advance(0.1)
    assert breaker.state is State.HALF_OPEN
    assert breaker.allow()


def test_abandoned_half_open_trial_does_not_wedge_the_breaker(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    open_breaker(breaker)
    clock.advance(RESET)
    assert breaker.allow()  # the trial starts, then never reports
    clock.advance(RESET * 100)
    assert breaker.allow()


# --- routing ------------------------------------------------------------------------------

# Every public path of ../shared/SYSTEM.md, with the service that owns it.
PUBLIC_API: list[tuple[str, str, str]] = [
    ("POST", "/api/v1/auth/register", "auth"),
    ("POST", "/api/v1/auth/verify-email", "auth"),
    ("POST", "/api/v1/auth/login", "auth"),
    ("POST", "/api/v1/auth/mfa/verify", "auth"),
    ("POST", "/api/v1/auth/token", "auth"),
    ("GET", "/api/v1/auth/authorize", "auth"),
    ("POST", "/api/v1/auth/device/code", "auth"),
    ("POST", "/api/v1/auth/device/approve", "auth"),
    ("POST", "/api/v1/auth/logout", "auth"),
    ("POST", "/api/v1/auth/password/forgot", "auth"),
    ("POST", "/api/v1/auth/password/reset", "auth"),
    ("GET", "/api/v1/auth/sessions", "auth"),
    ("DELETE", "/api/v1/auth/sessions/s-1", "auth"),
    ("POST", "/api/v1/auth/api-keys", "auth"),
    ("GET", "/api/v1/auth/api-keys", "auth"),
    ("DELETE", "/api/v1/auth/api-keys/k-1", "auth"),
    ("POST", "/api/v1/auth/mfa/enroll", "auth"),
    ("GET", "/api/v1/auth/.well-known/jwks.json", "auth"),
    ("POST", "/api/v1/auth/clients", "auth"),
    ("GET", "/api/v1/me", "auth"),
    ("GET", "/api/v1/content/7d0c3b1e-9a5f-4c2e-8d7b-1f2e3a4b5c6d", "discovery"),
    ("GET", "/api/v1/search", "discovery"),
    ("POST", "/api/v1/search/semantic", "discovery"),
    ("GET", "/api/v1/search/autocomplete", "discovery"),
    ("GET", "/api/v1/content/7d0c3b1e-9a5f-4c2e-8d7b-1f2e3a4b5c6d/similar", "discovery"),
    ("GET", "/api/v1/platforms", "discovery"),
    ("GET", "/api/v1/genres", "discovery"),
    ("GET", "/api/v1/recommendations", "sona"),
    ("POST", "/api/v1/interactions", "sona"),
    ("GET", "/api/v1/profile/preferences", "sona"),
    ("PUT", "/api/v1/profile/preferences", "sona"),
    ("POST", "/api/v1/playback/sessions", "playback"),
    ("POST", "/api/v1/playback/sessions/p-1/heartbeat", "playback"),
    ("POST", "/api/v1/playback/sessions/p-1/stop", "playback"),
    ("GET", "/api/v1/playback/continue-watching", "playback"),
    ("GET", "/api/v1/playback/history", "playback"),
    ("GET", "/api/v1/content/7d0c3b1e-9a5f-4c2e-8d7b-1f2e3a4b5c6d/deep-link", "playback"),
    ("GET", "/api/v1/devices", "sync"),
    ("POST", "/api/v1/devices", "sync"),
    ("DELETE", "/api/v1/devices/d-1", "sync"),
    ("GET", "/api/v1/watchlist", "sync"),
    ("PUT", "/api/v1/watchlist/tt0111161", "sync"),
    ("DELETE", "/api/v1/watchlist/tt0111161", "sync"),
    ("GET", "/api/v1/sync/ws", "sync"),
    ("POST", "/api/v1/ingestion/runs", "ingestion"),
    ("GET", "/api/v1/ingestion/runs/r-1", "ingestion"),
]


@pytest.mark.parametrize(("method", "path", "service"), PUBLIC_API)
def test_public_api_path_routes_to_its_service(method: str, path: str, service: str) -> None:
    route = route_for(path)
    assert route is not None, f"{method} {path} has no route"
    assert route.service == service
    assert not INTERNAL.match(path)


def test_deep_link_goes_to_playback_but_content_details_to_discovery() -> None:
    deep_link = route_for("/api/v1/content/abc-123/deep-link")
    details = route_for("/api/v1/content/abc-123")
    assert deep_link is not None
    assert details is not None
    assert (deep_link.service, deep_link.name) == ("playback", "/api/v1/content/*/deep-link")
    assert (details.service, details.name) == ("discovery", "/api/v1/content/*")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/contentious",
        "/api/v1/meow",
        "/api/v1/me/extra",
        "/api/v1/authx/login",
        "/api/v2/content/x",
        "/health/live",
        "/",
        "/api/v1",
    ],
)
def test_unknown_paths_have_no_route(path: str) -> None:
    assert route_for(path) is None


def test_route_names_are_unique_metric_labels() -> None:
    names = [route.name for route in ROUTES]
    assert len(names) == len(set(names))
    assert all(name.startswith("/api/v1/") for name in names)


@pytest.mark.parametrize(
    "path", ["/api/v1/internal", "/api/v1/internal/rerank", "/api/v1/internal/anything/else"]
)
def test_internal_paths_are_internal(path: str) -> None:
    assert INTERNAL.match(path)
    assert route_for(path) is None
    assert GATEWAY_OPERATIONS.match(path) is None


def test_internal_prefix_must_be_a_whole_segment() -> None:
    assert not INTERNAL.match("/api/v1/internals")


GATEWAY_OPERATIONS = OperationTable.from_document(
    json.loads((Path(__file__).resolve().parents[2] / "contracts/openapi/gateway.json").read_text())
)
"""The table the gateway builds, from the document it serves (committed and checked for drift)."""


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/auth/login"),
        ("POST", "/api/v1/auth/register"),
        ("POST", "/api/v1/auth/token"),
        ("POST", "/api/v1/auth/verify-email"),
        ("POST", "/api/v1/auth/mfa/verify"),
        ("POST", "/api/v1/auth/device/code"),
        ("POST", "/api/v1/auth/password/forgot"),
        ("POST", "/api/v1/auth/password/reset"),
        ("POST", "/api/v1/auth/api-keys/exchange"),
        ("GET", "/api/v1/auth/.well-known/jwks.json"),
        ("GET", "/api/v1/search/autocomplete"),
        ("GET", "/api/v1/content/7d0c3b1e-9a5f-4c2e-8d7b-1f2e3a4b5c6d"),
        ("GET", "/api/v1/content/7d0c3b1e-9a5f-4c2e-8d7b-1f2e3a4b5c6d/similar"),
        ("GET", "/api/v1/platforms"),
        ("GET", "/api/v1/genres"),
    ],
)
def test_operations_without_security_ignore_credentials(method: str, path: str) -> None:
    item = GATEWAY_OPERATIONS.match(path)
    assert item is not None
    assert item.access(method) is Access.NONE


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/search"),
        ("POST", "/api/v1/search/semantic"),
        ("GET", "/api/v1/content/7d0c3b1e-9a5f-4c2e-8d7b-1f2e3a4b5c6d/deep-link"),
    ],
)
def test_operations_with_optional_security_check_a_token_if_sent(method: str, path: str) -> None:
    item = GATEWAY_OPERATIONS.match(path)
    assert item is not None
    assert item.access(method) is Access.OPTIONAL


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/auth/sessions"),
        ("DELETE", "/api/v1/auth/sessions/7d0c3b1e-9a5f-4c2e-8d7b-1f2e3a4b5c6d"),
        ("POST", "/api/v1/auth/logout"),
        ("POST", "/api/v1/auth/device/approve"),
        ("POST", "/api/v1/auth/mfa/enroll"),
        ("POST", "/api/v1/auth/api-keys"),
        ("POST", "/api/v1/auth/clients"),
        ("POST", "/api/v1/interactions"),
        ("GET", "/api/v1/recommendations"),
        ("GET", "/api/v1/watchlist"),
        ("POST", "/api/v1/playback/sessions"),
        ("POST", "/api/v1/ingestion/runs"),
    ],
)
def test_protected_operations_need_a_token(method: str, path: str) -> None:
    item = GATEWAY_OPERATIONS.match(path)
    assert item is not None
    assert item.access(method) is Access.REQUIRED


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/api/v1/auth/login", "POST"),
        ("TRACE", "/api/v1/genres", "GET"),
        ("PUT", "/api/v1/content/7d0c3b1e-9a5f-4c2e-8d7b-1f2e3a4b5c6d", "GET"),
        ("DELETE", "/api/v1/auth/api-keys/exchange", "POST"),
        ("PATCH", "/api/v1/auth/api-keys", "GET, POST"),
    ],
)
def test_undeclared_methods_are_not_served(method: str, path: str, allow: str) -> None:
    item = GATEWAY_OPERATIONS.match(path)
    assert item is not None
    assert item.access(method) is None
    assert allow_header(item.methods) == allow


@pytest.mark.parametrize(
    "path", ["/api/v1/auth/login/extra", "/api/v1/auth/tokens", "/api/v1/auth/api-keys/not-a-uuid"]
)
def test_undocumented_paths_match_nothing(path: str) -> None:
    assert GATEWAY_OPERATIONS.match(path) is None


def test_a_path_parameter_matches_only_its_documented_pattern() -> None:
    key = "7d0c3b1e-9a5f-4c2e-8d7b-1f2e3a4b5c6d"
    item = GATEWAY_OPERATIONS.match(f"/api/v1/auth/api-keys/{key}")
    assert item is not None
    assert item.template == "/api/v1/auth/api-keys/{key_id}"
    assert set(item.methods) == {"DELETE"}

"""A lost backend answers 503 ``dependency_unavailable`` fast, writes nothing half-way, and the
stack comes back by itself (the short form of the fault matrix, for ``make test``).

Each test launches an all-in-one stack on a PostgreSQL and a Redis of its own (processes it may
stop), then takes one away. The fault matrix (``make test-slow``) does the same under load for
every backend and a killed service; this suite pins the answers themselves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from harness.accounts import Account, login, register_verified
from harness.backends import Backend
from harness.backends.process import ManagedProcess
from harness.stack import Stack, launch

pytestmark = [pytest.mark.integration, pytest.mark.slow]

POOL_WAIT_SECONDS = 5.0
"""The services' wait for a pooled connection (``mediagw.common.storage``)."""
CONTENT_ID = "00000000-0000-4000-8000-000000000001"


@dataclass
class Harmed:
    stack: Stack
    postgres: Backend
    redis: Backend
    user: Account
    client: httpx.Client

    def get(self, path: str) -> httpx.Response:
        return self.client.get(path, headers=self.user.headers)


@pytest.fixture
def harmed(owned_backend: Callable[[str], Backend], kafka_backend: Backend) -> Iterator[Harmed]:
    postgres, redis = owned_backend("postgres"), owned_backend("redis")
    with launch(
        backends={"postgres": postgres, "redis": redis, "kafka": kafka_backend},
        embedder="hashing",
        extra_env={"MG_READINESS_PROBE_INTERVAL_S": "1"},
    ) as stack:
        assert stack.mailbox is not None
        with httpx.Client(base_url=stack.base_url, timeout=30) as client:
            user = login(client, register_verified(client, stack.mailbox))
            try:
                yield Harmed(stack, postgres, redis, user, client)
            finally:  # a test that failed half-way: the stack's teardown needs its database
                process = postgres.extras["process"]
                if isinstance(process, ManagedProcess) and not process.alive:
                    process.start()
                    postgres.wait_healthy(30)


def _assert_unavailable(response: httpx.Response, dependency: str) -> None:
    """503 in the shared shape with a retry hint; which backend is for readiness and the logs."""
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "dependency_unavailable"
    assert dependency not in response.text
    assert response.headers["retry-after"] == "1"


def _until_ok(call: Callable[[], httpx.Response], within: float = 30.0) -> httpx.Response:
    deadline = time.monotonic() + within
    while True:
        response = call()
        if response.status_code < 500 or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def test_redis_lost_answers_503_at_the_edge_and_comes_back_by_itself(harmed: Harmed) -> None:
    assert harmed.get("/api/v1/watchlist").status_code == 200
    harmed.redis.kill()
    # The gateway's revocation check needs Redis: every signed-in request is refused alike.
    _assert_unavailable(harmed.get("/api/v1/watchlist"), "redis")
    login_body = {"email": harmed.user.email, "password": harmed.user.password}
    _assert_unavailable(harmed.client.post("/api/v1/auth/login", json=login_body), "redis")
    ready = harmed.client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["dependencies"]["redis"]["status"] == "down"

    harmed.redis.restart()
    assert _until_ok(lambda: harmed.get("/api/v1/watchlist")).status_code == 200
    assert _until_ok(lambda: harmed.client.get("/health/ready")).status_code == 200


def test_postgres_lost_answers_503_within_the_pool_wait_and_writes_nothing(
    harmed: Harmed,
) -> None:
    process = harmed.postgres.extras["process"]
    assert isinstance(process, ManagedProcess)
    assert harmed.get("/api/v1/watchlist").json()["items"] == []
    process.terminate()
    began = time.monotonic()
    refused = harmed.client.put(f"/api/v1/watchlist/{CONTENT_ID}", headers=harmed.user.headers)
    waited = time.monotonic() - began
    _assert_unavailable(refused, "postgres")
    assert waited < POOL_WAIT_SECONDS + 3, f"the refusal took {waited:.1f} s"
    ready = harmed.client.get("/health/ready")
    assert ready.status_code == 503
    down = [d for d in ready.json()["dependencies"].values() if d["status"] != "ok"]
    assert down
    assert all("postgres" in d["error"] for d in down), [d["error"] for d in down]

    process.start()
    harmed.postgres.wait_healthy(30)
    listed = _until_ok(lambda: harmed.get("/api/v1/watchlist"))
    assert listed.status_code == 200
    assert listed.json()["items"] == [], "the refused add left nothing behind"
    added = harmed.client.put(f"/api/v1/watchlist/{CONTENT_ID}", headers=harmed.user.headers)
    assert added.status_code == 200, added.text

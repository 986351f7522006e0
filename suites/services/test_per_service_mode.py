"""Per-service mode: the gateway reaches auth and sync over HTTP, behind a circuit breaker.

Three real processes (``mediagw serve auth``, ``mediagw serve sync`` and ``mediagw serve
gateway`` with ``MG_GATEWAY_MODE=per-service``) on a fresh migrated database and a Redis DB of
their own. The journey runs through the gateway, the sync socket too; then auth (or sync) is
killed and brought back on the same port.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from harness.accounts import Account, expect, login, refresh, register_verified
from harness.backends.process import ManagedProcess, free_port
from harness.isolation import IsolatedDatabase, RedisDatabase
from harness.mailbox import Mailbox
from harness.service_processes import ServiceProcesses, wait_ready

pytestmark = pytest.mark.integration

BREAKER_THRESHOLD = 3
BREAKER_RESET_SECONDS = 1.0


@dataclass
class PerServiceStack:
    gateway: ManagedProcess
    auth: ManagedProcess
    sync: ManagedProcess
    gateway_url: str
    auth_url: str
    sync_url: str
    mailbox: Mailbox

    def socket_url(self, token: str) -> str:
        return (
            self.gateway_url.replace("http://", "ws://") + f"/api/v1/sync/ws?access_token={token}"
        )


@pytest.fixture
def per_service(
    pg_database: IsolatedDatabase,
    redis_db: RedisDatabase,
    service_processes: ServiceProcesses,
    tmp_path: Path,
) -> PerServiceStack:
    gateway_port = free_port()
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    outbox = tmp_path / "outbox"
    common = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "MG_ENV": "test",
        "JWT_SECRET": secrets.token_urlsafe(48),
        "MG_REDIS_URL": redis_db.url,
    }
    auth = service_processes.start(
        "auth",
        {
            **common,
            "MG_POSTGRES_URL": pg_database.url,
            "MG_EMAIL_OUTBOX_DIR": str(outbox),
            "MG_PUBLIC_URL": gateway_url,
            "MG_TRUST_FORWARDED_FOR": "1",
        },
    )
    sync = service_processes.start("sync", {**common, "MG_POSTGRES_URL": pg_database.url})
    gateway_env = {
        **common,
        "MG_GATEWAY_MODE": "per-service",
        "MG_AUTH_URL": auth.url,
        "MG_SYNC_URL": sync.url,
        "MG_BREAKER_FAILURE_THRESHOLD": str(BREAKER_THRESHOLD),
        "MG_BREAKER_RESET_SECONDS": str(BREAKER_RESET_SECONDS),
    }
    gateway = service_processes.start("gateway", gateway_env, port=gateway_port)
    return PerServiceStack(
        gateway.process,
        auth.process,
        sync.process,
        gateway.url,
        auth.url,
        sync.url,
        Mailbox(outbox),
    )


@pytest.fixture
def gateway_api(per_service: PerServiceStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=per_service.gateway_url, timeout=15) as client:
        yield client


def assert_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"code", "message", "field", "request_id"}
    assert error["code"] == code, error
    assert error["request_id"] == response.headers["x-request-id"]
    return dict(error)


def test_journey_through_the_gateway_over_http(
    per_service: PerServiceStack, gateway_api: httpx.Client
) -> None:
    live = expect(gateway_api.get("/health/ready"), 200).json()
    assert live["dependencies"]["auth"]["status"] == "ok"

    account = register_verified(gateway_api, per_service.mailbox)
    verify_mail = per_service.mailbox.wait_for(account.email, "verify_email")
    assert verify_mail.text.count(per_service.gateway_url) == 1, "links point at the gateway"
    login(gateway_api, account, device_id="tv-1")

    me = expect(gateway_api.get("/api/v1/me", headers=account.headers), 200).json()
    assert (me["email"], me["email_verified"], me["scopes"]) == (
        account.email,
        True,
        ["read", "write"],
    )
    old_refresh, old_access = account.refresh_token, account.access_token
    refresh(gateway_api, account)
    assert (account.refresh_token, account.access_token) != (old_refresh, old_access)
    expect(gateway_api.get("/api/v1/me", headers=account.headers), 200)

    reuse = gateway_api.post(
        "/api/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": old_refresh}
    )
    assert (reuse.status_code, reuse.json()["error"]) == (400, "invalid_grant")
    revoked = gateway_api.get("/api/v1/me", headers=account.headers)
    assert_error(revoked, 401, "token_revoked")


def test_errors_and_request_ids_cross_the_hop(
    per_service: PerServiceStack, gateway_api: httpx.Client
) -> None:
    refused = gateway_api.post(
        "/api/v1/auth/register", json={"email": "nope"}, headers={"X-Request-ID": "hop-1"}
    )
    assert_error(refused, 422, "validation_failed")
    assert refused.headers.get_list("x-request-id") == ["hop-1"]
    assert len(refused.headers.get_list("x-content-type-options")) == 1
    account = login(gateway_api, register_verified(gateway_api, per_service.mailbox))
    missing = gateway_api.get(
        "/api/v1/auth/nope", headers={**account.headers, "X-Request-ID": "hop-2"}
    )
    assert assert_error(missing, 404, "not_found")["request_id"] == "hop-2"
    two_methods = gateway_api.put("/api/v1/auth/api-keys", headers=account.headers)
    assert_error(two_methods, 405, "method_not_allowed")
    assert two_methods.headers["allow"] == "GET, POST"
    wrong_method = gateway_api.get("/api/v1/auth/login", headers=account.headers)
    assert_error(wrong_method, 405, "method_not_allowed")
    assert wrong_method.headers["allow"] == "POST"
    internal = gateway_api.post("/api/v1/internal/rerank", json={})
    assert_error(internal, 404, "not_found")


def test_forwarded_for_cannot_be_spoofed_through_the_gateway(
    per_service: PerServiceStack, gateway_api: httpx.Client
) -> None:
    """Auth trusts X-Forwarded-For from the gateway, so the gateway must not pass on a value the
    client made up: the address auth records is the gateway's peer."""
    account = register_verified(gateway_api, per_service.mailbox)
    body = {"email": account.email, "password": account.password}

    def session_ips(client: httpx.Client, spoofed: str) -> set[str]:
        response = client.post(
            "/api/v1/auth/login", json=body, headers={"X-Forwarded-For": spoofed}
        )
        account.remember(expect(response, 200).json())
        listed = gateway_api.get("/api/v1/auth/sessions", headers=account.headers)
        sessions = expect(listed, 200).json()["sessions"]
        return {s["ip"] for s in sessions if s["current"]}

    for spoofed in ("203.0.113.9", "203.0.113.9, 198.51.100.7", "not-an-address", "::1"):
        assert session_ips(gateway_api, spoofed) == {"127.0.0.1"}, spoofed

    # Straight to auth (which trusts the header, as behind a proxy): a real address is taken,
    # and a malformed one is ignored rather than breaking the login.
    with httpx.Client(base_url=per_service.auth_url, timeout=15) as direct:
        assert session_ips(direct, "203.0.113.9, 198.51.100.7") == {"203.0.113.9"}
        assert session_ips(direct, "not-an-address") == {"127.0.0.1"}
        assert session_ips(direct, "") == {"127.0.0.1"}


def _wait_until_dead(url: str) -> None:
    with httpx.Client(timeout=1) as client:
        for _ in range(50):
            try:
                client.get(f"{url}/health/live")
            except httpx.TransportError:
                return
            time.sleep(0.05)
    pytest.fail(f"{url} still answers after being killed")


def test_circuit_breaker_opens_on_a_dead_upstream_and_recovers(
    per_service: PerServiceStack, gateway_api: httpx.Client
) -> None:
    account: Account = login(gateway_api, register_verified(gateway_api, per_service.mailbox))
    expect(gateway_api.get("/api/v1/me", headers=account.headers), 200)

    per_service.auth.kill()
    _wait_until_dead(per_service.auth_url)

    for attempt in range(BREAKER_THRESHOLD):
        failed = gateway_api.get("/api/v1/me", headers=account.headers)
        error = assert_error(failed, 502, "upstream_unreachable")
        assert "auth" in error["message"], attempt
    opened_at = time.monotonic()

    for _ in range(2):
        shed = gateway_api.get("/api/v1/me", headers=account.headers)
        assert_error(shed, 503, "upstream_unavailable")
        retry_after = shed.headers["retry-after"]
        assert retry_after.isdigit()
        assert 1 <= int(retry_after) <= BREAKER_RESET_SECONDS + 1
    # Public routes go through the same breaker; the gateway itself stays up.
    assert_error(
        gateway_api.post("/api/v1/auth/login", json={"email": account.email, "password": "x"}),
        503,
        "upstream_unavailable",
    )
    expect(gateway_api.get("/health/live"), 200)

    ready = gateway_api.get("/health/ready")
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "down"
    assert body["dependencies"]["auth"]["status"] == "down"
    assert body["dependencies"]["auth"]["error"]
    assert body["dependencies"]["redis"]["status"] == "ok"

    per_service.auth.start()  # same argv, same port
    wait_ready(per_service.auth_url, 30, per_service.auth)
    remaining = BREAKER_RESET_SECONDS - (time.monotonic() - opened_at)
    if remaining > 0:
        time.sleep(remaining + 0.1)

    recovered = gateway_api.get("/api/v1/me", headers=account.headers)
    assert recovered.status_code == 200, recovered.text
    assert recovered.json()["email"] == account.email
    expect(gateway_api.get("/api/v1/me", headers=account.headers), 200)
    expect(gateway_api.get("/health/ready"), 200)
    refresh(gateway_api, account)
    expect(gateway_api.get("/api/v1/me", headers=account.headers), 200)


def test_half_open_trial_failure_opens_the_breaker_again(
    per_service: PerServiceStack, gateway_api: httpx.Client
) -> None:
    per_service.auth.kill()
    _wait_until_dead(per_service.auth_url)
    body = {"email": "someone@example.org", "password": "long enough pw 1"}
    for _ in range(BREAKER_THRESHOLD):
        assert_error(gateway_api.post("/api/v1/auth/login", json=body), 502, "upstream_unreachable")
    assert_error(gateway_api.post("/api/v1/auth/login", json=body), 503, "upstream_unavailable")
    time.sleep(BREAKER_RESET_SECONDS + 0.1)
    # Half-open: one trial goes through, fails, and the breaker opens again at once.
    assert_error(gateway_api.post("/api/v1/auth/login", json=body), 502, "upstream_unreachable")
    assert_error(gateway_api.post("/api/v1/auth/login", json=body), 503, "upstream_unavailable")


# --- the sync socket through the gateway ---------------------------------------------------------


async def _next_of(socket: Any, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            message = json.loads(await socket.recv())
            if message["type"] == kind:
                return dict(message)


def _op(device_id: str) -> dict[str, Any]:
    return {
        "v": 1,
        "type": "op",
        "op_id": str(uuid.uuid4()),
        "kind": "lww_set",
        "key": "settings/lang",
        "value": "fr",
        "hlc": {"p": int(time.time() * 1000), "l": 0, "n": device_id},
    }


def test_the_sync_socket_is_relayed_to_the_sync_service(
    per_service: PerServiceStack, gateway_api: httpx.Client
) -> None:
    account = login(gateway_api, register_verified(gateway_api, per_service.mailbox))
    url = per_service.socket_url(account.access_token)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], int]:
        async with websockets.connect(url) as phone, websockets.connect(url) as tv:
            for socket, device in ((phone, "phone-1"), (tv, "tv-1")):
                await socket.send(json.dumps({"v": 1, "type": "hello", "device_id": device}))
                await _next_of(socket, "state")
            op = _op("phone-1")
            await phone.send(json.dumps(op))
            ack = await _next_of(phone, "ack")
            seen = await _next_of(tv, "op")
        async with websockets.connect(per_service.socket_url("not-a-token")) as refused:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(refused.recv(), 10)
        assert closed.value.rcvd is not None
        return ack, seen | {"sent": op}, closed.value.rcvd.code

    ack, seen, refused_code = asyncio.run(scenario())
    assert ack["op_id"] == seen["sent"]["op_id"]
    assert (seen["op"]["op_id"], seen["op"]["value"]) == (seen["sent"]["op_id"], "fr")
    assert seen["seq"] == ack["seq"]
    assert refused_code == 4401, "the service's close code reaches the device unchanged"


def test_a_dead_sync_service_refuses_the_socket_with_try_again_later(
    per_service: PerServiceStack, gateway_api: httpx.Client
) -> None:
    account = login(gateway_api, register_verified(gateway_api, per_service.mailbox))
    per_service.sync.kill()
    _wait_until_dead(per_service.sync_url)

    async def refused_code() -> tuple[int, str]:
        async with websockets.connect(per_service.socket_url(account.access_token)) as socket:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(socket.recv(), 10)
        assert closed.value.rcvd is not None
        return closed.value.rcvd.code, closed.value.rcvd.reason

    assert asyncio.run(refused_code()) == (1013, "sync unreachable")
    expect(gateway_api.get("/health/live"), 200)

    per_service.sync.start()
    wait_ready(per_service.sync_url, 30, per_service.sync)
    time.sleep(BREAKER_RESET_SECONDS + 0.1)

    async def hello() -> dict[str, Any]:
        async with websockets.connect(per_service.socket_url(account.access_token)) as socket:
            await socket.send(json.dumps({"v": 1, "type": "hello", "device_id": "phone-1"}))
            return await _next_of(socket, "state")

    assert asyncio.run(hello())["type"] == "state"


# --- API keys when auth is down ------------------------------------------------------------------


def test_api_keys_answer_502_then_503_when_auth_is_down_never_500(
    per_service: PerServiceStack, gateway_api: httpx.Client
) -> None:
    account = login(gateway_api, register_verified(gateway_api, per_service.mailbox))
    created = expect(
        gateway_api.post(
            "/api/v1/auth/api-keys",
            json={"name": "probe", "scopes": ["read"], "expires_in_days": 1},
            headers=account.headers,
        ),
        201,
    ).json()
    fresh_key = {"X-API-Key": created["key"]}
    expect(gateway_api.get("/api/v1/me", headers=fresh_key), 200)
    per_service.auth.kill()
    _wait_until_dead(per_service.auth_url)

    # A key the gateway has not exchanged yet needs auth: 502 with a clear error, then the
    # breaker opens and answers 503 at once with Retry-After.
    unseen = {"X-API-Key": "mgk_" + "A" * 12 + "_" + "B" * 43}
    statuses = []
    for _ in range(BREAKER_THRESHOLD + 1):
        response = gateway_api.get("/api/v1/me", headers=unseen)
        statuses.append(response.status_code)
        assert response.headers["content-type"].startswith("application/json"), response.text
        assert response.json()["error"]["code"] in ("upstream_unreachable", "upstream_unavailable")
    assert statuses[0] == 502
    assert statuses[-1] == 503

    per_service.auth.start()
    wait_ready(per_service.auth_url, 30, per_service.auth)
    time.sleep(BREAKER_RESET_SECONDS + 0.1)
    expect(gateway_api.get("/api/v1/me", headers=fresh_key), 200)

"""Authorization through the gateway: a second user tries every route that takes an id with the
first user's ids, and users try the admin routes.

Each attempt must be refused (404 for another user's resource — it does not exist *for them* —
or 403 for an admin route) and must change nothing: after each attempt the owner's resource is
checked to be exactly as it was. Routes keyed by the caller (watchlist, continue-watching,
history, preferences) are checked to be the caller's alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from harness.accounts import Account, expect

pytestmark = pytest.mark.e2e

KEYS = "/api/v1/auth/api-keys"
SESSIONS = "/api/v1/auth/sessions"
DEVICES = "/api/v1/devices"
PLAYBACK = "/api/v1/playback/sessions"


def refused(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.request.url.path, response.text[:300])
    return dict(response.json()["error"])


def a_movie(api: httpx.Client) -> str:
    hits = expect(api.get("/api/v1/search", params={"q": "adventure movies"}), 200).json()
    return str(next(hit["id"] for hit in hits["items"] if hit["type"] == "movie"))


@pytest.fixture
def alice_and_bob(new_account: Callable[..., Account]) -> tuple[Account, Account]:
    return new_account(device_id="alice-tv"), new_account(device_id="bob-tv")


def test_another_users_api_key_cannot_be_revoked(
    api: httpx.Client, alice_and_bob: tuple[Account, Account]
) -> None:
    alice, bob = alice_and_bob
    key = expect(
        api.post(KEYS, json={"name": "ci", "scopes": ["read"]}, headers=alice.headers), 201
    ).json()
    error = refused(api.delete(f"{KEYS}/{key['id']}", headers=bob.headers), 404)
    assert error["field"] == "key_id"
    assert expect(api.get(KEYS, headers=bob.headers), 200).json()["api_keys"] == []
    (kept,) = expect(api.get(KEYS, headers=alice.headers), 200).json()["api_keys"]
    assert kept["id"] == key["id"]
    expect(api.get("/api/v1/me", headers={"X-API-Key": key["key"]}), 200)


def test_another_users_session_cannot_be_ended(
    api: httpx.Client, alice_and_bob: tuple[Account, Account]
) -> None:
    alice, bob = alice_and_bob
    (session,) = expect(api.get(SESSIONS, headers=alice.headers), 200).json()["sessions"]
    refused(api.delete(f"{SESSIONS}/{session['id']}", headers=bob.headers), 404)
    expect(api.get("/api/v1/me", headers=alice.headers), 200)
    assert [s["id"] for s in expect(api.get(SESSIONS, headers=alice.headers), 200).json()[
        "sessions"
    ]] == [session["id"]]  # fmt: skip


def test_another_users_device_cannot_be_forgotten(
    api: httpx.Client, alice_and_bob: tuple[Account, Account]
) -> None:
    alice, bob = alice_and_bob
    device = expect(
        api.post(
            DEVICES, json={"device_key": "alice-phone", "type": "phone"}, headers=alice.headers
        ),
        201,
    ).json()
    error = refused(api.delete(f"{DEVICES}/{device['id']}", headers=bob.headers), 404)
    assert error["field"] == "device_id"
    assert expect(api.get(DEVICES, headers=bob.headers), 200).json()["devices"] == []
    mine = expect(api.get(DEVICES, headers=alice.headers), 200).json()["devices"]
    assert [d["id"] for d in mine] == [device["id"]]


def test_another_users_playback_session_cannot_be_driven_or_stopped(
    api: httpx.Client, alice_and_bob: tuple[Account, Account]
) -> None:
    alice, bob = alice_and_bob
    content = a_movie(api)
    started = expect(
        api.post(
            PLAYBACK,
            json={"content_id": content, "device_id": "alice-tv", "device": "tv"},
            headers=alice.headers,
        ),
        201,
    ).json()
    session = started["session_id"]
    beat = {"position_seconds": 600, "state": "playing"}
    for attempt in (
        api.post(f"{PLAYBACK}/{session}/heartbeat", json=beat, headers=bob.headers),
        api.post(f"{PLAYBACK}/{session}/stop", json={"position_seconds": 900}, headers=bob.headers),
    ):
        assert refused(attempt, 404)["code"] == "session_not_found"
    # Alice's session is still live and her position is hers alone.
    own = expect(
        api.post(
            f"{PLAYBACK}/{session}/heartbeat",
            json={"position_seconds": 300, "state": "playing"},
            headers=alice.headers,
        ),
        200,
    ).json()
    assert own["position_seconds"] == 300
    stopped = expect(
        api.post(
            f"{PLAYBACK}/{session}/stop", json={"position_seconds": 360}, headers=alice.headers
        ),
        200,
    ).json()
    assert stopped["position_seconds"] == 360
    for path in ("/api/v1/playback/continue-watching", "/api/v1/playback/history"):
        body = expect(api.get(path, headers=bob.headers), 200).json()
        assert content not in str(body), f"{path} shows Bob Alice's title"


def test_watchlists_are_per_user(api: httpx.Client, alice_and_bob: tuple[Account, Account]) -> None:
    alice, bob = alice_and_bob
    content = a_movie(api)
    expect(api.put(f"/api/v1/watchlist/{content}", headers=alice.headers), 200)
    deleted = api.delete(f"/api/v1/watchlist/{content}", headers=bob.headers)
    assert deleted.status_code in (200, 204, 404), deleted.text  # Bob's own (empty) list
    assert content in expect(api.get("/api/v1/watchlist", headers=alice.headers), 200).text
    assert content not in expect(api.get("/api/v1/watchlist", headers=bob.headers), 200).text


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/auth/clients", {"name": "x", "redirect_uris": ["https://a.example/cb"]}),
        ("POST", "/api/v1/ingestion/runs", {"source": "seed"}),
        ("GET", f"/api/v1/ingestion/runs/{uuid.uuid4()}", None),
    ],
)
def test_admin_routes_are_refused_to_users(
    api: httpx.Client,
    new_account: Callable[..., Account],
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    user = new_account()
    response = api.request(method, path, json=body, headers=user.headers)
    error = refused(response, 403)
    assert error["code"] == "insufficient_scope"
    assert "admin" in error["message"]

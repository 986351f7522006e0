"""API keys for service clients: created (shown once), listed, used through the gateway, revoked.

The gateway trades an ``X-API-Key`` for a short-lived access token at the auth service and caches
that token until shortly before it expires (tokens live 300 s). Revocation still takes effect at
once: the key's id is on auth's revocation list, which the gateway and every service read with
each token, so neither the cached token nor a token exchanged earlier keeps working.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from harness.accounts import Account, expect

pytestmark = pytest.mark.e2e

KEYS = "/api/v1/auth/api-keys"
EXCHANGE = "/api/v1/auth/api-keys/exchange"
KEY_FORMAT = re.compile(r"^mgk_(?P<prefix>[A-Za-z0-9_-]{12})_[A-Za-z0-9_-]{43}$")


def create_key(
    api: httpx.Client,
    owner: Account,
    scopes: list[str],
    *,
    name: str = "ci runner",
    expires_in_days: int | None = 30,
) -> dict[str, Any]:
    body = {"name": name, "scopes": scopes, "expires_in_days": expires_in_days}
    return dict(expect(api.post(KEYS, json=body, headers=owner.headers), 201).json())


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json()["error"])


def test_a_key_is_shown_once_and_listed_without_its_secret(
    api: httpx.Client, new_account: Callable[..., Account]
) -> None:
    user = new_account()
    before = datetime.now(UTC)
    created = create_key(api, user, ["read", "write"], expires_in_days=30)
    match = KEY_FORMAT.match(created["key"])
    assert match, created["key"]
    assert created["prefix"] == match["prefix"]
    assert created["scopes"] == ["read", "write"]
    assert created["last_used_at"] is None
    expires_at = datetime.fromisoformat(created["expires_at"])
    assert (
        before + timedelta(days=30) - timedelta(minutes=1)
        <= expires_at
        <= datetime.now(UTC) + timedelta(days=30, minutes=1)
    )

    listed = expect(api.get(KEYS, headers=user.headers), 200)
    assert created["key"] not in listed.text, "the secret is never shown again"
    (entry,) = listed.json()["api_keys"]
    assert "key" not in entry
    assert entry == {k: v for k, v in created.items() if k != "key"}


def test_a_key_authenticates_through_the_gateway_without_a_bearer_token(
    api: httpx.Client, new_account: Callable[..., Account]
) -> None:
    user = new_account()
    created = create_key(api, user, ["read"], expires_in_days=None)
    assert created["expires_at"] is None

    me = expect(api.get("/api/v1/me", headers={"X-API-Key": created["key"]}), 200).json()
    assert me["email"] == user.email
    assert me["scopes"] == ["read"], "the key's scopes, not the owner's"

    (entry,) = expect(api.get(KEYS, headers=user.headers), 200).json()["api_keys"]
    assert entry["last_used_at"] is not None, "using a key records when"


def test_a_read_key_cannot_write(api: httpx.Client, new_account: Callable[..., Account]) -> None:
    user = new_account()
    read_key = {"X-API-Key": create_key(api, user, ["read"])["key"]}

    expect(api.get(KEYS, headers=read_key), 200)  # listing only needs read
    write = api.post(KEYS, json={"name": "escalate", "scopes": ["read"]}, headers=read_key)
    error = error_of(write, 403)
    assert (error["code"], error["field"]) == ("insufficient_scope", "scope")
    assert "write" in error["message"]
    assert len(expect(api.get(KEYS, headers=user.headers), 200).json()["api_keys"]) == 1


def test_you_cannot_grant_a_key_scopes_you_lack(
    api: httpx.Client, new_account: Callable[..., Account], admin_account: Account
) -> None:
    user = new_account()
    body = {"name": "wishful", "scopes": ["read", "admin"], "expires_in_days": 1}
    error = error_of(api.post(KEYS, json=body, headers=user.headers), 403)
    assert (error["code"], error["field"]) == ("insufficient_scope", "scopes")
    assert "admin" in error["message"]
    assert expect(api.get(KEYS, headers=user.headers), 200).json()["api_keys"] == []

    # An admin can hand the admin scope to a key, and the key carries it.
    admin_key = create_key(api, admin_account, ["admin", "read"], expires_in_days=1)
    me = expect(api.get("/api/v1/me", headers={"X-API-Key": admin_key["key"]}), 200).json()
    assert me["scopes"] == ["admin", "read"]


def test_a_revoked_key_is_refused(api: httpx.Client, new_account: Callable[..., Account]) -> None:
    user = new_account()
    created = create_key(api, user, ["read"])
    key = {"X-API-Key": created["key"]}
    exchanged = expect(api.post(EXCHANGE, headers=key), 200).json()
    assert exchanged["scope"] == "read"
    assert exchanged["expires_in"] == 300
    bearer = {"Authorization": f"Bearer {exchanged['access_token']}"}
    expect(api.get("/api/v1/me", headers=key), 200)  # the gateway now caches its own token
    expect(api.get("/api/v1/me", headers=bearer), 200)

    expect(api.delete(f"{KEYS}/{created['id']}", headers=user.headers), 204)

    # At once, through the gateway's cache and for a token exchanged before the revocation.
    cached = error_of(api.get("/api/v1/me", headers=key), 401)
    assert (cached["code"], cached["field"]) == ("invalid_api_key", "X-API-Key")
    earlier = error_of(api.get("/api/v1/me", headers=bearer), 401)
    assert earlier["code"] == "token_revoked"

    error = error_of(api.post(EXCHANGE, headers=key), 401)
    assert (error["code"], error["field"]) == ("invalid_api_key", "X-API-Key")
    assert expect(api.get(KEYS, headers=user.headers), 200).json()["api_keys"] == []
    again = error_of(api.delete(f"{KEYS}/{created['id']}", headers=user.headers), 404)
    assert again["code"] == "not_found"


def test_a_key_belongs_to_its_owner(api: httpx.Client, new_account: Callable[..., Account]) -> None:
    owner, other = new_account(), new_account()
    created = create_key(api, owner, ["read"])
    error = error_of(api.delete(f"{KEYS}/{created['id']}", headers=other.headers), 404)
    assert (error["code"], error["field"]) == ("not_found", "key_id")
    expect(api.post(EXCHANGE, headers={"X-API-Key": created["key"]}), 200)

    # An id of another shape is no resource: the route only matches UUIDs.
    malformed_id = error_of(api.delete(f"{KEYS}/not-a-uuid", headers=owner.headers), 404)
    assert malformed_id["code"] == "not_found"


def test_unknown_and_malformed_keys_are_refused(
    api: httpx.Client, new_account: Callable[..., Account]
) -> None:
    user = new_account()
    real = create_key(api, user, ["read"])["key"]
    forged = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")  # right prefix
    unknown_prefix = "mgk_" + "A" * 12 + real[16:]

    for key in (forged, unknown_prefix):
        error = error_of(api.post(EXCHANGE, headers={"X-API-Key": key}), 401)
        assert (error["code"], error["field"]) == ("invalid_api_key", "X-API-Key")
        via_gateway = error_of(api.get("/api/v1/me", headers={"X-API-Key": key}), 401)
        assert (via_gateway["code"], via_gateway["field"]) == ("invalid_api_key", "X-API-Key")

    (entry,) = expect(api.get(KEYS, headers=user.headers), 200).json()["api_keys"]
    assert entry["last_used_at"] is None, "failed attempts do not count as uses of the real key"

    # A malformed key fails validation before any lookup. Header names are case-insensitive, and
    # the field comes back as the validator spells it (``x-api-key``) or the gateway does.
    for malformed in ("not-a-key", "mgk_short_key", real + "x"):
        for response in (
            api.post(EXCHANGE, headers={"X-API-Key": malformed}),
            api.get("/api/v1/me", headers={"X-API-Key": malformed}),
        ):
            error = error_of(response, 422)
            assert error["code"] == "validation_failed"
            assert error["field"].lower() == "x-api-key", error


def test_key_requests_are_validated(api: httpx.Client, new_account: Callable[..., Account]) -> None:
    user = new_account()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": "", "scopes": ["read"]}, "name"),
        ({"name": "k", "scopes": []}, "scopes"),
        ({"name": "k", "scopes": ["root"]}, "scopes[0]"),
        ({"name": "k", "scopes": ["read"], "expires_in_days": 0}, "expires_in_days"),
        ({"name": "k", "scopes": ["read"], "expires_in_days": 366}, "expires_in_days"),
    ]
    for body, field in cases:
        error = error_of(api.post(KEYS, json=body, headers=user.headers), 422)
        assert (error["code"], error["field"]) == ("validation_failed", field), body
    assert expect(api.get(KEYS, headers=user.headers), 200).json()["api_keys"] == []

"""The core auth journey through the gateway, as a user lives it."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from harness.accounts import Account, expect, login, refresh, register_verified, unique_email
from harness.mailbox import Mailbox

pytestmark = pytest.mark.e2e


def test_register_verify_login_refresh_reuse_logout(api: httpx.Client, mailbox: Mailbox) -> None:
    account = register_verified(api, mailbox)
    login(api, account, device_id="phone-1")

    me = expect(api.get("/api/v1/me", headers=account.headers), 200).json()
    assert me["email"] == account.email
    assert me["email_verified"] is True
    assert me["scopes"] == ["read", "write"]

    first_refresh, first_access = account.refresh_token, account.access_token
    refresh(api, account)
    assert account.refresh_token != first_refresh, "refresh tokens rotate on every use"
    expect(api.get("/api/v1/me", headers=account.headers), 200)
    expect(api.get("/api/v1/me", headers={"Authorization": f"Bearer {first_access}"}), 200)

    # The rotated token comes back: someone else holds it. The whole family dies.
    reuse = api.post(
        "/api/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": first_refresh}
    )
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"
    assert "reuse" in reuse.json()["error_description"]
    for token in (account.access_token, first_access):
        denied = api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert denied.status_code == 401
        assert denied.json()["error"]["code"] == "token_revoked"
    latest = api.post(
        "/api/v1/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": account.refresh_token},
    )
    assert latest.status_code == 400, "the newest refresh token of a revoked family is dead too"

    # A fresh login is a new family; logging out ends it.
    login(api, account)
    expect(api.post("/api/v1/auth/logout", headers=account.headers), 204)
    assert api.get("/api/v1/me", headers=account.headers).status_code == 401
    after_logout = api.post(
        "/api/v1/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": account.refresh_token},
    )
    assert after_logout.json()["error"] == "invalid_grant"


def test_unverified_account_cannot_log_in(api: httpx.Client) -> None:
    email = unique_email()
    expect(
        api.post("/api/v1/auth/register", json={"email": email, "password": "long enough pw 1"}),
        202,
    )
    response = api.post("/api/v1/auth/login", json={"email": email, "password": "long enough pw 1"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "email_not_verified"


def test_verification_link_works_once(api: httpx.Client, mailbox: Mailbox) -> None:
    email = unique_email()
    expect(
        api.post("/api/v1/auth/register", json={"email": email, "password": "long enough pw 1"}),
        202,
    )
    token = mailbox.wait_for(email, "verify_email").link_token()
    expect(api.post("/api/v1/auth/verify-email", json={"token": token}), 200)
    again = api.post("/api/v1/auth/verify-email", json={"token": token})
    assert again.status_code == 404
    assert again.json()["error"] == {
        "code": "invalid_token",
        "message": "verification link is unknown, used or expired",
        "field": "token",
        "request_id": again.headers["x-request-id"],
    }


def test_registering_a_taken_address_looks_the_same_and_warns_the_owner(
    api: httpx.Client, mailbox: Mailbox, new_account: Callable[..., Account]
) -> None:
    owner = new_account(signed_in=False)
    fresh = api.post(
        "/api/v1/auth/register", json={"email": unique_email(), "password": "long enough pw 1"}
    )
    taken = api.post(
        "/api/v1/auth/register", json={"email": owner.email, "password": "long enough pw 1"}
    )
    assert (taken.status_code, taken.json()) == (fresh.status_code, fresh.json())
    assert mailbox.wait_for(owner.email, "account_exists").subject.startswith("Someone tried")

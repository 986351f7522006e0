"""The device authorization grant (RFC 8628): a TV shows a code, the user approves on a phone.

The TV starts at ``/device/code`` and polls ``/token``; the launched stack sets the polling
interval to 1 s, so a test waits about a second where it must poll politely.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from harness.accounts import Account, expect
from harness.stack import Stack

pytestmark = pytest.mark.e2e

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEVICE_CODE = "/api/v1/auth/device/code"
APPROVE = "/api/v1/auth/device/approve"
TOKEN = "/api/v1/auth/token"
USER_CODE = re.compile(r"^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$")


def register_device_client(
    api: httpx.Client, admin: Account, scopes: tuple[str, ...] = ("read", "write")
) -> str:
    body = {
        "name": "living-room tv",
        "scopes": list(scopes),
        "grant_types": ["device_code", "refresh_token"],
        "public": True,
    }
    registered = expect(api.post("/api/v1/auth/clients", json=body, headers=admin.headers), 201)
    assert DEVICE_GRANT in registered.json()["grant_types"]
    return str(registered.json()["client_id"])


def start(api: httpx.Client, client_id: str, scope: str | None = "read write") -> dict[str, Any]:
    form = {"client_id": client_id, **({"scope": scope} if scope else {})}
    return dict(expect(api.post(DEVICE_CODE, data=form), 200).json())


def poll(api: httpx.Client, client_id: str, device_code: str) -> httpx.Response:
    return api.post(
        TOKEN,
        data={"grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": client_id},
    )


def oauth_error(response: httpx.Response, status: int, error: str, field: str | None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["error"], body["field"]) == (error, field), body


def api_error(response: httpx.Response, status: int, code: str, field: str | None) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (code, field), error


def approve(
    api: httpx.Client, user: Account, user_code: str, *, approved: bool = True
) -> httpx.Response:
    return api.post(
        APPROVE, json={"user_code": user_code, "approve": approved}, headers=user.headers
    )


def test_poll_pending_slow_down_approve_then_tokens_once(
    api: httpx.Client,
    stack: Stack,
    admin_account: Account,
    new_account: Callable[..., Account],
) -> None:
    client_id = register_device_client(api, admin_account)
    user = new_account()
    grant = start(api, client_id)
    assert USER_CODE.match(grant["user_code"]), grant["user_code"]
    assert grant["verification_uri"] == f"{stack.base_url}/device"
    assert grant["verification_uri_complete"] == (
        f"{stack.base_url}/device?user_code={grant['user_code']}"
    )
    assert grant["interval"] == 1, "the launched stack polls at 1 s"
    assert grant["expires_in"] > 0
    device_code = grant["device_code"]

    oauth_error(poll(api, client_id, device_code), 400, "authorization_pending", "device_code")
    time.sleep(grant["interval"] + 0.1)
    oauth_error(poll(api, client_id, device_code), 400, "authorization_pending", "device_code")
    # At once again, faster than the interval: the device is told to back off.
    oauth_error(poll(api, client_id, device_code), 400, "slow_down", "device_code")

    approved = expect(approve(api, user, grant["user_code"]), 200).json()
    assert approved == {"status": "approved"}

    tokens = expect(poll(api, client_id, device_code), 200).json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["scope"] == "read write"
    assert tokens["refresh_token"].startswith("mgr_")
    me = api.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert expect(me, 200).json()["email"] == user.email

    oauth_error(poll(api, client_id, device_code), 400, "invalid_grant", "device_code")
    api_error(approve(api, user, grant["user_code"]), 404, "invalid_user_code", "user_code")


def test_json_start_typed_code_and_refresh_bound_to_the_client(
    api: httpx.Client, admin_account: Account, new_account: Callable[..., Account]
) -> None:
    client_id = register_device_client(api, admin_account)
    other_client = register_device_client(api, admin_account)
    user = new_account()
    grant = expect(api.post(DEVICE_CODE, json={"client_id": client_id, "scope": "read"}), 200)
    user_code = grant.json()["user_code"]

    # People type what the TV shows loosely: lower case, without the dash.
    typed = user_code.replace("-", "").lower()
    assert expect(approve(api, user, typed), 200).json() == {"status": "approved"}

    device_code = grant.json()["device_code"]
    # Only the client the code was issued to can redeem it.
    oauth_error(poll(api, other_client, device_code), 400, "invalid_grant", "device_code")
    tokens = expect(poll(api, client_id, device_code), 200).json()
    assert tokens["scope"] == "read"

    stolen = api.post(
        TOKEN,
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": other_client,
        },
    )
    oauth_error(stolen, 400, "invalid_grant", "client_id")
    rotated = api.post(
        TOKEN,
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": client_id,
        },
    )
    assert expect(rotated, 200).json()["refresh_token"] != tokens["refresh_token"]
    assert rotated.json()["scope"] == "read"


def test_denied_device_gets_access_denied(
    api: httpx.Client, admin_account: Account, new_account: Callable[..., Account]
) -> None:
    client_id = register_device_client(api, admin_account)
    user = new_account()
    grant = start(api, client_id)

    assert expect(approve(api, user, grant["user_code"], approved=False), 200).json() == {
        "status": "denied"
    }
    oauth_error(poll(api, client_id, grant["device_code"]), 400, "access_denied", "device_code")
    # A denial is final: the same code cannot be approved afterwards.
    api_error(approve(api, user, grant["user_code"]), 404, "invalid_user_code", "user_code")
    oauth_error(poll(api, client_id, grant["device_code"]), 400, "access_denied", "device_code")


def test_unknown_user_code_is_refused(
    api: httpx.Client, admin_account: Account, new_account: Callable[..., Account]
) -> None:
    client_id = register_device_client(api, admin_account)
    user = new_account()
    grant = start(api, client_id)
    unknown = "BBBB-BBBB" if grant["user_code"] != "BBBB-BBBB" else "CCCC-CCCC"

    api_error(approve(api, user, unknown), 404, "invalid_user_code", "user_code")
    api_error(approve(api, user, "BCD"), 422, "validation_failed", "user_code")
    anonymous = api.post(APPROVE, json={"user_code": grant["user_code"], "approve": True})
    api_error(anonymous, 401, "missing_token", "Authorization")
    # None of that touched the real code: it is still pending.
    oauth_error(
        poll(api, client_id, grant["device_code"]), 400, "authorization_pending", "device_code"
    )


def test_device_code_requests_are_checked(
    api: httpx.Client, admin_account: Account, new_account: Callable[..., Account]
) -> None:
    read_only = register_device_client(api, admin_account, scopes=("read",))

    unknown = api.post(DEVICE_CODE, data={"client_id": "mgc_no-such-client"})
    api_error(unknown, 404, "invalid_client", "client_id")

    too_much = api.post(DEVICE_CODE, data={"client_id": read_only, "scope": "read write"})
    api_error(too_much, 403, "invalid_scope", "scope")

    web_only = {
        "name": "web app",
        "redirect_uris": ["https://app.example.org/cb"],
        "scopes": ["read"],
        "grant_types": ["authorization_code"],
        "public": True,
    }
    web_client = expect(
        api.post("/api/v1/auth/clients", json=web_only, headers=admin_account.headers), 201
    ).json()["client_id"]
    not_allowed = api.post(DEVICE_CODE, data={"client_id": web_client})
    api_error(not_allowed, 403, "unauthorized_client", "client_id")

    # With no scope asked for, the device gets everything its client may have.
    user = new_account()
    grant = start(api, read_only, scope=None)
    expect(approve(api, user, grant["user_code"]), 200)
    assert expect(poll(api, read_only, grant["device_code"]), 200).json()["scope"] == "read"
    oauth_error(
        poll(api, read_only, "not-a-device-code-at-all"), 400, "invalid_grant", "device_code"
    )

"""A user's sessions — one per login on a device: listed, and ended one at a time."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from harness.accounts import Account, expect, login

pytestmark = pytest.mark.e2e

SESSIONS = "/api/v1/auth/sessions"


def on_device(api: httpx.Client, account: Account, device_id: str) -> Account:
    """The same person signing in on another device: a second, independent login."""
    return login(api, Account(account.email, account.password), device_id=device_id)


def error_of(response: httpx.Response, status: int) -> dict[str, str]:
    assert response.status_code == status, response.text
    return dict(response.json()["error"])


def test_two_devices_are_two_sessions_and_one_is_current(
    api: httpx.Client, new_account: Callable[..., Account]
) -> None:
    phone = new_account(device_id="phone-1")
    tv = on_device(api, phone, "tv-1")
    assert phone.session_id != tv.session_id

    listed = expect(api.get(SESSIONS, headers=phone.headers), 200).json()["sessions"]
    by_id = {s["id"]: s for s in listed}
    assert set(by_id) == {phone.session_id, tv.session_id}
    assert by_id[phone.session_id]["device_id"] == "phone-1"
    assert by_id[tv.session_id]["device_id"] == "tv-1"
    assert [s["id"] for s in listed if s["current"]] == [phone.session_id]
    assert listed[0]["id"] == tv.session_id, "newest first"

    from_tv = expect(api.get(SESSIONS, headers=tv.headers), 200).json()["sessions"]
    assert [s["id"] for s in from_tv if s["current"]] == [tv.session_id]


def test_ending_another_session_kills_its_tokens_and_only_them(
    api: httpx.Client, new_account: Callable[..., Account]
) -> None:
    phone = new_account(device_id="phone-1")
    tv = on_device(api, phone, "tv-1")
    expect(api.get("/api/v1/me", headers=tv.headers), 200)

    expect(api.delete(f"{SESSIONS}/{tv.session_id}", headers=phone.headers), 204)

    dead_access = error_of(api.get("/api/v1/me", headers=tv.headers), 401)
    assert dead_access["code"] == "token_revoked"
    dead_refresh = api.post(
        "/api/v1/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": tv.refresh_token},
    )
    assert dead_refresh.status_code == 400
    assert (dead_refresh.json()["error"], dead_refresh.json()["field"]) == (
        "invalid_grant",
        "refresh_token",
    )

    # The phone's own session is untouched.
    expect(api.get("/api/v1/me", headers=phone.headers), 200)
    listed = expect(api.get(SESSIONS, headers=phone.headers), 200).json()["sessions"]
    assert [s["id"] for s in listed] == [phone.session_id]
    refreshed = api.post(
        "/api/v1/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": phone.refresh_token},
    )
    expect(refreshed, 200)

    # Ending it twice: it is gone.
    again = error_of(api.delete(f"{SESSIONS}/{tv.session_id}", headers=phone.headers), 404)
    assert (again["code"], again["field"]) == ("not_found", "session_id")


def test_another_users_session_is_not_found(
    api: httpx.Client, new_account: Callable[..., Account]
) -> None:
    me, stranger = new_account(device_id="mine"), new_account(device_id="theirs")

    error = error_of(api.delete(f"{SESSIONS}/{stranger.session_id}", headers=me.headers), 404)
    assert (error["code"], error["field"]) == ("not_found", "session_id")
    expect(api.get("/api/v1/me", headers=stranger.headers), 200)
    theirs = expect(api.get(SESSIONS, headers=stranger.headers), 200).json()["sessions"]
    assert [s["id"] for s in theirs] == [stranger.session_id]

    missing = "00000000-0000-4000-8000-000000000000"
    error = error_of(api.delete(f"{SESSIONS}/{missing}", headers=me.headers), 404)
    assert (error["code"], error["field"]) == ("not_found", "session_id")


@pytest.mark.parametrize(
    "session_id",
    ["not-a-uuid", "12345", "00000000-0000-4000-8000-00000000000Z", "0" * 36],
)
def test_a_malformed_session_id_is_no_resource(
    api: httpx.Client, new_account: Callable[..., Account], session_id: str
) -> None:
    """Only a UUID names a session (the path parameter's documented pattern): any other segment
    is no resource at all, a 404, and nothing is ended."""
    user = new_account()
    error = error_of(api.delete(f"{SESSIONS}/{session_id}", headers=user.headers), 404)
    assert error["code"] == "not_found"
    expect(api.get("/api/v1/me", headers=user.headers), 200)

"""Forgotten password: the e-mailed link sets a new password once and ends every old session."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from harness.accounts import Account, expect, login, unique_email
from harness.mailbox import Mailbox

pytestmark = pytest.mark.e2e

FORGOT = "/api/v1/auth/password/forgot"
RESET = "/api/v1/auth/password/reset"
NEW_PASSWORD = "a brand new passphrase 7"


def password_works(api: httpx.Client, email: str, password: str) -> bool:
    response = api.post("/api/v1/auth/login", json={"email": email, "password": password})
    if response.status_code == 401:
        assert response.json()["error"]["code"] == "invalid_credentials"
        return False
    expect(response, 200)
    return True


def reset_link_token(api: httpx.Client, mailbox: Mailbox, email: str) -> str:
    """Ask for a reset link and follow the e-mail this request sent (not an earlier one)."""
    earlier = {mail.path for mail in mailbox.messages(email, "password_reset")}
    expect(api.post(FORGOT, json={"email": email}), 202)
    mailbox.wait_for(email, "password_reset")
    (mail,) = [m for m in mailbox.messages(email, "password_reset") if m.path not in earlier]
    assert mail.subject == "Reset your password"
    return mail.link_token()


def refresh(api: httpx.Client, refresh_token: str) -> httpx.Response:
    return api.post(
        "/api/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token}
    )


def test_reset_sets_the_new_password_and_ends_every_session(
    api: httpx.Client, mailbox: Mailbox, new_account: Callable[..., Account]
) -> None:
    phone = new_account(device_id="phone-1")
    tv = login(api, Account(phone.email, phone.password), device_id="tv-1")

    token = reset_link_token(api, mailbox, phone.email)
    assert f"/reset-password?token={token}" in mailbox.wait_for(phone.email, "password_reset").text

    done = expect(api.post(RESET, json={"token": token, "new_password": NEW_PASSWORD}), 200)
    assert done.json() == {"email_verified": True}

    assert not password_works(api, phone.email, phone.password)
    assert password_works(api, phone.email, NEW_PASSWORD)
    for old in (phone, tv):
        dead = refresh(api, old.refresh_token)
        assert dead.status_code == 400
        assert (dead.json()["error"], dead.json()["field"]) == ("invalid_grant", "refresh_token")
        revoked = api.get("/api/v1/me", headers=old.headers)
        assert revoked.status_code == 401
        assert revoked.json()["error"]["code"] == "token_revoked"


def test_unknown_address_gets_the_same_answer_and_no_email(
    api: httpx.Client, mailbox: Mailbox, new_account: Callable[..., Account]
) -> None:
    known = new_account(signed_in=False)
    stranger = unique_email("nobody")

    for_known = api.post(FORGOT, json={"email": known.email})
    for_unknown = api.post(FORGOT, json={"email": stranger})
    assert for_known.status_code == for_unknown.status_code == 202
    assert for_known.json() == for_unknown.json()
    assert for_known.json()["status"] == "accepted"

    # The known address's e-mail is written before its answer; the unknown one gets nothing.
    assert mailbox.messages(known.email, "password_reset")
    assert mailbox.messages(stranger) == []


def test_the_reset_link_works_once(
    api: httpx.Client, mailbox: Mailbox, new_account: Callable[..., Account]
) -> None:
    user = new_account(signed_in=False)
    token = reset_link_token(api, mailbox, user.email)
    expect(api.post(RESET, json={"token": token, "new_password": NEW_PASSWORD}), 200)

    again = api.post(RESET, json={"token": token, "new_password": "yet another passphrase 8"})
    assert again.status_code == 404
    assert again.json()["error"] == {
        "code": "invalid_token",
        "message": "reset link is unknown, used or expired",
        "field": "token",
        "request_id": again.headers["x-request-id"],
    }
    assert password_works(api, user.email, NEW_PASSWORD)
    assert not password_works(api, user.email, "yet another passphrase 8")


def test_a_reset_ends_every_other_outstanding_reset_link(
    api: httpx.Client, mailbox: Mailbox, new_account: Callable[..., Account]
) -> None:
    user = new_account(signed_in=False)
    older = reset_link_token(api, mailbox, user.email)
    newer = reset_link_token(api, mailbox, user.email)
    assert older != newer
    expect(api.post(RESET, json={"token": newer, "new_password": NEW_PASSWORD}), 200)

    # Whoever else holds the older e-mail cannot take the account over with it.
    stale = api.post(RESET, json={"token": older, "new_password": "an attacker's passphrase 9"})
    assert stale.status_code == 404
    assert (stale.json()["error"]["code"], stale.json()["error"]["field"]) == (
        "invalid_token",
        "token",
    )
    assert password_works(api, user.email, NEW_PASSWORD)


@pytest.mark.parametrize(
    "weak",
    ["short1", "password123", "aaaaaaaaaaaaaaa", "x" * 129],
    ids=["too-short", "common", "too-few-characters", "too-long"],
)
def test_a_weak_new_password_changes_nothing(
    api: httpx.Client, mailbox: Mailbox, new_account: Callable[..., Account], weak: str
) -> None:
    user = new_account()
    token = reset_link_token(api, mailbox, user.email)

    refused = api.post(RESET, json={"token": token, "new_password": weak})
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert (error["code"], error["field"]) == ("validation_failed", "new_password")

    assert password_works(api, user.email, user.password), "the password did not change"
    expect(api.get("/api/v1/me", headers=user.headers), 200)
    expect(refresh(api, user.refresh_token), 200)
    # The refusal did not spend the link: a good password still goes through with it.
    expect(api.post(RESET, json={"token": token, "new_password": NEW_PASSWORD}), 200)
    assert password_works(api, user.email, NEW_PASSWORD)

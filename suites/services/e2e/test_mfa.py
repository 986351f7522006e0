"""TOTP multi-factor login: enrol, confirm, log in with a code or a recovery code.

TOTP codes belong to 30 s time steps and the server accepts the previous, current and next
step. It also remembers the last step used (enrolment confirmation included) and refuses any
code of that step or older, so a test never reuses a step by accident: it takes the step once
(``step``), confirms enrolment with that step's code and logs in with the next step's code.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pyotp
import pytest

from harness.accounts import Account, expect
from harness.stack import Stack

pytestmark = pytest.mark.e2e

PERIOD = 30
ENROLL = "/api/v1/auth/mfa/enroll"
CONFIRM = "/api/v1/auth/mfa/enroll/confirm"
VERIFY = "/api/v1/auth/mfa/verify"
RECOVERY_CODE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{8}$")


class Authenticator:
    """The user's authenticator app, with codes for explicit time steps."""

    def __init__(self, secret: str) -> None:
        self.totp = pyotp.TOTP(secret)
        self.step = int(time.time()) // PERIOD

    def code(self, step: int) -> str:
        return self.totp.at(step * PERIOD)

    def wrong_code(self) -> str:
        """Six digits that no step around now produces: the server can never accept them."""
        valid = {self.code(self.step + offset) for offset in range(-2, 4)}
        return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


def enable_mfa(api: httpx.Client, user: Account) -> tuple[Authenticator, list[str]]:
    enrollment = expect(api.post(ENROLL, headers=user.headers), 200).json()
    app = Authenticator(enrollment["secret"])
    confirmed = api.post(CONFIRM, json={"code": app.code(app.step)}, headers=user.headers)
    return app, list(expect(confirmed, 200).json()["recovery_codes"])


def challenge(api: httpx.Client, user: Account) -> str:
    """Log in with the password; MFA is on, so the answer is a challenge, not tokens."""
    body = {"email": user.email, "password": user.password}
    answer = expect(api.post("/api/v1/auth/login", json=body), 200).json()
    assert answer["mfa_required"] is True
    assert "access_token" not in answer
    assert answer["expires_in"] > 0
    return str(answer["mfa_token"])


def verify(api: httpx.Client, mfa_token: str, **factor: str) -> httpx.Response:
    return api.post(VERIFY, json={"mfa_token": mfa_token, **factor})


def refused(response: httpx.Response, code: str, field: str) -> None:
    assert response.status_code == 401, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (code, field), error


def signed_in(api: httpx.Client, response: httpx.Response, user: Account) -> None:
    tokens = expect(response, 200).json()
    assert tokens["refresh_token"]
    me = api.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert expect(me, 200).json()["email"] == user.email


def test_enrol_confirm_then_login_needs_a_fresh_totp_code(
    api: httpx.Client, new_account: Callable[..., Account]
) -> None:
    user = new_account()
    enrollment = expect(api.post(ENROLL, headers=user.headers), 200).json()
    assert enrollment["otpauth_uri"].startswith("otpauth://totp/")
    assert f"secret={enrollment['secret']}" in enrollment["otpauth_uri"]
    assert "issuer=Media%20Gateway" in enrollment["otpauth_uri"]
    app = Authenticator(enrollment["secret"])

    # Enrolment alone changes nothing: MFA is on only once a code confirms it.
    assert expect(api.get("/api/v1/me", headers=user.headers), 200).json()["mfa_enabled"] is False
    body = {"email": user.email, "password": user.password}
    assert "access_token" in expect(api.post("/api/v1/auth/login", json=body), 200).json()

    confirmed = api.post(CONFIRM, json={"code": app.code(app.step)}, headers=user.headers)
    codes = expect(confirmed, 200).json()["recovery_codes"]
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert all(RECOVERY_CODE.match(code) for code in codes), codes
    assert expect(api.get("/api/v1/me", headers=user.headers), 200).json()["mfa_enabled"] is True

    again = api.post(ENROLL, headers=user.headers)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "mfa_already_enabled")

    # The confirmation used this step's code: it cannot log in. The next step's code can.
    mfa_token = challenge(api, user)
    refused(verify(api, mfa_token, code=app.code(app.step)), "invalid_mfa_code", "code")
    signed_in(api, verify(api, mfa_token, code=app.code(app.step + 1)), user)


def test_a_totp_code_cannot_be_replayed(
    api: httpx.Client, new_account: Callable[..., Account]
) -> None:
    user = new_account()
    app, _ = enable_mfa(api, user)
    code = app.code(app.step + 1)
    signed_in(api, verify(api, challenge(api, user), code=code), user)

    # Someone who saw the code over the user's shoulder tries it within its window.
    replay_token = challenge(api, user)
    refused(verify(api, replay_token, code=code), "invalid_mfa_code", "code")
    # Nor does an older step's code, still inside the clock-drift window, come back to life.
    refused(verify(api, replay_token, code=app.code(app.step)), "invalid_mfa_code", "code")


def test_a_recovery_code_works_once(api: httpx.Client, new_account: Callable[..., Account]) -> None:
    user = new_account()
    _, recovery = enable_mfa(api, user)

    signed_in(api, verify(api, challenge(api, user), recovery_code=recovery[0]), user)
    again = challenge(api, user)
    refused(verify(api, again, recovery_code=recovery[0]), "invalid_mfa_code", "recovery_code")
    # The failure did not end the challenge, and the other codes are still good.
    signed_in(api, verify(api, again, recovery_code=recovery[1]), user)


def test_five_wrong_codes_end_the_challenge(
    api: httpx.Client, new_account: Callable[..., Account]
) -> None:
    user = new_account()
    app, _ = enable_mfa(api, user)
    mfa_token = challenge(api, user)
    for _ in range(5):
        refused(verify(api, mfa_token, code=app.wrong_code()), "invalid_mfa_code", "code")

    # The right code is too late for this challenge: it is gone.
    right = app.code(app.step + 1)
    refused(verify(api, mfa_token, code=right), "invalid_mfa_token", "mfa_token")
    # A new login starts over, and that code (never accepted) still works.
    signed_in(api, verify(api, challenge(api, user), code=right), user)


def test_parallel_wrong_codes_still_count_towards_the_limit(
    api: httpx.Client, stack: Stack, new_account: Callable[..., Account]
) -> None:
    """Guessing in parallel must not get more than five codes checked against one challenge."""
    user = new_account()
    app, _ = enable_mfa(api, user)
    mfa_token = challenge(api, user)
    wrong = app.wrong_code()
    guessers = 12
    start = threading.Barrier(guessers)

    def guess(_: int) -> tuple[int, str]:
        with httpx.Client(base_url=stack.base_url, timeout=15) as client:
            client.get("/health/live")  # connected before the race starts
            start.wait(timeout=10)
            response = client.post(VERIFY, json={"mfa_token": mfa_token, "code": wrong})
            return response.status_code, str(response.json()["error"]["code"])

    with ThreadPoolExecutor(max_workers=guessers) as pool:
        outcomes = list(pool.map(guess, range(guessers)))
    assert {status for status, _ in outcomes} == {401}
    checked = [code for _, code in outcomes if code == "invalid_mfa_code"]
    assert len(checked) == 5, outcomes
    refused(verify(api, mfa_token, code=app.code(app.step + 1)), "invalid_mfa_token", "mfa_token")


def test_one_challenge_gives_one_session_even_when_right_answers_race(
    api: httpx.Client, stack: Stack, new_account: Callable[..., Account]
) -> None:
    user = new_account()
    _, recovery = enable_mfa(api, user)
    mfa_token = challenge(api, user)
    racers = 10
    start = threading.Barrier(racers)

    def answer(index: int) -> int:
        with httpx.Client(base_url=stack.base_url, timeout=15) as client:
            client.get("/health/live")
            start.wait(timeout=10)
            body = {"mfa_token": mfa_token, "recovery_code": recovery[index]}
            return client.post(VERIFY, json=body).status_code

    with ThreadPoolExecutor(max_workers=racers) as pool:
        statuses = list(pool.map(answer, range(racers)))
    assert sorted(statuses) == [200] + [401] * (racers - 1), statuses
    # The losers' recovery codes were not spent by a login that did not happen.
    loser = statuses.index(401)
    signed_in(api, verify(api, challenge(api, user), recovery_code=recovery[loser]), user)


def test_four_wrong_codes_still_leave_the_challenge_open(
    api: httpx.Client, new_account: Callable[..., Account]
) -> None:
    user = new_account()
    app, _ = enable_mfa(api, user)
    mfa_token = challenge(api, user)
    for _ in range(4):
        refused(verify(api, mfa_token, code=app.wrong_code()), "invalid_mfa_code", "code")
    signed_in(api, verify(api, mfa_token, code=app.code(app.step + 1)), user)
    # A challenge that succeeded is spent.
    refused(verify(api, mfa_token, code=app.code(app.step + 1)), "invalid_mfa_token", "mfa_token")


def test_confirmation_needs_the_right_code_and_a_pending_enrolment(
    api: httpx.Client, new_account: Callable[..., Account]
) -> None:
    user = new_account()
    nothing_pending = api.post(CONFIRM, json={"code": "123456"}, headers=user.headers)
    assert nothing_pending.status_code == 409
    assert nothing_pending.json()["error"]["code"] == "no_pending_enrolment"

    app = Authenticator(expect(api.post(ENROLL, headers=user.headers), 200).json()["secret"])
    wrong = api.post(CONFIRM, json={"code": app.wrong_code()}, headers=user.headers)
    assert wrong.status_code == 403
    assert (wrong.json()["error"]["code"], wrong.json()["error"]["field"]) == (
        "invalid_mfa_code",
        "code",
    )
    assert expect(api.get("/api/v1/me", headers=user.headers), 200).json()["mfa_enabled"] is False


def test_verify_takes_exactly_one_factor_and_a_known_challenge(
    api: httpx.Client, new_account: Callable[..., Account]
) -> None:
    user = new_account()
    app, recovery = enable_mfa(api, user)
    mfa_token = challenge(api, user)

    both = verify(api, mfa_token, code=app.code(app.step + 1), recovery_code=recovery[0])
    assert both.status_code == 422
    assert "exactly one" in both.json()["error"]["message"]
    neither = verify(api, mfa_token)
    assert neither.status_code == 422

    unknown = verify(api, "x" * 43, code=app.code(app.step + 1))
    refused(unknown, "invalid_mfa_token", "mfa_token")
    # The malformed attempts cost nothing: the real challenge still accepts the code.
    signed_in(api, verify(api, mfa_token, code=app.code(app.step + 1)), user)

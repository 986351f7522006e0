"""Secrets never leave the system: after a session of sign-ins, refreshes, API keys and failed
attempts, none of the passwords, tokens, keys or the signing secret appears in any service's
log, in the metrics, or in an error body.

Runs against a stack the harness launched (it needs the processes' log files and the stack's
``JWT_SECRET``).
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from harness.accounts import Account, expect, refresh
from harness.stack import Stack

pytestmark = pytest.mark.e2e


def test_no_secret_in_logs_metrics_or_error_bodies(
    stack: Stack, api: httpx.Client, new_account: Callable[..., Account]
) -> None:
    if not stack.launched:
        pytest.skip("needs the log files of a stack the harness launched (attached by URL)")
    user = new_account()
    secrets: dict[str, str] = {"password": user.password, "JWT_SECRET": stack.env["JWT_SECRET"]}
    bodies: list[str] = []

    wrong = "Wrong-but-long-password-" + user.password[:6]
    secrets["a wrong password"] = wrong
    bodies.append(
        api.post("/api/v1/auth/login", json={"email": user.email, "password": wrong}).text
    )
    secrets["first access token"] = user.access_token
    secrets["first refresh token"] = user.refresh_token
    old_refresh = user.refresh_token
    refresh(api, user)
    secrets["access token"], secrets["refresh token"] = user.access_token, user.refresh_token
    # Reusing the rotated refresh token revokes the family: an error that must not echo it.
    bodies.append(
        api.post(
            "/api/v1/auth/token",
            data={"grant_type": "refresh_token", "refresh_token": old_refresh},
        ).text
    )
    second = new_account()
    key = expect(
        api.post(
            "/api/v1/auth/api-keys",
            json={"name": "leak-check", "scopes": ["read"]},
            headers=second.headers,
        ),
        201,
    ).json()["key"]
    secrets["API key"] = key
    secrets["second access token"] = second.access_token
    expect(api.get("/api/v1/me", headers={"X-API-Key": key}), 200)
    bodies.append(api.get("/api/v1/me", headers={"X-API-Key": key[:-3] + "AAA"}).text)
    bodies.append(api.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"}).text)
    bodies.append(api.get("/api/v1/no-such-route", headers=second.headers).text)

    metrics = api.get("/metrics").text
    logs = {name: p.log_path.read_text(errors="replace") for name, p in stack.processes.items()}
    assert logs, "the launched stack has no process logs to check"
    where = {"metrics": metrics, **{f"{n} log": t for n, t in logs.items()}}
    where |= {f"error body {i}": b for i, b in enumerate(bodies)}
    leaks = [
        f"{what} in {place}"
        for what, value in secrets.items()
        for place, text in where.items()
        if value and value in text
    ]
    assert leaks == []

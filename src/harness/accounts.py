"""Create and sign in users through the public API — for suites, benchmarks and load runs —
and, for suites that run one service alone, straight in the database (``insert_user``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg

from harness.mailbox import Mailbox

DEFAULT_PASSWORD = "Harness-pass-9f3c2a"  # noqa: S105 — a throwaway account password on test stacks


@dataclass
class Account:
    email: str
    password: str
    access_token: str = ""
    refresh_token: str = ""
    session_id: str = ""
    scope: str = ""
    expires_in: float = 0.0
    """The access token's lifetime in seconds, as the token response said."""
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    def remember(self, tokens: dict[str, object]) -> None:
        self.access_token = str(tokens["access_token"])
        self.refresh_token = str(tokens["refresh_token"])
        self.session_id = str(tokens.get("session_id", ""))
        self.scope = str(tokens.get("scope", ""))
        self.expires_in = float(str(tokens.get("expires_in", 0)))


def unique_email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}@harness.example.org"


def expect(response: httpx.Response, status: int) -> httpx.Response:
    if response.status_code != status:
        raise AssertionError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}, expected {status}: {response.text[:500]}"
        )
    return response


def register_verified(
    client: httpx.Client,
    mailbox: Mailbox,
    email: str | None = None,
    password: str = DEFAULT_PASSWORD,
) -> Account:
    """Register and confirm the e-mail address (needs the stack's mailbox)."""
    account = Account(email or unique_email(), password)
    expect(
        client.post("/api/v1/auth/register", json={"email": account.email, "password": password}),
        202,
    )
    token = mailbox.wait_for(account.email, "verify_email").link_token()
    expect(client.post("/api/v1/auth/verify-email", json={"token": token}), 200)
    return account


def login(client: httpx.Client, account: Account, device_id: str | None = None) -> Account:
    body: dict[str, str] = {"email": account.email, "password": account.password}
    if device_id:
        body["device_id"] = device_id
    account.remember(expect(client.post("/api/v1/auth/login", json=body), 200).json())
    return account


def refresh(client: httpx.Client, account: Account) -> Account:
    response = client.post(
        "/api/v1/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": account.refresh_token},
    )
    account.remember(expect(response, 200).json())
    return account


def insert_user(conn: psycopg.Connection[Any], prefix: str = "user") -> str:
    """A verified user straight in ``auth.users``, for suites that run one service without the
    auth service in front; returns its id. The e-mail is unique (``prefix-<random>``)."""
    row = conn.execute(
        "INSERT INTO auth.users (email, email_verified_at) VALUES (%s, now()) RETURNING id::text",
        (f"{prefix}-{uuid.uuid4().hex[:10]}@example.test",),
    ).fetchone()
    if row is None:
        raise RuntimeError("INSERT … RETURNING gave no row")
    return str(row[0])

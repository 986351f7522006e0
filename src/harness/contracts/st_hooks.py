"""Schemathesis hooks for ``st run`` from a clone: the fuzzer signs itself in, and stays signed in.

``schemathesis.toml`` at the repository root names this module (``hooks = …``), so a plain
``st run contracts/openapi/gateway.json --url <gateway>`` authenticates every call without a
token pasted on the command line. The account comes from ``MG_FUZZ_EMAIL`` and
``MG_FUZZ_PASSWORD`` (``mgh stack up`` prints both for the stack's admin, whose scope also
reaches the admin operations).

Fuzzing the API's own credential operations must not cut the branch the run sits on. Two
sessions are kept, each one login:

* the **main** session, used by every operation that cannot end a session;
* a **disposable** session, used by the operations that can (logout, deleting a session or an
  API key): when one of them ends its own session, only the disposable one is gone.

A stateful scenario can still end the main session (list the sessions, delete the first). Both
tokens are cached through schemathesis' own caching provider, which treats a 401 as an expired
credential: it signs in again and replays the request once, so the run renews itself instead of
failing every later call with 401.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import schemathesis
from schemathesis import AuthContext, Case

EMAIL_VARIABLE = "MG_FUZZ_EMAIL"
PASSWORD_VARIABLE = "MG_FUZZ_PASSWORD"  # noqa: S105 — the name of a variable, not a password
LOGIN_URL_VARIABLE = "MG_FUZZ_LOGIN_URL"

REFRESH_SECONDS = 240
"""Renew before the access token's 5 minutes run out, whatever the fuzzer did meanwhile."""

SESSION_ENDING = frozenset(
    {
        ("POST", "/api/v1/auth/logout"),
        ("DELETE", "/api/v1/auth/sessions/{session_id}"),
        ("DELETE", "/api/v1/auth/api-keys/{key_id}"),
    }
)
"""Operations that can end the session whose token they carry (or the key behind it)."""

LOGIN_PATH = "/api/v1/auth/login"


class FuzzAuthError(RuntimeError):
    """The fuzzer's own sign-in failed; the message says which variable or answer."""


def credentials() -> tuple[str, str]:
    """The account to sign in as, from the environment; a missing variable is named."""
    missing = [name for name in (EMAIL_VARIABLE, PASSWORD_VARIABLE) if not os.environ.get(name)]
    if missing:
        raise FuzzAuthError(
            f"set {' and '.join(missing)} to the account the fuzzer signs in as "
            "(`mgh stack up` prints them for the stack's admin)"
        )
    return os.environ[EMAIL_VARIABLE], os.environ[PASSWORD_VARIABLE]


def sign_in(base_url: str, session: str) -> str:
    """One login at ``base_url`` (the gateway, or the auth service called directly); the
    ``device_id`` names the session so the two are told apart in ``GET /auth/sessions``."""
    email, password = credentials()
    body = {"email": email, "password": password, "device_id": f"schemathesis-{session}"}
    try:
        response = httpx.post(f"{base_url.rstrip('/')}{LOGIN_PATH}", json=body, timeout=15)
    except httpx.HTTPError as exc:
        raise FuzzAuthError(f"login at {base_url} failed: {exc}") from exc
    if response.status_code != 200:
        raise FuzzAuthError(
            f"login at {base_url} as {email} answered {response.status_code}: {response.text[:300]}"
        )
    token: str = response.json()["access_token"]
    return token


def login_url(context: AuthContext) -> str:
    """Where to sign in: ``MG_FUZZ_LOGIN_URL`` when the API under test has no login of its own
    (a service other than auth, fuzzed on its own address), else the API under test."""
    return os.environ.get(LOGIN_URL_VARIABLE) or context.operation.schema.get_base_url()


def session_kind(case: Case[Any], context: AuthContext) -> str:
    """The cache key: which of the two sessions this operation uses."""
    key = (context.operation.method.upper(), context.operation.path)
    return "disposable" if key in SESSION_ENDING else "main"


@schemathesis.auth(refresh_interval=REFRESH_SECONDS, cache_by_key=session_kind)
class FuzzerSession:
    """Bearer tokens of the two sessions, signed in on first use and again after any 401."""

    def get(self, case: Case[Any], context: AuthContext) -> str:
        return sign_in(login_url(context), session_kind(case, context))

    def set(self, case: Case[Any], data: str, context: AuthContext) -> None:
        case.headers["Authorization"] = f"Bearer {data}"

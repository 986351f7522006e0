"""Hostile and malformed input through the gateway: every refusal is a clean, typed error.

Each case checks the status, ``error.code`` and ``error.field`` of the shared error shape
``{"error": {code, message, field, request_id}}`` (or the RFC 6749 shape on ``/token``), and the
bad registrations also check that nothing reached the database or the outbox.
"""

from __future__ import annotations

import base64
import http.client
import json
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import psycopg
import pytest

from harness.accounts import Account, expect, unique_email
from harness.mailbox import Mailbox
from harness.stack import Stack

pytestmark = pytest.mark.e2e

MIB = 1_048_576
ISSUER = "media-gateway"
GOOD_PASSWORD = "long enough pw 1"
ME = "/api/v1/me"
REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
AUTH_TABLES = ("auth.users", "auth.credentials", "auth.email_verifications")


def assert_error(response: httpx.Response, status: int, code: str, field: str | None) -> dict:
    """The response is the shared error shape with this status, code and field."""
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "field", "request_id"}, error
    assert (error["code"], error["field"]) == (code, field), error
    assert isinstance(error["message"], str)
    assert error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    return dict(error)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def claims(**overrides: Any) -> dict[str, Any]:
    """A well-formed claim set, as the auth service issues them, with ``overrides``."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": str(uuid.uuid4()),
        "scope": "read write",
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 300,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], key: str, algorithm: str = "HS256") -> str:
    return jwt.encode(payload, key, algorithm=algorithm)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def secret(stack: Stack) -> str:
    if "JWT_SECRET" not in stack.env:
        pytest.fail("the stack's JWT_SECRET is unknown (attached stack): cannot mint tokens")
    return stack.env["JWT_SECRET"]


@pytest.fixture
def signed_in(new_account: Callable[..., Account]) -> Account:
    return new_account()


@pytest.fixture
def auth_rows(database_url: str) -> Callable[[], dict[str, int]]:
    """``auth_rows()``: the row count of each table a registration writes to."""

    def count() -> dict[str, int]:
        counts = {}
        with psycopg.connect(database_url) as conn:
            for table in AUTH_TABLES:
                row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
                assert row is not None
                counts[table] = int(row[0])
        return counts

    return count


# --- Tokens --------------------------------------------------------------------------------


def test_expired_token_is_token_expired(api: httpx.Client, secret: str) -> None:
    past = int(time.time()) - 3600
    token = sign(claims(iat=past - 900, exp=past), secret)
    response = api.get(ME, headers=bearer(token))
    error = assert_error(response, 401, "token_expired", "Authorization")
    assert "expired" in error["message"]
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


def test_tampered_payload_is_invalid(api: httpx.Client, signed_in: Account) -> None:
    expect(api.get(ME, headers=signed_in.headers), 200)
    header, payload, signature = signed_in.access_token.split(".")
    tampered_claims = json.loads(b64url_decode(payload))
    assert tampered_claims["scope"] == "read write"
    tampered_claims["scope"] = "admin read write"
    tampered = ".".join((header, b64url(json.dumps(tampered_claims).encode()), signature))
    error = assert_error(
        api.get(ME, headers=bearer(tampered)), 401, "invalid_token", "Authorization"
    )
    assert "signature" in error["message"]


def test_alg_none_token_is_refused(api: httpx.Client, signed_in: Account) -> None:
    _, payload, _ = signed_in.access_token.split(".")
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    for token in (f"{header}.{payload}.", f"{header}.{payload}"):
        response = api.get(ME, headers=bearer(token))
        assert_error(response, 401, "invalid_token", "Authorization")


def test_other_algorithm_with_the_right_secret_is_refused(api: httpx.Client, secret: str) -> None:
    token = sign(claims(), secret, "HS512")
    error = assert_error(api.get(ME, headers=bearer(token)), 401, "invalid_token", "Authorization")
    assert "algorithm" in error["message"]


def test_token_signed_with_another_key_is_refused(api: httpx.Client) -> None:
    token = sign(claims(), secrets.token_urlsafe(48))
    error = assert_error(api.get(ME, headers=bearer(token)), 401, "invalid_token", "Authorization")
    assert "signature" in error["message"]


def test_token_from_another_issuer_is_refused(api: httpx.Client, secret: str) -> None:
    token = sign(claims(iss="someone-else"), secret)
    error = assert_error(api.get(ME, headers=bearer(token)), 401, "invalid_token", "Authorization")
    assert "issuer" in error["message"].lower()


@pytest.mark.parametrize("claim", ["jti", "sub", "exp", "iss"])
def test_token_missing_a_required_claim_is_refused(
    api: httpx.Client, secret: str, claim: str
) -> None:
    token = sign(claims(**{claim: None}), secret)
    error = assert_error(api.get(ME, headers=bearer(token)), 401, "invalid_token", "Authorization")
    assert claim in error["message"]


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-jwt", "Bearer", "Bearer a.b.c", "Token abc", "Digest username=x", "garbage"],
)
def test_garbage_authorization_on_a_protected_route_is_401(
    api: httpx.Client, authorization: str
) -> None:
    response = api.get(ME, headers={"Authorization": authorization})
    assert_error(response, 401, "invalid_token", "Authorization")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_basic_credentials_on_a_protected_route_are_401(api: httpx.Client) -> None:
    basic = "Basic " + base64.b64encode(b"someone@example.org:hunter2-hunter2").decode()
    for method, path in (("GET", ME), ("POST", "/api/v1/auth/api-keys")):
        response = api.request(method, path, headers={"Authorization": basic})
        assert_error(response, 401, "missing_token", "Authorization")
        assert response.headers["www-authenticate"] == "Bearer"


def test_read_only_token_cannot_call_a_write_route(
    api: httpx.Client, secret: str, signed_in: Account
) -> None:
    user_id = expect(api.get(ME, headers=signed_in.headers), 200).json()["id"]
    read_only = sign(claims(sub=user_id, scope="read"), secret)
    me = expect(api.get(ME, headers=bearer(read_only)), 200).json()
    assert (me["id"], me["scopes"]) == (user_id, ["read"]), "the minted token itself is valid"

    body = {"name": "ci key", "scopes": ["read"]}
    denied = api.post("/api/v1/auth/api-keys", json=body, headers=bearer(read_only))
    error = assert_error(denied, 403, "insufficient_scope", "scope")
    assert "write" in error["message"]
    expect(api.post("/api/v1/auth/api-keys", json=body, headers=signed_in.headers), 201)


# --- Login: no user enumeration ------------------------------------------------------------


def test_unknown_email_and_wrong_password_answer_alike(
    api: httpx.Client, new_account: Callable[..., Account]
) -> None:
    verified = new_account(signed_in=False)
    unverified = unique_email("unverified")
    expect(api.post(REGISTER, json={"email": unverified, "password": GOOD_PASSWORD}), 202)

    attempts = {
        "unknown e-mail": {"email": unique_email("nobody"), "password": GOOD_PASSWORD},
        "wrong password": {"email": verified.email, "password": "not the password 1"},
        "wrong password, unverified": {"email": unverified, "password": "not the password 1"},
    }
    answers = {}
    for name, body in attempts.items():
        response = api.post(LOGIN, json=body)
        error = assert_error(response, 401, "invalid_credentials", None)
        error.pop("request_id")
        answers[name] = (response.status_code, error, response.headers.get("www-authenticate"))
    assert len(set(map(repr, answers.values()))) == 1, answers


# --- Body size -----------------------------------------------------------------------------


def _raw_post_headers_only(base_url: str, path: str, content_length: int) -> tuple[int, bytes]:
    """POST that declares ``content_length`` bytes but sends none: the server must decide from
    the header alone."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        conn.putrequest("POST", path)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(content_length))
        conn.putheader("X-Request-ID", "oversized-declared")
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("path", [REGISTER, LOGIN, "/api/v1/auth/token", ME])
def test_declared_oversized_body_is_413_before_reading_it(stack: Stack, path: str) -> None:
    status, raw = _raw_post_headers_only(stack.base_url, path, MIB + 1)
    assert status == 413
    assert json.loads(raw) == {
        "error": {
            "code": "payload_too_large",
            "message": f"request body exceeds the {MIB}-byte limit",
            "field": "body",
            "request_id": "oversized-declared",
        }
    }


def test_oversized_body_sent_in_full_is_413(api: httpx.Client) -> None:
    body = b'{"email": "' + b"a" * (MIB + 10) + b'@example.org", "password": "x"}'
    response = api.post(REGISTER, content=body, headers={"Content-Type": "application/json"})
    assert_error(response, 413, "payload_too_large", "body")


def test_body_at_the_limit_is_not_refused_for_size(api: httpx.Client) -> None:
    padding = MIB - 200
    body = json.dumps({"email": unique_email(), "password": GOOD_PASSWORD, "x": "p" * padding})
    assert len(body) <= MIB
    response = api.post(REGISTER, content=body, headers={"Content-Type": "application/json"})
    assert_error(response, 422, "validation_failed", "x")


def test_streamed_oversized_body_is_413(api: httpx.Client, stack: Stack) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"email": "'
        for _ in range(17):  # 17 x 64 KiB: just over 1 MiB, without a Content-Length
            yield b"a" * 65_536
        yield b'@example.org", "password": "x"}'

    for path in (REGISTER, LOGIN):
        response = api.post(path, content=chunks(), headers={"Content-Type": "application/json"})
        assert "content-length" not in response.request.headers
        assert response.request.headers["transfer-encoding"] == "chunked"
        assert_error(response, 413, "payload_too_large", "body")
    expect(api.get("/health/live"), 200)


# --- Malformed and invalid bodies ----------------------------------------------------------

BAD_REGISTRATIONS: dict[str, tuple[Callable[[str], dict[str, Any]], int, str, str]] = {
    "malformed json": (
        lambda email: {"content": f'{{"email": "{email}", "password": '},
        400,
        "malformed_json",
        "body",
    ),
    "trailing garbage": (
        lambda email: {"content": json.dumps({"email": email, "password": GOOD_PASSWORD}) + "}"},
        400,
        "malformed_json",
        "body",
    ),
    "unknown field": (
        lambda email: {"json": {"email": email, "password": GOOD_PASSWORD, "is_admin": True}},
        422,
        "validation_failed",
        "is_admin",
    ),
    "email of the wrong type": (
        lambda email: {"json": {"email": 12345, "password": GOOD_PASSWORD}},
        422,
        "validation_failed",
        "email",
    ),
    "password of the wrong type": (
        lambda email: {"json": {"email": email, "password": ["long", "enough"]}},
        422,
        "validation_failed",
        "password",
    ),
    "display name of the wrong type": (
        lambda email: {"json": {"email": email, "password": GOOD_PASSWORD, "display_name": 7}},
        422,
        "validation_failed",
        "display_name",
    ),
    "missing password": (
        lambda email: {"json": {"email": email}},
        422,
        "validation_failed",
        "password",
    ),
    "missing email": (
        lambda email: {"json": {"password": GOOD_PASSWORD}},
        422,
        "validation_failed",
        "email",
    ),
    "bad email": (
        lambda email: {"json": {"email": email.replace("@", "-at-"), "password": GOOD_PASSWORD}},
        422,
        "validation_failed",
        "email",
    ),
    "short password": (
        lambda email: {"json": {"email": email, "password": "short1"}},
        422,
        "validation_failed",
        "password",
    ),
    "common password": (
        lambda email: {"json": {"email": email, "password": "password123"}},
        422,
        "validation_failed",
        "password",
    ),
    "repetitive password": (
        lambda email: {"json": {"email": email, "password": "aaaaaaaaaaaa"}},
        422,
        "validation_failed",
        "password",
    ),
    "huge password": (
        lambda email: {"json": {"email": email, "password": "P4ss-" * 20_000}},
        422,
        "validation_failed",
        "password",
    ),
    "huge display name": (
        lambda email: {
            "json": {"email": email, "password": GOOD_PASSWORD, "display_name": "名" * 200_000}
        },
        422,
        "validation_failed",
        "display_name",
    ),
    "huge email": (
        lambda email: {"json": {"email": "a" * 5000 + email, "password": GOOD_PASSWORD}},
        422,
        "validation_failed",
        "email",
    ),
    "null byte in password": (
        lambda email: {"json": {"email": email, "password": "long enough\x00pw 1"}},
        422,
        "validation_failed",
        "password",
    ),
    "null byte in email": (
        lambda email: {"json": {"email": email.replace("@", "\x00@"), "password": GOOD_PASSWORD}},
        422,
        "validation_failed",
        "email",
    ),
    "null byte in display name": (
        lambda email: {
            "json": {"email": email, "password": GOOD_PASSWORD, "display_name": "Eve\x00Admin"}
        },
        422,
        "validation_failed",
        "display_name",
    ),
    "control characters in display name": (
        lambda email: {
            "json": {"email": email, "password": GOOD_PASSWORD, "display_name": "Eve\x1b[2J"}
        },
        422,
        "validation_failed",
        "display_name",
    ),
    "json array instead of an object": (
        lambda email: {"json": [email, GOOD_PASSWORD]},
        422,
        "validation_failed",
        "body",
    ),
}


@pytest.mark.parametrize("case", list(BAD_REGISTRATIONS))
def test_bad_registration_is_refused_and_writes_nothing(
    api: httpx.Client, mailbox: Mailbox, auth_rows: Callable[[], dict[str, int]], case: str
) -> None:
    make_request, status, code, field = BAD_REGISTRATIONS[case]
    email = unique_email("hostile")
    request = make_request(email)
    if "content" in request:
        request["headers"] = {"Content-Type": "application/json"}
    before = auth_rows()

    response = api.post(REGISTER, **request)

    assert_error(response, status, code, field)
    assert auth_rows() == before, "a refused registration must not write anything"
    assert mailbox.messages(to=email) == []


def test_refused_registrations_send_no_mail_while_a_good_one_does(
    api: httpx.Client, mailbox: Mailbox, auth_rows: Callable[[], dict[str, int]]
) -> None:
    refused = [unique_email("refused") for _ in range(3)]
    before = auth_rows()
    assert_error(
        api.post(REGISTER, json={"email": refused[0], "password": "short"}),
        422,
        "validation_failed",
        "password",
    )
    assert_error(
        api.post(REGISTER, json={"email": refused[1], "password": GOOD_PASSWORD, "role": "x"}),
        422,
        "validation_failed",
        "role",
    )
    assert_error(
        api.post(
            REGISTER, json={"email": refused[2], "password": GOOD_PASSWORD, "display_name": ""}
        ),
        422,
        "validation_failed",
        "display_name",
    )
    accepted = unique_email("accepted")
    expect(api.post(REGISTER, json={"email": accepted, "password": GOOD_PASSWORD}), 202)
    mailbox.wait_for(accepted, "verify_email")  # the outbox works and is up to date
    after = auth_rows()
    assert after == {**before, **{t: before[t] + 1 for t in AUTH_TABLES}}
    for email in refused:
        assert mailbox.messages(to=email) == []


def test_wrong_content_type_on_register_is_refused(api: httpx.Client) -> None:
    body = json.dumps({"email": unique_email(), "password": GOOD_PASSWORD})
    response = api.post(REGISTER, content=body, headers={"Content-Type": "text/plain"})
    assert_error(response, 422, "validation_failed", "body")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "x@example.org", "password": ""}, "password"),
        ({"email": "x@example.org", "password": "p" * 129}, "password"),
        ({"email": "x@example.org\x00", "password": GOOD_PASSWORD}, "email"),
        ({"email": "x@example.org", "password": GOOD_PASSWORD, "device_id": "a b"}, "device_id"),
        (
            {"email": "x@example.org", "password": GOOD_PASSWORD, "device_id": "d" * 129},
            "device_id",
        ),
        (
            {"email": "x@example.org", "password": GOOD_PASSWORD, "device_name": "tv\x00"},
            "device_name",
        ),
        ({"email": "x@example.org", "password": GOOD_PASSWORD, "remember": True}, "remember"),
    ],
)
def test_bad_login_bodies_are_422(api: httpx.Client, body: dict[str, Any], field: str) -> None:
    assert_error(api.post(LOGIN, json=body), 422, "validation_failed", field)


def test_null_bytes_on_login_of_a_real_account_are_422_not_500(
    api: httpx.Client, new_account: Callable[..., Account]
) -> None:
    account = new_account(signed_in=False)
    good = {"email": account.email, "password": account.password}
    for extra, field in (
        ({"password": account.password + "\0"}, "password"),
        ({"device_name": "living-room tv\0"}, "device_name"),
        ({"device_name": "tv\r\nX-Injected: 1"}, "device_name"),
    ):
        assert_error(api.post(LOGIN, json={**good, **extra}), 422, "validation_failed", field)
    expect(api.post(LOGIN, json={**good, "device_name": "Zoë's TV 📺"}), 200)


def test_unicode_names_and_passwords_round_trip(api: httpx.Client, mailbox: Mailbox) -> None:
    email = unique_email("unicode")
    password = "pässwörd 🔑 長いパスワード"
    display_name = "Zoë 🎬 名前 — Ω"
    body = {"email": email, "password": password, "display_name": display_name}
    expect(api.post(REGISTER, json=body), 202)
    token = mailbox.wait_for(email, "verify_email").link_token()
    expect(api.post("/api/v1/auth/verify-email", json={"token": token}), 200)
    tokens = expect(api.post(LOGIN, json={"email": email, "password": password}), 200).json()
    me = expect(api.get(ME, headers=bearer(tokens["access_token"])), 200).json()
    assert (me["email"], me["display_name"]) == (email, display_name)
    nfd = password.replace("ä", "a\u0308")
    assert_error(
        api.post(LOGIN, json={"email": email, "password": nfd}), 401, "invalid_credentials", None
    )


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("text/plain", "grant_type=refresh_token&refresh_token=abc"),
        ("application/xml", "<grant_type>refresh_token</grant_type>"),
        ("multipart/form-data; boundary=x", "--x--"),
        (None, "grant_type=refresh_token"),
    ],
)
def test_wrong_content_type_on_token_is_an_oauth_error(
    api: httpx.Client, content_type: str | None, content: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    request = api.build_request("POST", "/api/v1/auth/token", content=content, headers=headers)
    if content_type is None:
        request.headers.pop("Content-Type", None)
    assert request.headers.get("Content-Type") == content_type
    response = api.send(request)
    assert response.status_code == 400
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"error", "error_description", "field", "request_id"}
    assert (body["error"], body["field"]) == ("invalid_request", "body")
    assert "application/x-www-form-urlencoded" in body["error_description"]
    assert body["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("content", "description"),
    [
        ('{"grant_type": "refresh_token", ', "not valid JSON"),
        ('["grant_type", "refresh_token"]', "must be an object"),
    ],
)
def test_malformed_json_on_token_is_an_oauth_error(
    api: httpx.Client, content: str, description: str
) -> None:
    response = api.post(
        "/api/v1/auth/token", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    body = response.json()
    assert (body["error"], body["field"]) == ("invalid_request", "body")
    assert description in body["error_description"]


def test_unknown_grant_type_on_token_names_the_field(api: httpx.Client) -> None:
    response = api.post("/api/v1/auth/token", data={"grant_type": "password", "username": "x"})
    assert response.status_code == 400
    body = response.json()
    assert (body["error"], body["field"]) == ("invalid_request", "grant_type")


# --- Paths and methods ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/internal/rerank",
        "/api/v1/internal",
        "/api/v1/internal/",
        "/api/v1/internal/anything/else",
    ],
)
def test_internal_paths_are_not_reachable(api: httpx.Client, signed_in: Account, path: str) -> None:
    for method in ("GET", "POST"):
        response = api.request(method, path, headers=signed_in.headers, json={"user_id": "x"})
        error = assert_error(response, 404, "not_found", None)
        assert path in error["message"]


@pytest.mark.parametrize(
    "path",
    ["/api/v1/nope", "/api/v1/", "/api/v1", "/api/v1/auth/nope", "/api/v1/me/extra"],
)
def test_unknown_api_path_is_404_json(api: httpx.Client, signed_in: Account, path: str) -> None:
    assert_error(api.get(path, headers=signed_in.headers), 404, "not_found", None)


def test_unknown_path_without_token_is_404_not_401(api: httpx.Client) -> None:
    assert_error(api.get("/api/v1/definitely-not-here"), 404, "not_found", None)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", REGISTER, {"POST"}),
        ("PUT", LOGIN, {"POST"}),
        ("DELETE", "/api/v1/auth/token", {"POST"}),
        ("POST", ME, {"GET"}),
        ("PATCH", "/api/v1/auth/api-keys", {"GET", "POST"}),
        ("PUT", "/api/v1/auth/sessions", {"GET"}),
    ],
)
def test_wrong_method_is_405_json_with_allow(
    api: httpx.Client, signed_in: Account, method: str, path: str, allowed: set[str]
) -> None:
    response = api.request(method, path, headers=signed_in.headers)
    assert_error(response, 405, "method_not_allowed", None)
    listed = {m.strip() for m in response.headers["allow"].split(",")}
    assert listed - {"HEAD"} == allowed


@pytest.mark.parametrize("client_id", ["mgc_\x00abc", "mgc_abc\x00", "mgc_ab c", "mgc_<script>"])
def test_hostile_client_id_on_authorize_is_422_not_500(
    api: httpx.Client, signed_in: Account, client_id: str
) -> None:
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": "https://app.example.org/cb",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    }
    response = api.get("/api/v1/auth/authorize", params=query, headers=signed_in.headers)
    assert_error(response, 422, "validation_failed", "client_id")
    unknown = api.get(
        "/api/v1/auth/authorize",
        params={**query, "client_id": "mgc_unknown"},
        headers=signed_in.headers,
    )
    assert_error(unknown, 404, "invalid_client", "client_id")

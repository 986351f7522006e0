"""What the gateway decides before a service sees a request, all taken from the documents.

* A path no service documents is a 404 and an undeclared method a 405 with ``Allow`` — for
  everyone, before any credential is looked at (a TRACE without a token is not a 401).
* Credentials follow each operation's documented security: none declared → the
  ``Authorization`` header is ignored (a stale token sent to the token endpoint or a catalogue
  read changes nothing); optional (search, deep links) → a token sent must be valid.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from harness.accounts import Account, expect

pytestmark = pytest.mark.e2e

CONTENT_ID = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def revoked_token(api: httpx.Client, new_account: Callable[..., Account]) -> str:
    """An access token whose session has ended (logout): every check of it fails."""
    account = new_account()
    expect(api.post("/api/v1/auth/logout", headers=account.headers), 204)
    refused = api.get("/api/v1/me", headers=account.headers)
    assert refused.status_code == 401, refused.text
    return account.access_token


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("TRACE", "/api/v1/genres", "GET"),
        ("TRACE", "/api/v1/auth/login", "POST"),
        ("PUT", "/api/v1/content/00000000-0000-4000-8000-000000000000", "GET"),
        ("TRACE", "/api/v1/me", "GET"),
        ("PATCH", "/api/v1/watchlist", "GET"),
        ("OPTIONS", "/api/v1/auth/api-keys/exchange", "POST"),
        ("DELETE", "/api/v1/auth/api-keys/exchange", "POST"),
    ],
)
def test_an_undeclared_method_is_a_405_with_allow_even_without_a_token(
    api: httpx.Client, method: str, path: str, allow: str
) -> None:
    response = api.request(method, path)
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allow
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_an_undocumented_path_is_a_404_even_without_a_token(api: httpx.Client) -> None:
    for path in ("/api/v1/auth/nowhere", "/api/v1/watchlist/a/b/c", "/api/v1/internal/rerank"):
        response = api.post(path)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"]["code"] == "not_found"


def test_the_token_endpoint_ignores_a_revoked_bearer_token(
    api: httpx.Client, revoked_token: str
) -> None:
    response = api.post(
        "/api/v1/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": "x" * 40},
        headers={"Authorization": f"Bearer {revoked_token}"},
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "invalid_grant"  # the RFC 6749 shape the document states
    assert isinstance(body["error_description"], str)


@pytest.mark.parametrize(
    "path", ["/api/v1/genres", "/api/v1/platforms", "/api/v1/search/autocomplete?q=star"]
)
def test_public_reads_ignore_a_revoked_bearer_token(
    api: httpx.Client, revoked_token: str, path: str
) -> None:
    headers = {"Authorization": f"Bearer {revoked_token}"}
    assert api.get(path, headers=headers).status_code == 200


def test_login_ignores_a_revoked_bearer_token(
    api: httpx.Client, new_account: Callable[..., Account], revoked_token: str
) -> None:
    account = new_account(signed_in=False)
    response = api.post(
        "/api/v1/auth/login",
        json={"email": account.email, "password": account.password},
        headers={"Authorization": f"Bearer {revoked_token}"},
    )
    expect(response, 200)


def test_search_with_optional_security_refuses_a_revoked_token(
    api: httpx.Client, revoked_token: str
) -> None:
    anonymous = api.get("/api/v1/search", params={"q": "space"})
    expect(anonymous, 200)
    response = api.get(
        "/api/v1/search",
        params={"q": "space"},
        headers={"Authorization": f"Bearer {revoked_token}"},
    )
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "token_revoked"
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_protected_operation_still_needs_a_token(api: httpx.Client) -> None:
    response = api.get("/api/v1/watchlist")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_token"
    assert api.delete(f"/api/v1/auth/api-keys/{CONTENT_ID}").status_code == 401

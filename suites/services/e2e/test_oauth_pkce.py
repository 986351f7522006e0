"""OAuth 2.0 authorization code + PKCE, driven end to end by a real client library (authlib).

An admin registers a client; a signed-in user authorises it at ``/authorize`` (the redirect a
browser would follow is read from ``Location``); the client trades the code and its PKCE
verifier for tokens at ``/token``, uses them, and rotates them.

authlib's httpx integration runs on ``httpx2`` when it is installed; on plain ``httpx`` it
emits a deprecation warning, so the harness installs ``httpx2`` alongside.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client, OAuthError

from harness.accounts import Account, expect
from harness.stack import Stack

if TYPE_CHECKING:
    import httpx2  # what authlib's OAuth2Client is built on (see the module docstring)

pytestmark = pytest.mark.e2e

CLIENTS = "/api/v1/auth/clients"
AUTHORIZE = "/api/v1/auth/authorize"
TOKEN = "/api/v1/auth/token"
REDIRECT = "https://app.example.org/oauth/callback"
OTHER_REDIRECT = "com.example.tv:/oauth/callback"


def register_client(
    api: httpx.Client,
    admin: Account,
    *,
    public: bool = True,
    redirect_uris: Sequence[str] = (REDIRECT,),
    scopes: Sequence[str] = ("read", "write"),
) -> dict[str, Any]:
    body = {
        "name": "harness app",
        "redirect_uris": list(redirect_uris),
        "scopes": list(scopes),
        "grant_types": ["authorization_code", "refresh_token"],
        "public": public,
    }
    return dict(expect(api.post(CLIENTS, json=body, headers=admin.headers), 201).json())


class TokenResponses:
    """An authlib compliance hook that keeps every token-endpoint response it sees.

    authlib turns an error answer into ``OAuthError(error, description)``; the hook keeps the
    HTTP status and the ``field`` extension so the tests can check them too.
    """

    def __init__(self) -> None:
        self.seen: list[httpx2.Response] = []

    def __call__(self, response: httpx2.Response) -> httpx2.Response:
        self.seen.append(response)
        return response

    def last_error(self, status: int, error: str, field: str) -> dict[str, object]:
        response = self.seen[-1]
        body = dict(response.json())
        assert (response.status_code, body["error"], body["field"]) == (status, error, field), body
        assert response.headers["cache-control"] == "no-store"
        return body


@contextmanager
def oauth_client(
    stack: Stack,
    registered: dict[str, Any],
    *,
    with_secret: bool = True,
    client_secret: str | None = None,
    client_id: str | None = None,
    scope: str = "read write",
) -> Iterator[tuple[OAuth2Client, TokenResponses]]:
    """The client application: authlib's OAuth2Client, configured as its registration says."""
    secret = client_secret or (registered["client_secret"] if with_secret else None)
    responses = TokenResponses()
    with OAuth2Client(
        client_id=client_id or str(registered["client_id"]),
        client_secret=secret,
        token_endpoint_auth_method="client_secret_basic" if secret else "none",
        scope=scope,
        redirect_uri=registered["redirect_uris"][0],
        code_challenge_method="S256",
        base_url=stack.base_url,
        timeout=15,
    ) as client:
        client.register_compliance_hook("access_token_response", responses)
        client.register_compliance_hook("refresh_token_response", responses)
        yield client, responses


def authorize(
    api: httpx.Client,
    stack: Stack,
    client: OAuth2Client,
    user: Account,
    verifier: str,
    **params: str,
) -> tuple[str, str]:
    """The user approves: the authorize URL authlib built, sent with the user's token.

    Returns the redirect target (``Location``) and the state authlib put in the request.
    """
    url, state = client.create_authorization_url(
        f"{stack.base_url}{AUTHORIZE}", code_verifier=verifier, **params
    )
    response = expect(api.get(url, headers=user.headers), 302)
    return response.headers["location"], state


def api_error(response: httpx.Response, status: int, code: str, field: str | None) -> str:
    """Assert the shared error shape; return the message."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (code, field), error
    assert "location" not in response.headers, "a refused authorisation never redirects"
    return str(error["message"])


def test_public_client_code_flow_with_pkce_then_refresh(
    api: httpx.Client,
    stack: Stack,
    admin_account: Account,
    new_account: Callable[..., Account],
) -> None:
    registered = register_client(api, admin_account)
    assert registered["client_secret"] is None, "a public client gets no secret"
    assert str(registered["client_id"]).startswith("mgc_")
    user = new_account()
    verifier = generate_token(64)

    with oauth_client(stack, registered) as (client, _):
        url, state = client.create_authorization_url(
            f"{stack.base_url}{AUTHORIZE}", code_verifier=verifier
        )
        sent = parse_qs(urlsplit(url).query)
        assert sent["code_challenge_method"] == ["S256"]
        assert sent["code_challenge"] != [verifier], "only the S256 challenge leaves the client"

        redirect = expect(api.get(url, headers=user.headers), 302)
        location = redirect.headers["location"]
        assert location.startswith(f"{REDIRECT}?")
        returned = parse_qs(urlsplit(location).query)
        assert set(returned) == {"code", "state"}
        assert returned["state"] == [state]

        token = client.fetch_token(
            f"{stack.base_url}{TOKEN}",
            authorization_response=location,
            code_verifier=verifier,
            state=state,
        )
        assert token["token_type"] == "Bearer"
        assert token["scope"] == "read write"
        assert token["refresh_token"].startswith("mgr_")

        me = expect(client.get("/api/v1/me"), 200).json()  # authlib sends the bearer token
        assert me["email"] == user.email
        assert me["scopes"] == ["read", "write"]

        first_access, first_refresh = token["access_token"], token["refresh_token"]
        rotated = client.refresh_token(f"{stack.base_url}{TOKEN}")
        assert rotated["refresh_token"] != first_refresh, "refresh tokens rotate on every use"
        assert rotated["access_token"] != first_access
        assert expect(client.get("/api/v1/me"), 200).json()["id"] == me["id"]

    sessions = expect(api.get("/api/v1/auth/sessions", headers=user.headers), 200).json()
    assert token["session_id"] in {s["id"] for s in sessions["sessions"]}, (
        "the grant is a session the user can see and end"
    )


def test_confidential_client_authenticates_with_client_secret_basic(
    api: httpx.Client,
    stack: Stack,
    admin_account: Account,
    new_account: Callable[..., Account],
) -> None:
    registered = register_client(api, admin_account, public=False)
    secret = str(registered["client_secret"])
    assert secret.startswith("mgs_")
    user = new_account()
    token_url = f"{stack.base_url}{TOKEN}"

    # Without its secret, and with a wrong one, the confidential client is refused.
    for attempt_secret in (None, "mgs_wrong-secret"):
        app = oauth_client(stack, registered, with_secret=False, client_secret=attempt_secret)
        with app as (client, responses):
            verifier = generate_token(48)
            location, state = authorize(api, stack, client, user, verifier)
            with pytest.raises(OAuthError) as refused:
                client.fetch_token(
                    token_url, authorization_response=location, code_verifier=verifier, state=state
                )
            assert refused.value.error == "invalid_client"
            assert responses.seen[-1].headers["www-authenticate"].startswith("Basic")
            responses.last_error(401, "invalid_client", "client_secret")

    with oauth_client(stack, registered) as (client, _):
        basic: list[str] = []
        client.event_hooks["request"].append(
            lambda request: basic.append(request.headers.get("authorization", ""))
        )
        verifier = generate_token(48)
        location, state = authorize(api, stack, client, user, verifier)
        client.fetch_token(
            token_url, authorization_response=location, code_verifier=verifier, state=state
        )
        assert basic[-1].startswith("Basic "), "authlib used client_secret_basic"
        assert expect(client.get("/api/v1/me"), 200).json()["email"] == user.email
        refreshed = client.refresh_token(token_url)
        assert basic[-1].startswith("Basic "), "the refresh authenticated the client too"
        assert refreshed["scope"] == "read write"


def test_a_confidential_clients_refresh_token_is_useless_without_its_secret(
    api: httpx.Client,
    stack: Stack,
    admin_account: Account,
    new_account: Callable[..., Account],
) -> None:
    registered = register_client(api, admin_account, public=False)
    user = new_account()
    verifier = generate_token(48)
    with oauth_client(stack, registered) as (client, _):
        location, state = authorize(api, stack, client, user, verifier)
        token = client.fetch_token(
            f"{stack.base_url}{TOKEN}",
            authorization_response=location,
            code_verifier=verifier,
            state=state,
        )

    # Someone who stole only the refresh token: no client credentials, or the public client_id.
    client_id = registered["client_id"]
    for stolen, field in (
        ({}, "client_id"),
        ({"client_id": client_id}, "client_secret"),
        ({"client_id": client_id, "client_secret": "mgs_guessed"}, "client_secret"),
    ):
        response = api.post(
            TOKEN,
            data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"], **stolen},
        )
        assert response.status_code == 401, (stolen, response.text)
        assert (response.json()["error"], response.json()["field"]) == ("invalid_client", field)

    # The client itself, with its secret, still refreshes: the token was not spent.
    with oauth_client(stack, registered) as (client, _):
        client.token = token
        refreshed = client.refresh_token(f"{stack.base_url}{TOKEN}")
        assert refreshed["refresh_token"] != token["refresh_token"]


def test_wrong_code_verifier_is_refused_and_burns_the_code(
    api: httpx.Client,
    stack: Stack,
    admin_account: Account,
    new_account: Callable[..., Account],
) -> None:
    registered = register_client(api, admin_account)
    user = new_account()
    verifier = generate_token(64)
    with oauth_client(stack, registered) as (client, responses):
        location, state = authorize(api, stack, client, user, verifier)
        token_url = f"{stack.base_url}{TOKEN}"
        with pytest.raises(OAuthError) as wrong:
            client.fetch_token(
                token_url,
                authorization_response=location,
                code_verifier=generate_token(64),
                state=state,
            )
        assert wrong.value.error == "invalid_grant"
        responses.last_error(400, "invalid_grant", "code_verifier")

        # The right verifier comes too late: a failed attempt consumed the code.
        with pytest.raises(OAuthError) as burnt:
            client.fetch_token(
                token_url, authorization_response=location, code_verifier=verifier, state=state
            )
        assert burnt.value.error == "invalid_grant"
        responses.last_error(400, "invalid_grant", "code")


def test_an_authorization_code_works_once(
    api: httpx.Client,
    stack: Stack,
    admin_account: Account,
    new_account: Callable[..., Account],
) -> None:
    registered = register_client(api, admin_account)
    user = new_account()
    verifier = generate_token(64)
    with oauth_client(stack, registered) as (client, responses):
        location, state = authorize(api, stack, client, user, verifier)
        token_url = f"{stack.base_url}{TOKEN}"
        issued = client.fetch_token(
            token_url, authorization_response=location, code_verifier=verifier, state=state
        )
        bearer = {"Authorization": f"Bearer {issued['access_token']}"}
        expect(api.get("/api/v1/me", headers=bearer), 200)
        with pytest.raises(OAuthError) as reused:
            client.fetch_token(
                token_url, authorization_response=location, code_verifier=verifier, state=state
            )
        assert reused.value.error == "invalid_grant"
        body = responses.last_error(400, "invalid_grant", "code")
        assert "already used" in str(body["error_description"])

        # RFC 6749 §4.1.2: the tokens the code already gave are revoked with it.
        revoked = expect(api.get("/api/v1/me", headers=bearer), 401).json()["error"]
        assert revoked["code"] == "token_revoked"
        with pytest.raises(OAuthError) as refresh:
            client.refresh_token(token_url, refresh_token=issued["refresh_token"])
        assert refresh.value.error == "invalid_grant"


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example.org/oauth/callback",
        f"{REDIRECT}/",  # matching is exact: no prefix, no trailing slash
        f"{REDIRECT}?next=https://evil.example.org",
        "https://app.example.org/oauth",
    ],
)
def test_authorize_with_an_unregistered_redirect_uri_is_an_error_never_a_redirect(
    api: httpx.Client,
    stack: Stack,
    admin_account: Account,
    new_account: Callable[..., Account],
    redirect_uri: str,
) -> None:
    registered = register_client(api, admin_account)
    user = new_account()
    with oauth_client(stack, registered) as (client, _):
        url, _ = client.create_authorization_url(
            f"{stack.base_url}{AUTHORIZE}",
            code_verifier=generate_token(64),
            redirect_uri=redirect_uri,
        )
        response = api.get(url, headers=user.headers)
    api_error(response, 403, "invalid_redirect_uri", "redirect_uri")


def test_token_request_with_another_redirect_uri_is_refused(
    api: httpx.Client,
    stack: Stack,
    admin_account: Account,
    new_account: Callable[..., Account],
) -> None:
    registered = register_client(api, admin_account, redirect_uris=(REDIRECT, OTHER_REDIRECT))
    user = new_account()
    verifier = generate_token(64)
    with oauth_client(stack, registered) as (client, responses):
        location, state = authorize(api, stack, client, user, verifier)
        assert location.startswith(f"{REDIRECT}?")
        with pytest.raises(OAuthError) as mismatch:
            client.fetch_token(
                f"{stack.base_url}{TOKEN}",
                authorization_response=location,
                code_verifier=verifier,
                state=state,
                redirect_uri=OTHER_REDIRECT,  # registered too, but not the one authorised
            )
        assert mismatch.value.error == "invalid_grant"
        responses.last_error(400, "invalid_grant", "redirect_uri")


def test_the_other_registered_redirect_uri_receives_its_own_codes(
    api: httpx.Client,
    stack: Stack,
    admin_account: Account,
    new_account: Callable[..., Account],
) -> None:
    registered = register_client(api, admin_account, redirect_uris=(REDIRECT, OTHER_REDIRECT))
    user = new_account()
    verifier = generate_token(64)
    with oauth_client(stack, registered) as (client, _):
        location, state = authorize(api, stack, client, user, verifier, redirect_uri=OTHER_REDIRECT)
        assert location.startswith(f"{OTHER_REDIRECT}?"), "a reverse-domain app scheme works"
        token = client.fetch_token(
            f"{stack.base_url}{TOKEN}",
            authorization_response=location,
            code_verifier=verifier,
            state=state,
            redirect_uri=OTHER_REDIRECT,
        )
        assert token["scope"] == "read write"


def test_pkce_is_required_and_plain_is_refused(
    api: httpx.Client,
    stack: Stack,
    admin_account: Account,
    new_account: Callable[..., Account],
) -> None:
    registered = register_client(api, admin_account)
    user = new_account()
    verifier = generate_token(64)
    with oauth_client(stack, registered) as (client, _):
        # A challenge of the right shape, so that only the method is wrong: the document's
        # pattern for it is `^S256$`, so a `plain` request is a 422 naming that parameter.
        plain, _ = client.create_authorization_url(
            f"{stack.base_url}{AUTHORIZE}",
            code_challenge=verifier[:43],
            code_challenge_method="plain",
        )
        assert parse_qs(urlsplit(plain).query)["code_challenge_method"] == ["plain"]
        message = api_error(
            api.get(plain, headers=user.headers), 422, "validation_failed", "code_challenge_method"
        )
        assert "S256" in message

        without_pkce, _ = client.create_authorization_url(f"{stack.base_url}{AUTHORIZE}")
        assert "code_challenge" not in parse_qs(urlsplit(without_pkce).query)
        api_error(
            api.get(without_pkce, headers=user.headers), 422, "validation_failed", "code_challenge"
        )


def test_unknown_client_is_refused_at_authorize_and_at_token(
    api: httpx.Client,
    stack: Stack,
    admin_account: Account,
    new_account: Callable[..., Account],
) -> None:
    registered = register_client(api, admin_account)
    user = new_account()
    verifier = generate_token(64)
    unknown = "mgc_no-such-client-000"
    with oauth_client(stack, registered, client_id=unknown) as (stranger, responses):
        url, _ = stranger.create_authorization_url(
            f"{stack.base_url}{AUTHORIZE}", code_verifier=verifier
        )
        api_error(api.get(url, headers=user.headers), 404, "invalid_client", "client_id")

        # A real code, presented by a client id that does not exist.
        with oauth_client(stack, registered) as (client, _):
            location, state = authorize(api, stack, client, user, verifier)
        with pytest.raises(OAuthError) as refused:
            stranger.fetch_token(
                f"{stack.base_url}{TOKEN}",
                authorization_response=location,
                code_verifier=verifier,
                state=state,
            )
        assert refused.value.error == "invalid_client"
        responses.last_error(401, "invalid_client", "client_id")


def test_a_code_issued_to_one_client_cannot_be_redeemed_by_another(
    api: httpx.Client,
    stack: Stack,
    admin_account: Account,
    new_account: Callable[..., Account],
) -> None:
    first, second = register_client(api, admin_account), register_client(api, admin_account)
    user = new_account()
    verifier = generate_token(64)
    with oauth_client(stack, first) as (client, _):
        location, state = authorize(api, stack, client, user, verifier)
    with oauth_client(stack, second) as (other, responses):
        with pytest.raises(OAuthError) as refused:
            other.fetch_token(
                f"{stack.base_url}{TOKEN}",
                authorization_response=location,
                code_verifier=verifier,
                state=state,
            )
        assert refused.value.error == "invalid_grant"
        responses.last_error(400, "invalid_grant", "client_id")


@pytest.mark.parametrize(
    "state",
    ["xyz", "a b&c=d+e%20f/g?h#i", "état:ünïcode~-._", "s" * 500],
    ids=["plain", "reserved-characters", "non-ascii", "longest"],
)
def test_state_round_trips_unchanged(
    api: httpx.Client,
    stack: Stack,
    admin_account: Account,
    new_account: Callable[..., Account],
    state: str,
) -> None:
    registered = register_client(api, admin_account)
    user = new_account()
    verifier = generate_token(64)
    with oauth_client(stack, registered) as (client, _):
        location, sent = authorize(api, stack, client, user, verifier, state=state)
        assert sent == state
        assert parse_qs(urlsplit(location).query)["state"] == [state]
        # authlib checks the returned state against the one it sent (MismatchingStateError).
        client.fetch_token(
            f"{stack.base_url}{TOKEN}",
            authorization_response=location,
            code_verifier=verifier,
            state=state,
        )


def test_scope_beyond_the_client_or_the_user_is_invalid_scope(
    api: httpx.Client,
    stack: Stack,
    admin_account: Account,
    new_account: Callable[..., Account],
) -> None:
    user = new_account()
    verifier = generate_token(64)
    read_only = register_client(api, admin_account, scopes=("read",))
    with oauth_client(stack, read_only, scope="read write") as (client, _):
        url, _ = client.create_authorization_url(
            f"{stack.base_url}{AUTHORIZE}", code_verifier=verifier
        )
        message = api_error(api.get(url, headers=user.headers), 403, "invalid_scope", "scope")
        assert "write" in message

    # The client may ask for admin, but this user does not have it to give.
    everything = register_client(api, admin_account, scopes=("read", "write", "admin"))
    with oauth_client(stack, everything, scope="read admin") as (client, _):
        url, _ = client.create_authorization_url(
            f"{stack.base_url}{AUTHORIZE}", code_verifier=verifier
        )
        message = api_error(api.get(url, headers=user.headers), 403, "invalid_scope", "scope")
        assert "admin" in message


def test_a_narrower_scope_gives_a_narrower_token(
    api: httpx.Client,
    stack: Stack,
    admin_account: Account,
    new_account: Callable[..., Account],
) -> None:
    registered = register_client(api, admin_account)
    user = new_account()
    verifier = generate_token(64)
    with oauth_client(stack, registered, scope="read") as (client, _):
        location, state = authorize(api, stack, client, user, verifier)
        token = client.fetch_token(
            f"{stack.base_url}{TOKEN}",
            authorization_response=location,
            code_verifier=verifier,
            state=state,
        )
        assert token["scope"] == "read"
        assert expect(client.get("/api/v1/me"), 200).json()["scopes"] == ["read"]
        write = client.post("/api/v1/auth/api-keys", json={"name": "k", "scopes": ["read"]})
        assert write.status_code == 403
        assert write.json()["error"]["code"] == "insufficient_scope"


def test_only_admins_register_clients(
    api: httpx.Client, new_account: Callable[..., Account]
) -> None:
    user = new_account()
    body = {
        "name": "sneaky",
        "redirect_uris": [REDIRECT],
        "scopes": ["read"],
        "grant_types": ["authorization_code"],
        "public": True,
    }
    denied = api.post(CLIENTS, json=body, headers=user.headers)
    assert denied.status_code == 403
    assert (denied.json()["error"]["code"], denied.json()["error"]["field"]) == (
        "insufficient_scope",
        "scope",
    )
    anonymous = api.post(CLIENTS, json=body)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "missing_token"


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("http://app.example.org/callback", "must be https"),
        ("https://app.example.org/callback#fragment", "fragment"),
        ("javascript:alert(1)", "must be https"),
        ("myapp:/callback", "reverse-domain"),
        (f"https://app.example.org/{'x' * 2000}", "at most 2000 characters"),
    ],
    ids=["http-not-loopback", "fragment", "javascript", "bare-scheme", "too-long"],
)
def test_registration_refuses_a_bad_redirect_uri(
    api: httpx.Client, admin_account: Account, uri: str, problem: str
) -> None:
    body = {
        "name": "bad",
        "redirect_uris": [REDIRECT, uri],
        "scopes": ["read"],
        "grant_types": ["authorization_code"],
        "public": True,
    }
    response = api.post(CLIENTS, json=body, headers=admin_account.headers)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert error["field"] in ("redirect_uris", "redirect_uris[1]")
    assert "redirect_uris[1]" in error["message"]
    assert problem in error["message"]

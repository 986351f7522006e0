"""Refresh-token rotation's decision table, without a database (unit tests).

The store, the sessions, the authenticator and the codec are stand-ins that record what the
issuer asked of them; the real ones are exercised by the auth suites through the gateway, and
the rotation statement's own decision by ``suites/services/test_auth_rotation.py``. What is
pinned here is the order of the checks and what each outcome leaves behind — above all that a
reused token revokes its whole family in a transaction that commits before the refusal.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from mediagw.auth import issuer, store
from mediagw.auth.context import AuthContext
from mediagw.auth.crypto import token_hash
from mediagw.auth.issuer import REFRESH_PREFIX, Device, refresh, scopes_for_roles
from mediagw.auth.oauth_errors import OAuthError
from mediagw.auth.settings import ADMIN_SCOPE, DEFAULT_SCOPES

pytestmark = pytest.mark.unit

PRESENTED = f"{REFRESH_PREFIX}presented-token"
DEVICE = Device(device_id="tv", ip="198.51.100.1", user_agent="unit")


@dataclass
class Recorder:
    """Every call the issuer made, in order, as (name, arguments)."""

    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    transactions: list[str] = field(default_factory=list)
    """``committed`` or ``rolled back``, per transaction."""

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


class StandInConnection:
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        try:
            yield
        except BaseException:
            self.recorder.transactions.append("rolled back")
            raise
        self.recorder.transactions.append("committed")


class StandInPool:
    def __init__(self, recorder: Recorder) -> None:
        self.conn = StandInConnection(recorder)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[StandInConnection]:
        yield self.conn


class Calls:
    """Stands in for any object: each awaited method records its name and arguments."""

    def __init__(self, recorder: Recorder, prefix: str) -> None:
        self._recorder, self._prefix = recorder, prefix

    def __getattr__(self, name: str) -> Any:
        async def record(*args: Any, **kwargs: Any) -> None:
            self._recorder.calls.append((f"{self._prefix}.{name}", args))

        return record


class StandInCodec:
    ttl = 900

    def issue(self, user_id: str, scopes: frozenset[str], **claims: Any) -> tuple[str, str]:
        return f"access-for-{user_id}-{' '.join(sorted(scopes))}", "jti"


@dataclass
class World:
    recorder: Recorder
    ctx: AuthContext
    row: dict[str, Any] | None


def _row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "family_id": "family-1",
        "user_id": "user-1",
        "client_id": None,
        "scope": "read write",
        "family_revoked_at": None,
        "revoked_at": None,
        "rotated_at": None,
        "expired": False,
        "user_status": "active",
        "rotated": True,
    }
    return {**row, **changes}


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    recorder = Recorder()
    state = World(recorder, cast(AuthContext, None), _row())

    class StandInRefreshTokens:
        @staticmethod
        async def rotate(conn: Any, *args: Any) -> dict[str, Any] | None:
            recorder.calls.append(("tokens.rotate", args))
            return state.row

    tokens = Calls(recorder, "tokens")
    for name in ("revoke_family",):
        setattr(StandInRefreshTokens, name, staticmethod(getattr(tokens, name)))
    monkeypatch.setattr(store, "RefreshTokens", StandInRefreshTokens)
    monkeypatch.setattr(store, "audit", Calls(recorder, "store").audit)

    class Settings:
        refresh_token_ttl_seconds = 3600

    class Context:
        pool = StandInPool(recorder)
        sessions = Calls(recorder, "sessions")
        authenticator = Calls(recorder, "authenticator")
        codec = StandInCodec()
        settings = Settings()

    state.ctx = cast(AuthContext, Context())
    return state


def _refresh(world: World, client_id: str | None = None) -> issuer.TokenPair:
    return asyncio.run(refresh(world.ctx, PRESENTED, client_id, DEVICE))


def _refused(world: World, client_id: str | None = None) -> OAuthError:
    with pytest.raises(OAuthError) as refused:
        _refresh(world, client_id)
    return refused.value


def _refused_row(**changes: Any) -> dict[str, Any]:
    """A row the rotation statement left alone (``rotated`` false)."""
    return _row(rotated=False, **changes)


def test_rotation_asks_for_the_child_in_one_statement_and_answers_with_it(world: World) -> None:
    pair = _refresh(world, client_id="tv-app")
    assert world.recorder.names() == ["tokens.rotate", "sessions.touch"]
    presented, child, client_id, ttl = dict(world.recorder.calls)["tokens.rotate"]
    assert presented == token_hash(PRESENTED)
    assert child == token_hash(pair.refresh_token)
    assert (client_id, ttl) == ("tv-app", 3600)
    assert pair.refresh_token.startswith(REFRESH_PREFIX)
    assert pair.refresh_token != PRESENTED
    assert (pair.scope, pair.session_id, pair.expires_in) == ("read write", "family-1", 900)
    assert pair.access_token == "access-for-user-1-read write"
    assert world.recorder.transactions == [], "the statement is its own transaction"


def test_an_unknown_token_is_invalid_grant_and_changes_nothing(world: World) -> None:
    world.row = None
    refused = _refused(world)
    assert (refused.error, refused.field, refused.status) == ("invalid_grant", "refresh_token", 400)
    assert world.recorder.names() == ["tokens.rotate"]


def test_a_token_bound_to_a_client_needs_that_client_to_authenticate(world: World) -> None:
    world.row = _refused_row(client_id="tv-app")
    refused = _refused(world, client_id=None)
    assert (refused.error, refused.field, refused.status) == ("invalid_client", "client_id", 401)
    other = _refused(world, client_id="other-app")
    assert (other.error, other.field) == ("invalid_grant", "client_id")
    assert world.recorder.names() == ["tokens.rotate", "tokens.rotate"], "nothing else asked"


def test_a_revoked_family_or_token_is_refused_before_reuse_is_considered(world: World) -> None:
    for revoked in (
        _refused_row(family_revoked_at="then", rotated_at="then"),
        _refused_row(revoked_at="then"),
    ):
        world.row = revoked
        refused = _refused(world)
        assert refused.error == "invalid_grant"
        assert "revoked" in refused.description
    assert "tokens.revoke_family" not in world.recorder.names()


def test_a_reused_token_revokes_its_family_and_the_refusal_comes_after_the_commit(
    world: World,
) -> None:
    world.row = _refused_row(rotated_at="earlier")
    refused = _refused(world)
    assert refused.error == "invalid_grant"
    assert "reuse" in refused.description
    assert world.recorder.names() == [
        "tokens.rotate",
        "tokens.revoke_family",
        "authenticator.revoke_family",
        "sessions.delete",
        "store.audit",
    ]
    assert world.recorder.transactions == ["committed"], "the revocation is kept"


@pytest.mark.parametrize("row", [_refused_row(expired=True), _refused_row(user_status="disabled")])
def test_an_expired_token_or_an_inactive_user_is_refused_unrotated(
    world: World, row: dict[str, Any]
) -> None:
    world.row = row
    refused = _refused(world)
    assert (refused.error, refused.description) == ("invalid_grant", "refresh token has expired")
    assert world.recorder.names() == ["tokens.rotate"]


def test_a_statement_that_disagrees_with_the_checks_is_a_fault_not_a_token(world: World) -> None:
    world.row = _refused_row()
    with pytest.raises(RuntimeError, match="passed every check but was not rotated"):
        _refresh(world)
    assert "sessions.touch" not in world.recorder.names()


def test_admins_get_the_admin_scope_and_everyone_the_defaults() -> None:
    assert scopes_for_roles(None) == frozenset(DEFAULT_SCOPES)
    assert scopes_for_roles(["viewer"]) == frozenset(DEFAULT_SCOPES)
    assert scopes_for_roles(["admin"]) == frozenset({*DEFAULT_SCOPES, ADMIN_SCOPE})

"""Sessions and token pairs: start a session, rotate its refresh token, revoke its family.

A login (or an OAuth grant) starts a *family*: the refresh tokens it will rotate through, and
the session that lives as long as they do. Rotation marks the presented token used and hands
out its child. Presenting a used token again means two parties hold the same family — the
legitimate client and a thief — so the whole family is revoked, and every access token of it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import NoReturn

from psycopg.rows import DictRow

from mediagw.auth import store
from mediagw.auth.context import AuthContext
from mediagw.auth.crypto import new_token, token_hash
from mediagw.auth.metrics import FAMILIES_REVOKED, REFRESHES, REUSE_DETECTED, TOKENS_ISSUED
from mediagw.auth.oauth_errors import OAuthError
from mediagw.auth.sessions import Session
from mediagw.auth.settings import ADMIN_SCOPE, DEFAULT_SCOPES

REFRESH_PREFIX = "mgr_"


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    scope: str
    session_id: str


@dataclass(frozen=True)
class Device:
    device_id: str | None = None
    device_name: str | None = None
    ip: str | None = None
    user_agent: str | None = None


def scopes_for_roles(roles: list[str] | None) -> frozenset[str]:
    scopes = set(DEFAULT_SCOPES)
    if roles and "admin" in roles:
        scopes.add(ADMIN_SCOPE)
    return frozenset(scopes)


async def start_session(
    ctx: AuthContext,
    conn: store.Conn,
    user_id: str,
    scopes: frozenset[str],
    device: Device,
    *,
    grant: str,
    client_id: str | None = None,
) -> TokenPair:
    """Create the family, its first refresh token and the session; issue the access token.

    Runs inside the caller's transaction; the Redis session is written after the rows, so a
    failed transaction leaves at most an orphan cache entry that expires, never a half session.
    """
    ttl = ctx.settings.refresh_token_ttl_seconds
    family_id = await store.RefreshTokens.create_family(conn, user_id, client_id, device.device_id)
    refresh = new_token(REFRESH_PREFIX)
    scope = " ".join(sorted(scopes))
    await store.RefreshTokens.insert(conn, token_hash(refresh), family_id, user_id, scope, ttl)
    await store.record_session(
        conn, family_id, user_id, device.device_id, device.device_name, device.ip,
        device.user_agent, ttl,
    )  # fmt: skip
    now = time.time()
    await ctx.sessions.create(
        Session(
            id=family_id,
            user_id=user_id,
            device_id=device.device_id,
            device_name=device.device_name,
            ip=device.ip,
            user_agent=device.user_agent,
            created_at=now,
            last_seen_at=now,
        )
    )
    access, _ = ctx.codec.issue(
        user_id, scopes, family_id=family_id, session_id=family_id, client_id=client_id
    )
    TOKENS_ISSUED.labels(grant).inc()
    return TokenPair(access, refresh, ctx.codec.ttl, scope, family_id)


async def revoke_family(
    ctx: AuthContext, conn: store.Conn, family_id: str, user_id: str, reason: str
) -> None:
    await store.RefreshTokens.revoke_family(conn, family_id, reason)
    await ctx.authenticator.revoke_family(family_id)
    await ctx.sessions.delete(user_id, family_id)
    FAMILIES_REVOKED.labels(reason).inc()


async def refresh(
    ctx: AuthContext, presented: str, client_id: str | None, device: Device
) -> TokenPair:
    """Rotate ``presented``; on reuse revoke its family and refuse.

    The rotation is one statement (:meth:`store.RefreshTokens.rotate`): the hot path costs one
    database round trip. The statement rotates only a token that passes every check below;
    the checks here name the reason when it did not.
    """
    hashed, child = token_hash(presented), new_token(REFRESH_PREFIX)
    ttl = ctx.settings.refresh_token_ttl_seconds
    async with ctx.pool.connection() as conn:
        row = await store.RefreshTokens.rotate(conn, hashed, token_hash(child), client_id, ttl)
        if row is None:
            REFRESHES.labels("unknown").inc()
            raise OAuthError("invalid_grant", "refresh token is not recognised", "refresh_token")
        family_id, user_id = str(row["family_id"]), str(row["user_id"])
        if not row["rotated"]:
            await _refuse(ctx, conn, row, client_id, device)
    await ctx.sessions.touch(family_id)
    scopes = frozenset(str(row["scope"]).split())
    access, _ = ctx.codec.issue(
        user_id, scopes, family_id=family_id, session_id=family_id, client_id=row["client_id"]
    )
    REFRESHES.labels("rotated").inc()
    TOKENS_ISSUED.labels("refresh_token").inc()
    return TokenPair(access, child, ctx.codec.ttl, str(row["scope"]), family_id)


async def _refuse(
    ctx: AuthContext, conn: store.Conn, row: DictRow, client_id: str | None, device: Device
) -> NoReturn:
    """Why ``row`` was not rotated, as the OAuth error to answer; a reused token first has its
    family revoked (committed before the refusal is raised)."""
    family_id, user_id = str(row["family_id"]), str(row["user_id"])
    if row["client_id"] is not None and client_id is None:
        # Bound to a client: only that client, authenticated (the caller checked its secret
        # when it named itself), may use it — a stolen token alone is not enough.
        REFRESHES.labels("wrong_client").inc()
        raise OAuthError(
            "invalid_client",
            "this refresh token was issued to a client: authenticate as that client",
            "client_id",
        )
    if row["client_id"] is not None and client_id != row["client_id"]:
        REFRESHES.labels("wrong_client").inc()
        raise OAuthError("invalid_grant", "refresh token was issued to another client", "client_id")
    if row["family_revoked_at"] is not None or row["revoked_at"] is not None:
        REFRESHES.labels("revoked").inc()
        raise OAuthError(
            "invalid_grant", "the session of this refresh token was revoked", "refresh_token"
        )
    if row["rotated_at"] is not None:
        REUSE_DETECTED.inc()
        REFRESHES.labels("reuse").inc()
        async with conn.transaction():
            await revoke_family(ctx, conn, family_id, user_id, "refresh_token_reuse")
            await store.audit(
                conn, "token.reuse_detected", user_id, device.ip, device.user_agent,
                family_id=family_id,
            )  # fmt: skip
        raise OAuthError(
            "invalid_grant",
            "refresh token reuse detected: the whole session has been revoked",
            "refresh_token",
        )
    if row["expired"] or row["user_status"] != "active":
        REFRESHES.labels("expired").inc()
        raise OAuthError("invalid_grant", "refresh token has expired", "refresh_token")
    # Every check passed yet the statement did not rotate: its conditions and these disagree.
    raise RuntimeError(
        f"refresh token of family {family_id} passed every check but was not rotated"
    )

"""API keys for service clients: create (shown once), list, revoke, exchange for a token.

A key is ``mgk_<prefix>_<secret>``; only its SHA-256 is stored. The gateway exchanges a key sent
as ``X-API-Key`` for a short-lived access token, so services only ever see JWTs.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Response
from psycopg.rows import DictRow

from mediagw.auth import store
from mediagw.auth.context import Ctx
from mediagw.auth.crypto import same, token_hash
from mediagw.auth.metrics import TOKENS_ISSUED
from mediagw.auth.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyList, ApiKeyOut, ExchangedToken
from mediagw.common.errors import ERROR_RESPONSES, ApiError, ErrorBody
from mediagw.common.links import link, links
from mediagw.common.paths import UUID_PATTERN
from mediagw.common.security import require_scopes
from mediagw.common.tokens import Principal

router = APIRouter(prefix="/api/v1/auth", tags=["api-keys"], responses=ERROR_RESPONSES)
KEY_PATTERN = r"^mgk_[A-Za-z0-9_-]{12}_[A-Za-z0-9_-]{43}$"
EXCHANGED_TOKEN_TTL = 300


def _out(row: DictRow) -> ApiKeyOut:
    return ApiKeyOut(
        id=str(row["id"]),
        name=str(row["name"]),
        prefix=str(row["prefix"]),
        scopes=list(row["scopes"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        last_used_at=row["last_used_at"],
    )


@router.post(
    "/api-keys",
    status_code=201,
    response_model=ApiKeyCreated,
    responses=links(
        201,
        exchange=link(
            "exchange_key_api_v1_auth_api_keys_exchange_post",
            "Trade the new key for an access token",
            parameters={"header.x-api-key": "$response.body#/key"},
        ),
        revoke=link(
            "revoke_key_api_v1_auth_api_keys__key_id__delete",
            "Revoke the new key",
            parameters={"path.key_id": "$response.body#/id"},
        ),
    ),
)
async def create_key(
    body: ApiKeyCreate,
    principal: Annotated[Principal, Depends(require_scopes("write"))],
    ctx: Ctx,
) -> ApiKeyCreated:
    missing = sorted(set(body.scopes) - principal.scopes)
    if missing:
        raise ApiError(
            403,
            "insufficient_scope",
            f"you cannot grant scopes you lack: {', '.join(missing)}",
            field="scopes",
        )
    prefix = secrets.token_urlsafe(9)
    key = f"mgk_{prefix}_{secrets.token_urlsafe(32)}"
    async with ctx.pool.connection() as conn, conn.transaction():
        cursor = await conn.execute(
            """INSERT INTO auth.api_keys (user_id, name, prefix, key_hash, scopes, expires_at)
               VALUES (%s, %s, %s, %s, %s, CASE WHEN %s::int IS NULL THEN NULL
                                                ELSE now() + make_interval(days => %s::int) END)
            RETURNING *""",
            (principal.user_id, body.name, prefix, token_hash(key), sorted(set(body.scopes)),
             body.expires_in_days, body.expires_in_days),
        )  # fmt: skip
        row = await cursor.fetchone()
        assert row is not None
        await store.audit(conn, "api_key.created", principal.user_id, api_key_id=str(row["id"]))
    return ApiKeyCreated(**_out(row).model_dump(), key=key)


@router.get("/api-keys", response_model=ApiKeyList)
async def list_keys(
    principal: Annotated[Principal, Depends(require_scopes("read"))], ctx: Ctx
) -> ApiKeyList:
    async with ctx.pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT * FROM auth.api_keys WHERE user_id = %s AND revoked_at IS NULL "
            "ORDER BY created_at DESC",
            (principal.user_id,),
        )
        rows = await cursor.fetchall()
    return ApiKeyList(api_keys=[_out(row) for row in rows])


@router.delete(
    "/api-keys/{key_id:uuid_text}",
    status_code=204,
    response_class=Response,
    responses={404: {"model": ErrorBody, "description": "No such live API key of yours"}},
)
async def revoke_key(
    key_id: Annotated[str, Path(pattern=UUID_PATTERN)],
    principal: Annotated[Principal, Depends(require_scopes("write"))],
    ctx: Ctx,
) -> Response:
    """Revoke the key: exchanging it fails from now on, and every access token already
    exchanged for it is refused at once, at the gateway and at every service."""
    async with ctx.pool.connection() as conn, conn.transaction():
        cursor = await conn.execute(
            "UPDATE auth.api_keys SET revoked_at = now() "
            "WHERE id = %s AND user_id = %s AND revoked_at IS NULL RETURNING id",
            (key_id, principal.user_id),
        )
        if await cursor.fetchone() is None:
            raise ApiError(404, "not_found", "no such API key", field="key_id")
        await store.audit(conn, "api_key.revoked", principal.user_id, api_key_id=key_id)
        # Inside the transaction: if Redis cannot take the revocation, the key stays live
        # rather than half-revoked (its exchanged tokens would work until they expire).
        await ctx.authenticator.revoke_api_key(key_id, EXCHANGED_TOKEN_TTL)
    return Response(status_code=204)


@router.post("/api-keys/exchange", response_model=ExchangedToken)
async def exchange_key(
    ctx: Ctx,
    x_api_key: Annotated[str, Header(pattern=KEY_PATTERN, description="The API key")],
) -> ExchangedToken:
    """Trade an API key for a 5-minute access token carrying the key's scopes."""
    prefix = x_api_key[4:16]
    async with ctx.pool.connection() as conn, conn.transaction():
        cursor = await conn.execute(
            """UPDATE auth.api_keys k SET last_used_at = now()
                 FROM auth.users u
                WHERE k.prefix = %s AND k.key_hash = %s AND u.id = k.user_id
                  AND u.status = 'active' AND k.revoked_at IS NULL
                  AND (k.expires_at IS NULL OR k.expires_at > now())
            RETURNING k.*""",
            (prefix, token_hash(x_api_key)),  # a wrong secret must not mark the key used
        )
        row = await cursor.fetchone()
    if row is None or not same(token_hash(x_api_key), str(row["key_hash"])):
        raise ApiError(
            401, "invalid_api_key", "API key is unknown, revoked or expired", field="X-API-Key"
        )
    token, _ = ctx.codec.issue(
        str(row["user_id"]),
        frozenset(row["scopes"]),
        api_key_id=str(row["id"]),
        ttl=EXCHANGED_TOKEN_TTL,
    )
    TOKENS_ISSUED.labels("api_key").inc()
    return ExchangedToken(
        access_token=token, expires_in=EXCHANGED_TOKEN_TTL, scope=" ".join(row["scopes"])
    )

"""TOTP enrolment: start (secret + otpauth URI), confirm with a code (recovery codes, once)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from mediagw.auth import store, totp
from mediagw.auth.context import Ctx
from mediagw.auth.crypto import token_hash
from mediagw.auth.routes.accounts import secret_box
from mediagw.auth.schemas import MfaConfirmRequest, MfaEnrollment, RecoveryCodes
from mediagw.common.errors import ERROR_RESPONSES, ApiError, ErrorBody
from mediagw.common.security import require_scopes
from mediagw.common.tokens import Principal

router = APIRouter(prefix="/api/v1/auth", tags=["mfa"], responses=ERROR_RESPONSES)
ISSUER = "Media Gateway"


@router.post(
    "/mfa/enroll",
    response_model=MfaEnrollment,
    responses={
        404: {"model": ErrorBody, "description": "The account no longer exists"},
        409: {"model": ErrorBody, "description": "MFA is already enabled"},
    },
)
async def enroll(
    principal: Annotated[Principal, Depends(require_scopes("write"))], ctx: Ctx
) -> MfaEnrollment:
    """Start TOTP enrolment; MFA is on only after /mfa/enroll/confirm."""
    secret = totp.new_secret()
    async with ctx.pool.connection() as conn, conn.transaction():
        user = await store.Users.by_id(conn, principal.user_id)
        if user is None:
            raise ApiError(404, "not_found", "the account no longer exists")
        if user["mfa_enabled_at"] is not None:
            raise ApiError(409, "mfa_already_enabled", "MFA is already enabled on this account")
        await conn.execute(
            """INSERT INTO auth.mfa_secrets (user_id, secret) VALUES (%s, %s)
               ON CONFLICT (user_id) DO UPDATE SET secret = EXCLUDED.secret,
                   created_at = now(), last_used_step = NULL""",
            (principal.user_id, secret_box(ctx).seal(secret)),
        )
    return MfaEnrollment(
        secret=secret, otpauth_uri=totp.provisioning_uri(secret, str(user["email"]), ISSUER)
    )


@router.post(
    "/mfa/enroll/confirm",
    response_model=RecoveryCodes,
    responses={
        403: {"model": ErrorBody, "description": "The code does not match the secret"},
        409: {"model": ErrorBody, "description": "No enrolment is pending"},
    },
)
async def confirm(
    body: MfaConfirmRequest,
    principal: Annotated[Principal, Depends(require_scopes("write"))],
    ctx: Ctx,
) -> RecoveryCodes:
    """Prove the authenticator works; MFA is enabled and ten recovery codes are shown once."""
    codes = totp.new_recovery_codes()
    async with ctx.pool.connection() as conn, conn.transaction():
        cursor = await conn.execute(
            "SELECT secret, enabled_at FROM auth.mfa_secrets WHERE user_id = %s FOR UPDATE",
            (principal.user_id,),
        )
        row = await cursor.fetchone()
        if row is None or row["enabled_at"] is not None:
            raise ApiError(409, "no_pending_enrolment", "start with POST /mfa/enroll", field="code")
        step = totp.matching_step(secret_box(ctx).open(str(row["secret"])), body.code, None)
        if step is None:
            raise ApiError(
                403, "invalid_mfa_code", "the code does not match the secret", field="code"
            )
        await conn.execute(
            "UPDATE auth.mfa_secrets SET enabled_at = now(), last_used_step = %s "
            "WHERE user_id = %s",
            (step, principal.user_id),
        )
        await conn.execute(
            "DELETE FROM auth.mfa_recovery_codes WHERE user_id = %s", (principal.user_id,)
        )
        for code in codes:
            await conn.execute(
                "INSERT INTO auth.mfa_recovery_codes (user_id, code_hash) VALUES (%s, %s)",
                (principal.user_id, token_hash(code)),
            )
        await store.audit(conn, "mfa.enabled", principal.user_id)
    return RecoveryCodes(recovery_codes=codes)

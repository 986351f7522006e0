"""Accounts: register, verify e-mail, log in (with MFA), reset password, who am I, log out."""

from __future__ import annotations

import json
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from mediagw.auth import store, totp
from mediagw.auth.context import AuthContext, Ctx, client_ip
from mediagw.auth.crypto import SecretBox, new_token, token_hash
from mediagw.auth.email import Email
from mediagw.auth.issuer import Device, revoke_family, scopes_for_roles, start_session
from mediagw.auth.metrics import HASH_SECONDS, LOGINS
from mediagw.auth.schemas import (
    Accepted,
    ForgotPasswordRequest,
    LoginRequest,
    Me,
    MfaChallenge,
    MfaVerifyRequest,
    RegisterRequest,
    ResetPasswordRequest,
    TokenResponse,
    Verified,
    VerifyEmailRequest,
)
from mediagw.common.errors import ERROR_RESPONSES, ApiError, ErrorBody
from mediagw.common.links import link, links
from mediagw.common.security import CurrentPrincipal, require_scopes
from mediagw.common.tokens import Principal

router = APIRouter(prefix="/api/v1/auth", tags=["accounts"], responses=ERROR_RESPONSES)
me_router = APIRouter(prefix="/api/v1", tags=["accounts"], responses=ERROR_RESPONSES)

MFA_CHALLENGE = "mfa:challenge:{}"
MFA_ATTEMPTS = "mfa:attempts:{}"
MFA_MAX_ATTEMPTS = 5
BAD_CREDENTIALS = ApiError(401, "invalid_credentials", "e-mail or password is incorrect")


def _device(request: Request, ctx: AuthContext, device_id: str | None, name: str | None) -> Device:
    return Device(
        device_id, name, client_ip(request, ctx.settings), request.headers.get("user-agent")
    )


@router.post(
    "/register",
    status_code=202,
    response_model=Accepted,
    responses=links(
        202,
        login=link(
            "login_api_v1_auth_login_post",
            "Log in with the registered address and password (once the e-mail is verified)",
            request_body={"email": "$request.body#/email", "password": "$request.body#/password"},
        ),
    ),
)
async def register(body: RegisterRequest, request: Request, ctx: Ctx) -> Accepted:
    """Create an account and e-mail a verification link.

    The answer is the same whether or not the address is already registered (the owner of an
    existing address gets a notice instead), so the endpoint cannot be used to probe accounts.
    """
    ip = client_ip(request, ctx.settings)
    await ctx.limiter.hit("register", ip, ctx.limit("register"))
    started = time.perf_counter()
    password_hash = await ctx.passwords.hash(body.password)
    HASH_SECONDS.labels("hash").observe(time.perf_counter() - started)
    token = new_token()
    async with ctx.pool.connection() as conn, conn.transaction():
        existing = await store.Users.by_email(conn, body.email)
        if existing is None:
            user_id = await store.Users.create(conn, body.email, body.display_name, password_hash)
            await store.EMAIL_VERIFICATIONS.create(
                conn, token_hash(token), user_id, ctx.settings.email_verification_ttl_seconds,
                email=body.email,
            )  # fmt: skip
            await store.audit(conn, "user.registered", user_id, ip)
    link = f"{ctx.settings.public_url}/verify-email?token={token}"
    if existing is None:
        await ctx.email.send(
            Email(body.email, "Confirm your e-mail address",
                  f"Welcome to Media Gateway.\n\nConfirm your address: {link}\n", "verify_email")
        )  # fmt: skip
    else:
        await ctx.email.send(
            Email(str(existing["email"]), "Someone tried to register with your address",
                  "An account with this address already exists. If this was you, log in or "
                  "reset your password.\n", "account_exists")
        )  # fmt: skip
    return Accepted(message="if the address can be registered, a verification e-mail is on its way")


@router.post(
    "/verify-email",
    response_model=Verified,
    responses={404: {"model": ErrorBody, "description": "The link is unknown, used or expired"}},
)
async def verify_email(body: VerifyEmailRequest, ctx: Ctx) -> Verified:
    async with ctx.pool.connection() as conn, conn.transaction():
        row = await store.EMAIL_VERIFICATIONS.consume(conn, token_hash(body.token))
        if row is None:
            raise ApiError(
                404, "invalid_token", "verification link is unknown, used or expired", field="token"
            )
        admin = str(row["email"]).lower() in ctx.settings.admin_email_set
        await store.Users.mark_verified(conn, str(row["user_id"]), admin)
        await store.audit(conn, "user.verified", str(row["user_id"]), admin=admin)
    return Verified(email_verified=True)


@router.post(
    "/login",
    response_model=TokenResponse | MfaChallenge,
    responses={403: ERROR_RESPONSES[403] | {"description": "E-mail not verified yet"}}
    | links(
        200,
        refresh=link(
            "token_api_v1_auth_token_post",
            "Rotate the refresh token (same family)",
            request_body={
                "grant_type": "refresh_token",
                "refresh_token": "$response.body#/refresh_token",
            },
        ),
        mfa=link(
            "mfa_verify_api_v1_auth_mfa_verify_post",
            "Complete an MFA challenge",
            request_body={"mfa_token": "$response.body#/mfa_token"},
        ),
    ),
)
async def login(body: LoginRequest, request: Request, ctx: Ctx) -> TokenResponse | MfaChallenge:
    """Exchange e-mail and password for tokens, or for an MFA challenge when MFA is on.

    Unknown e-mail and wrong password give the same answer in the same time.
    """
    device = _device(request, ctx, body.device_id, body.device_name)
    await ctx.limiter.hit("login", f"{device.ip}:{body.email.lower()}", ctx.limit("login"))
    async with ctx.pool.connection() as conn:
        user = await store.Users.by_email(conn, body.email)
    started = time.perf_counter()
    ok = await ctx.passwords.verify(user["password_hash"] if user else None, body.password)
    HASH_SECONDS.labels("verify").observe(time.perf_counter() - started)
    if user is None or not ok or user["status"] != "active":
        LOGINS.labels("invalid_credentials").inc()
        async with ctx.pool.connection() as conn:
            await store.audit(conn, "login.failed", str(user["id"]) if user else None, device.ip)
        raise BAD_CREDENTIALS
    user_id = str(user["id"])
    if ctx.settings.require_verified_email and user["email_verified_at"] is None:
        LOGINS.labels("unverified").inc()
        raise ApiError(
            403,
            "email_not_verified",
            "confirm your e-mail address before logging in",
            field="email",
        )
    if user["mfa_enabled_at"] is not None:
        LOGINS.labels("mfa_required").inc()
        challenge = new_token()
        payload = {"user_id": user_id, "device": device.__dict__}
        await ctx.redis.set(
            MFA_CHALLENGE.format(token_hash(challenge)), json.dumps(payload),
            ex=ctx.settings.mfa_challenge_ttl_seconds,
        )  # fmt: skip
        return MfaChallenge(mfa_token=challenge, expires_in=ctx.settings.mfa_challenge_ttl_seconds)
    # Pipelined: BEGIN, the family, its token, the session, the audit row and COMMIT reach the
    # database in one round trip instead of six (errors still surface, at the commit).
    async with ctx.pool.connection() as conn, conn.pipeline(), conn.transaction():
        pair = await start_session(
            ctx, conn, user_id, scopes_for_roles(user["roles"]), device, grant="password"
        )
        await store.audit(conn, "login.succeeded", user_id, device.ip, session_id=pair.session_id)
    LOGINS.labels("ok").inc()
    return TokenResponse(**pair.__dict__)


def _challenge_gone() -> ApiError:
    return ApiError(
        401,
        "invalid_mfa_token",
        "MFA challenge is unknown or expired; log in again",
        field="mfa_token",
    )


@router.post("/mfa/verify", response_model=TokenResponse)
async def mfa_verify(body: MfaVerifyRequest, ctx: Ctx) -> TokenResponse:
    """Complete a login with a TOTP code or a one-time recovery code."""
    key = MFA_CHALLENGE.format(token_hash(body.mfa_token))
    attempts_key = MFA_ATTEMPTS.format(token_hash(body.mfa_token))
    raw = await ctx.redis.get(key)
    if raw is None:
        raise _challenge_gone()
    # Count the attempt atomically before checking it: parallel guesses each take a number, and
    # only the first MFA_MAX_ATTEMPTS of them are ever checked. (The last of those to fail ends
    # the challenge; one over the limit leaves it alone for the attempts still being checked.)
    async with ctx.redis.pipeline(transaction=True) as pipe:
        pipe.incr(attempts_key)
        pipe.expire(attempts_key, ctx.settings.mfa_challenge_ttl_seconds)
        attempt, _ = await pipe.execute()
    if int(attempt) > MFA_MAX_ATTEMPTS:
        raise _challenge_gone()
    challenge = json.loads(raw)
    user_id = challenge["user_id"]
    async with ctx.pool.connection() as conn, conn.transaction():
        ok = await _second_factor_ok(ctx, conn, user_id, body)
        if not ok:
            if int(attempt) >= MFA_MAX_ATTEMPTS:
                await ctx.redis.delete(key, attempts_key)
            await store.audit(conn, "mfa.failed", user_id)
        else:
            # One challenge, one session: of two right answers racing, the loser rolls back.
            if not await ctx.redis.delete(key):
                raise _challenge_gone()
            await ctx.redis.delete(attempts_key)
            user = await store.Users.by_id(conn, user_id)
            assert user is not None
            scopes = scopes_for_roles(user["roles"])
            device = Device(**challenge["device"])
            pair = await start_session(ctx, conn, user_id, scopes, device, grant="password+mfa")
            await store.audit(
                conn, "login.succeeded", user_id, mfa=True, session_id=pair.session_id
            )
    if not ok:
        field = "code" if body.code else "recovery_code"
        raise ApiError(
            401, "invalid_mfa_code", "the code is wrong, expired or already used", field=field
        )
    return TokenResponse(**pair.__dict__)


async def _second_factor_ok(
    ctx: AuthContext, conn: store.Conn, user_id: str, body: MfaVerifyRequest
) -> bool:
    if body.recovery_code is not None:
        cursor = await conn.execute(
            "UPDATE auth.mfa_recovery_codes SET used_at = now() "
            "WHERE user_id = %s AND code_hash = %s AND used_at IS NULL RETURNING id",
            (user_id, token_hash(body.recovery_code)),
        )
        return await cursor.fetchone() is not None
    cursor = await conn.execute(
        "SELECT secret, last_used_step FROM auth.mfa_secrets "
        "WHERE user_id = %s AND enabled_at IS NOT NULL FOR UPDATE",
        (user_id,),
    )
    row = await cursor.fetchone()
    if row is None or body.code is None:
        return False
    secret = secret_box(ctx).open(str(row["secret"]))
    step = totp.matching_step(secret, body.code, row["last_used_step"])
    if step is None:
        return False
    await conn.execute(
        "UPDATE auth.mfa_secrets SET last_used_step = %s WHERE user_id = %s", (step, user_id)
    )
    return True


def secret_box(ctx: AuthContext) -> SecretBox:
    key = ctx.settings.data_key or ctx.settings.jwt_secret
    assert key is not None  # AuthSettings guarantees one of them
    return SecretBox(key.get_secret_value())


@router.post("/password/forgot", status_code=202, response_model=Accepted)
async def forgot_password(body: ForgotPasswordRequest, request: Request, ctx: Ctx) -> Accepted:
    """E-mail a reset link if the account exists; the answer does not say whether it does."""
    ip = client_ip(request, ctx.settings)
    await ctx.limiter.hit(
        "password_reset", f"{ip}:{body.email.lower()}", ctx.limit("password_reset")
    )
    token = new_token()
    async with ctx.pool.connection() as conn, conn.transaction():
        user = await store.Users.by_email(conn, body.email)
        if user is not None:
            await store.PASSWORD_RESETS.create(
                conn, token_hash(token), str(user["id"]), ctx.settings.password_reset_ttl_seconds
            )
            await store.audit(conn, "password.reset_requested", str(user["id"]), ip)
    if user is not None:
        link = f"{ctx.settings.public_url}/reset-password?token={token}"
        await ctx.email.send(
            Email(str(user["email"]), "Reset your password",
                  f"Choose a new password: {link}\n\nIgnore this if you did not ask.\n",
                  "password_reset")
        )  # fmt: skip
    return Accepted(message="if the address has an account, a reset e-mail is on its way")


@router.post(
    "/password/reset",
    response_model=Verified,
    responses={404: {"model": ErrorBody, "description": "The link is unknown, used or expired"}},
)
async def reset_password(body: ResetPasswordRequest, request: Request, ctx: Ctx) -> Verified:
    """Set a new password and end every session of the account."""
    password_hash = await ctx.passwords.hash(body.new_password)
    async with ctx.pool.connection() as conn, conn.transaction():
        row = await store.PASSWORD_RESETS.consume(conn, token_hash(body.token))
        if row is None:
            raise ApiError(
                404, "invalid_token", "reset link is unknown, used or expired", field="token"
            )
        user_id = str(row["user_id"])
        # Any other reset link still in a mailbox must not reset the new password again.
        await store.PASSWORD_RESETS.retire_all(conn, user_id)
        await store.Users.set_password(conn, user_id, password_hash)
        for family_id in await store.RefreshTokens.live_families(conn, user_id):
            await revoke_family(ctx, conn, family_id, user_id, "password_reset")
        # Following a reset link proves control of the mailbox.
        await store.Users.mark_verified(conn, user_id, admin=False)
        await store.audit(conn, "password.reset", user_id, client_ip(request, ctx.settings))
    return Verified(email_verified=True)


@me_router.get("/me", response_model=Me)
async def me(principal: Annotated[Principal, Depends(require_scopes("read"))], ctx: Ctx) -> Me:
    async with ctx.pool.connection() as conn:
        user = await store.Users.by_id(conn, principal.user_id)
    if user is None:
        raise ApiError(404, "not_found", "the account no longer exists")
    return Me(
        id=str(user["id"]),
        email=str(user["email"]),
        display_name=user["display_name"],
        email_verified=user["email_verified_at"] is not None,
        roles=list(user["roles"]),
        scopes=sorted(principal.scopes),
        mfa_enabled=user["mfa_enabled_at"] is not None,
        created_at=user["created_at"],
    )


@router.post("/logout", status_code=204, response_class=Response)
async def logout(principal: CurrentPrincipal, ctx: Ctx) -> Response:
    """End this session: its refresh tokens and every access token of it stop working."""
    await ctx.authenticator.revoke_token(principal)
    if principal.family_id:
        async with ctx.pool.connection() as conn, conn.transaction():
            await revoke_family(ctx, conn, principal.family_id, principal.user_id, "logout")
            await store.audit(conn, "logout", principal.user_id, session_id=principal.family_id)
    return Response(status_code=204)

"""OAuth 2.0: clients, authorization code with PKCE (S256 only), device grant, token endpoint."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, ValidationError

from mediagw.auth import store
from mediagw.auth.context import AuthContext, Ctx, client_ip
from mediagw.auth.crypto import (
    PKCE_CHALLENGE_PATTERN,
    new_token,
    new_user_code,
    normalise_user_code,
    pkce_matches,
    same,
    token_hash,
)
from mediagw.auth.issuer import (
    Device,
    TokenPair,
    refresh,
    revoke_family,
    scopes_for_roles,
    start_session,
)
from mediagw.auth.oauth_errors import OAuthError, OAuthErrorBody
from mediagw.auth.schemas import (
    GRANT_DEVICE_CODE,
    SCOPE_PATTERN,
    ClientCreate,
    ClientCreated,
    DeviceApproved,
    DeviceApproveRequest,
    DeviceCodeRequest,
    DeviceCodeResponse,
    TokenRequest,
    TokenResponse,
)
from mediagw.common.errors import (
    ERROR_RESPONSES,
    ApiError,
    ErrorBody,
    field_path,
    validation_failed,
)
from mediagw.common.links import link, links
from mediagw.common.security import require_scopes
from mediagw.common.tokens import Principal

HAND_READ_BODIES: tuple[type[BaseModel], ...] = (TokenRequest, DeviceCodeRequest)
"""Models of the bodies read by hand (form-encoded or JSON, as OAuth clients send either)."""


def form_or_json_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` for a body read by hand: FastAPI cannot see it, so it is declared here
    (and the model added to the components by the app, see ``auth.app``)."""
    assert model in HAND_READ_BODIES, f"add {model.__name__} to HAND_READ_BODIES"
    schema = {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
    return {
        "requestBody": {"required": True, "content": {FORM: schema, "application/json": schema}}
    }


router = APIRouter(prefix="/api/v1/auth", tags=["oauth"], responses=ERROR_RESPONSES)

FORM = "application/x-www-form-urlencoded"
_GRANTS = {"device_code": GRANT_DEVICE_CODE}


def _scope_set(requested: str | None, allowed: frozenset[str], field: str) -> frozenset[str]:
    if not requested:
        return allowed
    scopes = frozenset(requested.split())
    extra = scopes - allowed
    if extra:
        raise ApiError(
            403, "invalid_scope", f"scope not allowed: {' '.join(sorted(extra))}", field=field
        )
    return scopes


@router.post("/clients", status_code=201, response_model=ClientCreated)
async def register_client(
    body: ClientCreate,
    principal: Annotated[Principal, Depends(require_scopes("admin"))],
    ctx: Ctx,
) -> ClientCreated:
    """Register an OAuth client (admin only). Redirect URIs are matched exactly, later."""
    client_id = f"mgc_{secrets.token_urlsafe(12)}"
    secret = None if body.public else new_token("mgs_")
    grant_types = sorted({_GRANTS.get(g, g) for g in body.grant_types})
    async with ctx.pool.connection() as conn, conn.transaction():
        await store.Clients.create(
            conn,
            client_id=client_id,
            client_secret_hash=token_hash(secret) if secret else None,
            name=body.name,
            redirect_uris=body.redirect_uris,
            allowed_scopes=sorted(body.scopes),
            grant_types=grant_types,
            is_public=body.public,
            created_by=principal.user_id,
        )
        await store.audit(conn, "client.created", principal.user_id, client_id=client_id)
    return ClientCreated(
        client_id=client_id,
        client_secret=secret,
        name=body.name,
        redirect_uris=body.redirect_uris,
        scopes=sorted(body.scopes),
        grant_types=grant_types,
        public=body.public,
    )


@router.get(
    "/authorize",
    status_code=302,
    response_class=RedirectResponse,
    responses={
        302: {"description": "Redirect to the client with `code` and `state`"},
        403: {
            "model": ErrorBody,
            "description": "The client is not registered for this redirect URI, grant or scope",
        },
        404: {"model": ErrorBody, "description": "No client with this client_id"},
    },
)
async def authorize(
    principal: Annotated[Principal, Depends(require_scopes("write"))],
    ctx: Ctx,
    response_type: Annotated[str, Query(pattern="^code$")],
    client_id: Annotated[str, Query(min_length=3, max_length=128, pattern=r"^[A-Za-z0-9._~-]+$")],
    redirect_uri: Annotated[str, Query(max_length=2000)],
    code_challenge: Annotated[str, Query(pattern=PKCE_CHALLENGE_PATTERN)],
    code_challenge_method: Annotated[str, Query(pattern="^S256$")] = "S256",
    scope: Annotated[str | None, Query(max_length=200, pattern=SCOPE_PATTERN)] = None,
    state: Annotated[str | None, Query(max_length=500)] = None,
) -> RedirectResponse:
    """The signed-in user authorises a client; answers with a redirect carrying a one-time code.

    Every problem is a JSON error rather than a redirect, so a bad request can never be turned
    into an open redirect: a malformed parameter is a 422, an unknown client a 404, and what the
    client is not registered for (redirect URI, grant, scope) a 403.
    """
    async with ctx.pool.connection() as conn:
        client = await store.Clients.get(conn, client_id)
    if client is None:
        raise ApiError(404, "invalid_client", "unknown client_id", field="client_id")
    if redirect_uri not in client["redirect_uris"]:
        raise ApiError(
            403,
            "invalid_redirect_uri",
            "redirect_uri is not registered for this client",
            field="redirect_uri",
        )
    if "authorization_code" not in client["grant_types"]:
        raise ApiError(
            403,
            "unauthorized_client",
            "client may not use the authorization_code grant",
            field="response_type",
        )
    scopes = _scope_set(scope, frozenset(client["allowed_scopes"]) & principal.scopes, "scope")
    code = new_token()
    async with ctx.pool.connection() as conn, conn.transaction():
        await store.AuthorizationCodes.insert(
            conn, token_hash(code), client_id, principal.user_id, redirect_uri,
            " ".join(sorted(scopes)), code_challenge, ctx.settings.authorization_code_ttl_seconds,
        )  # fmt: skip
    params = {"code": code, **({"state": state} if state is not None else {})}
    separator = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(f"{redirect_uri}{separator}{urlencode(params)}", status_code=302)


@router.post(
    "/device/code",
    response_model=DeviceCodeResponse,
    responses={
        403: {
            "model": ErrorBody,
            "description": "The client may not use the device grant, or "
            "is not registered for the scope",
        },
        404: {"model": ErrorBody, "description": "No client with this client_id"},
        415: {"model": ErrorBody, "description": "Body neither form-encoded nor JSON"},
    }
    | links(
        200,
        approve=link(
            "device_approve_api_v1_auth_device_approve_post",
            "The signed-in user approves the code shown on the device",
            request_body={"user_code": "$response.body#/user_code"},
        ),
        poll=link(
            "token_api_v1_auth_token_post",
            "The device polls for its tokens",
            request_body={
                "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
                "device_code": "$response.body#/device_code",
            },
        ),
    ),
    openapi_extra=form_or_json_body(DeviceCodeRequest),
)
async def device_code(request: Request, ctx: Ctx) -> DeviceCodeResponse:
    """Start the device grant (RFC 8628): a TV shows the user code, the user approves elsewhere."""
    try:
        body = DeviceCodeRequest.model_validate(await _params(request, oauth=False))
    except ValidationError as exc:  # read by hand, so FastAPI's own 422 handling never ran
        raise validation_failed(exc.errors()) from None
    async with ctx.pool.connection() as conn:
        client = await store.Clients.get(conn, body.client_id)
    if client is None:
        raise ApiError(404, "invalid_client", "unknown client_id", field="client_id")
    if (
        GRANT_DEVICE_CODE not in client["grant_types"]
        and "device_code" not in client["grant_types"]
    ):
        raise ApiError(
            403, "unauthorized_client", "client may not use the device grant", field="client_id"
        )
    scopes = _scope_set(body.scope, frozenset(client["allowed_scopes"]), "scope")
    code, user_code = new_token(), new_user_code()
    settings = ctx.settings
    async with ctx.pool.connection() as conn, conn.transaction():
        await store.DeviceCodes.insert(
            conn, token_hash(code), user_code, body.client_id, " ".join(sorted(scopes)),
            settings.device_code_interval_seconds, settings.device_code_ttl_seconds,
        )  # fmt: skip
    verification = f"{settings.public_url}/device"
    return DeviceCodeResponse(
        device_code=code,
        user_code=user_code,
        verification_uri=verification,
        verification_uri_complete=f"{verification}?{urlencode({'user_code': user_code})}",
        expires_in=settings.device_code_ttl_seconds,
        interval=settings.device_code_interval_seconds,
    )


@router.post(
    "/device/approve",
    response_model=DeviceApproved,
    responses={
        404: {"model": ErrorBody, "description": "No pending device with this user code"},
    },
)
async def device_approve(
    body: DeviceApproveRequest,
    principal: Annotated[Principal, Depends(require_scopes("write"))],
    ctx: Ctx,
) -> DeviceApproved:
    """The signed-in user approves (or denies) the device showing ``user_code``."""
    status = "approved" if body.approve else "denied"
    async with ctx.pool.connection() as conn, conn.transaction():
        row = await store.DeviceCodes.decide(
            conn, normalise_user_code(body.user_code), status, principal.user_id, body.approve
        )
        if row is None:
            raise ApiError(
                404,
                "invalid_user_code",
                "user code is unknown, expired or already used",
                field="user_code",
            )
        await store.audit(conn, f"device.{status}", principal.user_id, client_id=row["client_id"])
    return DeviceApproved(status=status)  # type: ignore[arg-type]  # status is one of the two literals


@router.post(
    "/token",
    response_model=TokenResponse,
    responses={
        400: {"model": OAuthErrorBody, "description": "RFC 6749 §5.2 error (invalid_grant …)"},
        401: {"model": OAuthErrorBody, "description": "Client authentication failed"},
        422: {"model": OAuthErrorBody, "description": "A parameter is malformed"},
    }
    | links(
        200,
        refresh=link(
            "token_api_v1_auth_token_post",
            "Rotate the refresh token just issued (same family)",
            request_body={
                "grant_type": "refresh_token",
                "refresh_token": "$response.body#/refresh_token",
            },
        ),
    ),
    openapi_extra=form_or_json_body(TokenRequest),
)
async def token(request: Request, ctx: Ctx) -> TokenResponse:
    """The token endpoint: authorization_code (+PKCE), refresh_token (rotating), device_code."""
    params = await _params(request, oauth=True)
    _client_basic_auth(request, params)
    try:
        body = TokenRequest.model_validate(params)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = field_path(first["loc"]) or "request"
        raise OAuthError("invalid_request", f"{field}: {first['msg']}", field) from None
    await ctx.limiter.hit(
        "token", f"{client_ip(request, ctx.settings)}:{body.client_id}", ctx.limit("token")
    )
    device = Device(
        body.device_id,
        body.device_name,
        client_ip(request, ctx.settings),
        request.headers.get("user-agent"),
    )
    if body.grant_type == "refresh_token":
        presented = _required(body.refresh_token, "refresh_token")
        if body.client_id:
            await _authenticate_client(ctx, body.client_id, body.client_secret)
        pair = await refresh(ctx, presented, body.client_id, device)
    elif body.grant_type == "authorization_code":
        pair = await _code_grant(ctx, body, device)
    else:
        pair = await _device_grant(ctx, body, device)
    return TokenResponse(**pair.__dict__)


async def _params(request: Request, *, oauth: bool) -> dict[str, Any]:
    """Form-encoded (the OAuth way) or JSON parameters, as one dict."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    problem: str | None = None
    status = 400
    data: Any = {}
    if content_type == FORM:
        try:
            pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw))
        except (UnicodeDecodeError, ValueError):
            problem = "body is not valid form encoding"
        else:
            data = dict(pairs)
            if len(data) != len(pairs):
                problem = "a parameter is repeated"
    elif content_type == "application/json":
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            problem = "body is not valid JSON"
        if not isinstance(data, dict):
            problem = "JSON body must be an object"
    else:
        problem, status = f"send {FORM} or application/json", 415
    if problem:
        if oauth:
            raise OAuthError("invalid_request", problem, "body")
        raise ApiError(status, "invalid_body", problem, field="body")
    return dict(data)


def _client_basic_auth(request: Request, params: dict[str, Any]) -> None:
    """Accept client_secret_basic: credentials from the Authorization header into params."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return
    try:
        decoded = base64.b64decode(header[6:], validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError("invalid_client", "malformed Basic credentials", "Authorization") from None
    client_id, _, secret = decoded.partition(":")
    params.setdefault("client_id", client_id)
    params["client_secret"] = secret


def _required(value: str | None, name: str) -> str:
    if not value:
        raise OAuthError("invalid_request", f"{name} is required for this grant", name)
    return value


async def _authenticate_client(
    ctx: AuthContext, client_id: str, secret: str | None
) -> dict[str, Any]:
    async with ctx.pool.connection() as conn:
        client = await store.Clients.get(conn, client_id)
    if client is None:
        raise OAuthError("invalid_client", "unknown client", "client_id")
    secret_ok = secret is not None and same(token_hash(secret), str(client["client_secret_hash"]))
    if not client["is_public"] and not secret_ok:
        raise OAuthError("invalid_client", "client authentication failed", "client_secret")
    return dict(client)


async def _code_grant(ctx: AuthContext, body: TokenRequest, device: Device) -> TokenPair:
    code = _required(body.code, "code")
    verifier = _required(body.code_verifier, "code_verifier")
    client = await _authenticate_client(
        ctx, _required(body.client_id, "client_id"), body.client_secret
    )
    async with ctx.pool.connection() as conn, conn.transaction():
        # Consume first: a wrong verifier still burns the code, so codes cannot be brute-forced.
        row = await store.AuthorizationCodes.consume(conn, token_hash(code))
    if row is None:
        await _revoke_what_the_code_started(ctx, token_hash(code), device)
        raise OAuthError(
            "invalid_grant", "authorization code is unknown, expired or already used", "code"
        )
    if row["client_id"] != client["client_id"]:
        raise OAuthError(
            "invalid_grant", "authorization code was issued to another client", "client_id"
        )
    if body.redirect_uri != row["redirect_uri"]:
        raise OAuthError(
            "invalid_grant", "redirect_uri does not match the authorization request", "redirect_uri"
        )
    if not pkce_matches(verifier, str(row["code_challenge"])):
        raise OAuthError(
            "invalid_grant", "code_verifier does not match the code_challenge", "code_verifier"
        )
    async with ctx.pool.connection() as conn, conn.transaction():
        pair = await start_session(
            ctx, conn, str(row["user_id"]), frozenset(str(row["scope"]).split()), device,
            grant="authorization_code", client_id=str(client["client_id"]),
        )  # fmt: skip
        await store.AuthorizationCodes.link_family(conn, token_hash(code), pair.session_id)
        return pair


async def _revoke_what_the_code_started(ctx: AuthContext, code_hash: str, device: Device) -> None:
    """A code presented after it was used: someone else may hold it, so the session it started
    and every token issued from it are revoked (RFC 6749 §4.1.2)."""
    async with ctx.pool.connection() as conn, conn.transaction():
        started = await store.AuthorizationCodes.started_family(conn, code_hash)
        if started is None:
            return
        family_id, user_id = str(started["family_id"]), str(started["user_id"])
        await revoke_family(ctx, conn, family_id, user_id, "authorization_code_reuse")
        await store.audit(
            conn, "token.code_reuse_detected", user_id, device.ip, device.user_agent,
            family_id=family_id,
        )  # fmt: skip


async def _device_grant(ctx: AuthContext, body: TokenRequest, device: Device) -> TokenPair:
    code = _required(body.device_code, "device_code")
    client = await _authenticate_client(
        ctx, _required(body.client_id, "client_id"), body.client_secret
    )
    async with ctx.pool.connection() as conn, conn.transaction():
        row = await store.DeviceCodes.lock(conn, token_hash(code))
        if row is None or row["client_id"] != client["client_id"]:
            raise OAuthError("invalid_grant", "device code is unknown", "device_code")
        if row["used_at"] is not None:
            raise OAuthError("invalid_grant", "device code was already exchanged", "device_code")
        if row["expired"]:
            raise OAuthError("expired_token", "device code has expired; start again", "device_code")
        if row["status"] == "denied":
            raise OAuthError("access_denied", "the user denied this device", "device_code")
        if row["status"] == "pending":
            slow = bool(row["too_fast"])
            await store.DeviceCodes.polled(conn, token_hash(code), slow_down=slow)
            pending = OAuthError(
                "slow_down" if slow else "authorization_pending",
                "polling too fast; wait longer between requests"
                if slow
                else "the user has not approved yet",
                "device_code",
            )
        else:
            pending = None
            await store.DeviceCodes.mark_used(conn, token_hash(code))
            user = await store.Users.by_id(conn, str(row["user_id"]))
            assert user is not None
            scopes = frozenset(str(row["scope"]).split()) & scopes_for_roles(user["roles"])
            pair = await start_session(
                ctx, conn, str(row["user_id"]), scopes, device, grant="device_code",
                client_id=str(client["client_id"]),
            )  # fmt: skip
    if pending is not None:  # raised after commit so the poll bookkeeping is kept
        raise pending
    return pair


@router.get(
    "/.well-known/jwks.json",
    tags=["oauth"],
    responses={404: {"model": ErrorBody, "description": "HS256 deployment: no public keys"}},
)
async def jwks(ctx: Ctx) -> JSONResponse:
    """Public signing keys (only when tokens are signed with RS256/ES256)."""
    keys = ctx.codec.jwks()
    if keys is None:
        raise ApiError(
            404, "not_found", "tokens are signed with a shared secret (HS256): no public keys"
        )
    return JSONResponse(keys, headers={"Cache-Control": "public, max-age=300"})

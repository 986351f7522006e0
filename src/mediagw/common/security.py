"""FastAPI dependencies that turn a bearer token into a :class:`Principal`, with scope checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mediagw.common.errors import ApiError
from mediagw.common.tokens import Authenticator, InvalidToken, Principal

bearer_scheme = HTTPBearer(auto_error=False, description="JWT access token from /auth/login")


def _authenticator(request: Request) -> Authenticator:
    authenticator: Authenticator = request.app.state.authenticator
    return authenticator


def unauthorized(code: str, message: str) -> ApiError:
    challenge = f'Bearer error="invalid_token", error_description="{message}"'
    if code == "missing_token":
        challenge = "Bearer"
    return ApiError(
        401, code, message, field="Authorization", headers={"WWW-Authenticate": challenge}
    )


async def optional_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal | None:
    """The caller if a valid token was sent, None if none was; an invalid token is a 401."""
    verified = request.scope.get("state", {}).get("principal")
    if isinstance(verified, Principal):
        # The all-in-one gateway already verified this request's token in this process (scope
        # state cannot be set by a client), so the second Redis round trip is skipped.
        return verified
    if credentials is None:
        if request.headers.get("authorization"):
            raise unauthorized("invalid_token", "Authorization header must be 'Bearer <token>'")
        return None
    try:
        principal = await _authenticator(request).authenticate(credentials.credentials)
    except InvalidToken as exc:
        raise unauthorized(exc.code, exc.message) from None
    request.state.principal = principal
    return principal


async def current_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise unauthorized("missing_token", "this endpoint needs an access token")
    return principal


def require_scopes(*scopes: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting only callers whose token carries every scope in ``scopes``."""

    async def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        missing = sorted(set(scopes) - principal.scopes)
        if missing:
            raise ApiError(
                403,
                "insufficient_scope",
                f"the token lacks the scope(s): {', '.join(missing)}",
                field="scope",
            )
        return principal

    return check


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]

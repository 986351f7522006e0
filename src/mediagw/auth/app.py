"""The auth service's app factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI

from mediagw.auth.context import AuthContext
from mediagw.auth.email import email_sender
from mediagw.auth.oauth_errors import OAuthError, oauth_error_handler
from mediagw.auth.passwords import Passwords
from mediagw.auth.routes import accounts, api_keys, mfa, oauth, sessions
from mediagw.auth.routes.oauth import HAND_READ_BODIES
from mediagw.auth.sessions import SessionStore
from mediagw.auth.settings import AuthSettings
from mediagw.common.app import create_service_app
from mediagw.common.health import Check
from mediagw.common.ratelimit import RateLimiter
from mediagw.common.settings import load_settings
from mediagw.common.storage import open_stores, storage_checks
from mediagw.common.tokens import Authenticator, TokenCodec

SERVICE = "auth"


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    settings = settings or load_settings(AuthSettings)
    codec = TokenCodec(settings, settings.jwt_private_key_file)
    passwords = Passwords(
        settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            pool, redis = await open_stores(stack, settings, SERVICE, pool_size=20)
            authenticator = Authenticator(codec, redis)
            app.state.authenticator = authenticator
            app.state.auth = AuthContext(
                settings=settings,
                pool=pool,
                redis=redis,
                codec=codec,
                authenticator=authenticator,
                limiter=RateLimiter(redis),
                passwords=passwords,
                email=email_sender(settings),
                sessions=SessionStore(redis, settings.refresh_token_ttl_seconds),
            )
            yield

    def checks(app: FastAPI) -> dict[str, tuple[Check, bool]]:
        context: AuthContext = app.state.auth
        return {
            **storage_checks(context.pool, context.redis),
        }

    app = create_service_app(
        service=SERVICE,
        settings=settings,
        routers=[
            accounts.router,
            accounts.me_router,
            oauth.router,
            sessions.router,
            api_keys.router,
            mfa.router,
        ],
        lifespan=lifespan,
        checks=checks,
        description="Users, OAuth 2.0 (PKCE S256, device grant), rotating refresh tokens, "
        "sessions, TOTP MFA and API keys.",
    )
    app.add_exception_handler(OAuthError, oauth_error_handler)
    _document_hand_read_bodies(app)
    return app


OAUTH2_SCHEME = {
    "type": "oauth2",
    "description": "The OAuth 2.0 flows this service serves. Every flow ends in the same bearer "
    "access token that `HTTPBearer` describes; the scheme names the endpoints that issue it.",
    "flows": {
        "authorizationCode": {
            "authorizationUrl": "/api/v1/auth/authorize",
            "tokenUrl": "/api/v1/auth/token",
            "refreshUrl": "/api/v1/auth/token",
            "scopes": {
                "read": "Read the caller's own data",
                "write": "Change the caller's own data",
                "admin": "Operate the service (clients, ingestion)",
            },
        }
    },
}


def _document_hand_read_bodies(app: FastAPI) -> None:
    """The token and device-code endpoints read their bodies by hand (form or JSON), so FastAPI
    does not collect the models their ``openapi_extra`` refers to: add them. The OAuth 2.0
    scheme is added too: no operation is protected by it (they take the bearer token it
    issues), but it tells clients and tools which endpoint issues credentials."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        components = document.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        for model in HAND_READ_BODIES:
            schemas.setdefault(
                model.__name__,
                model.model_json_schema(ref_template="#/components/schemas/{model}"),
            )
        components.setdefault("securitySchemes", {}).setdefault("OAuth2", OAUTH2_SCHEME)
        return document

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the schema

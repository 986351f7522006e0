"""Everything a request handler of the auth service needs, built once per process."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis

from mediagw.auth.email import EmailSender
from mediagw.auth.passwords import Passwords
from mediagw.auth.sessions import SessionStore
from mediagw.auth.settings import AuthSettings
from mediagw.common.ratelimit import Limit, RateLimiter
from mediagw.common.storage import Pool
from mediagw.common.tokens import Authenticator, TokenCodec


@dataclass
class AuthContext:
    settings: AuthSettings
    pool: Pool
    redis: Redis
    codec: TokenCodec
    authenticator: Authenticator
    limiter: RateLimiter
    passwords: Passwords
    email: EmailSender
    sessions: SessionStore

    def limit(self, name: str) -> Limit:
        return Limit.parse(str(getattr(self.settings, f"rate_limit_{name}")))


# async: FastAPI would run a plain `def` dependency in a worker thread, a hop per request.
async def _context(request: Request) -> AuthContext:
    context: AuthContext = request.app.state.auth
    return context


Ctx = Annotated[AuthContext, Depends(_context)]


def client_ip(request: Request, settings: AuthSettings) -> str:
    if settings.trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
        try:  # the address is stored (inet) and keys rate limits: only a real address counts
            return str(ipaddress.ip_address(forwarded))
        except ValueError:
            pass
    return request.client.host if request.client else "unknown"

"""API keys at the edge: trade a key for a short-lived access token at auth, and cache it.

The cache saves a call to auth per request; it must never outlive what it stands for:

* a cached token is still checked by the gateway's authenticator on every request, which reads
  auth's revocation list (``mediagw.common.tokens``): revoking a key revokes the tokens
  exchanged from it at once, and the gateway then drops its entry (``forget``);
* entries are evicted when they expire (on every insert), so the cache cannot grow with keys
  seen once;
* auth being down is auth's failure, not the gateway's: the call goes through the same
  ``upstream.guarded`` as routed requests — timeouts 504, transport errors 502, and after a run
  of them auth's circuit breaker opens (503 with ``Retry-After``); a 5xx answer is 502. A
  non-JSON error body never becomes a 500.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import httpx

from mediagw.common.errors import ApiError
from mediagw.gateway.breaker import CircuitBreaker
from mediagw.gateway.upstream import guarded

EXCHANGE_PATH = "/api/v1/auth/api-keys/exchange"
MARGIN_SECONDS = 30
"""A cached token is used until this long before it expires."""


def _digest(api_key: str) -> str:
    """The cache holds digests, never the keys themselves."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def _error_detail(response: httpx.Response) -> dict[str, Any]:
    """The ``error`` object of auth's JSON error body, or {} for anything else."""
    try:
        body = response.json()
    except ValueError:
        return {}
    detail = body.get("error") if isinstance(body, dict) else None
    return detail if isinstance(detail, dict) else {}


class ApiKeyExchange:
    def __init__(self, client: httpx.AsyncClient, breaker: CircuitBreaker | None = None) -> None:
        self.client = client
        self.breaker = breaker
        self._cache: dict[str, tuple[str, float]] = {}

    def __len__(self) -> int:
        return len(self._cache)

    def forget(self, api_key: str) -> None:
        """Drop a key's cached token (its token was refused: revoked, or the key was)."""
        self._cache.pop(_digest(api_key), None)

    async def token(self, api_key: str) -> str:
        """An access token for ``api_key``: cached, or exchanged at auth."""
        digest = _digest(api_key)
        cached = self._cache.get(digest)
        now = time.monotonic()
        if cached and cached[1] > now:
            return cached[0]
        token, lifetime = await self._exchange(api_key)
        self._evict(now)
        self._cache[digest] = (token, now + lifetime - MARGIN_SECONDS)
        return token

    def _evict(self, now: float) -> None:
        for digest in [d for d, (_, expires) in self._cache.items() if expires <= now]:
            del self._cache[digest]

    async def _exchange(self, api_key: str) -> tuple[str, float]:
        response = await guarded(
            "auth",
            self.breaker,
            lambda: self.client.post(EXCHANGE_PATH, headers={"x-api-key": api_key}),
        )
        if response.status_code >= 500:
            raise ApiError(
                502, "upstream_error", f"auth answered {response.status_code} to an API key check"
            )
        if response.status_code != 200:
            detail = _error_detail(response)
            raise ApiError(
                response.status_code,
                str(detail.get("code", "invalid_api_key")),
                str(detail.get("message", "API key rejected")),
                field="X-API-Key",
            )
        try:
            body = response.json()
            return str(body["access_token"]), float(body["expires_in"])
        except (ValueError, KeyError, TypeError):
            raise ApiError(
                502, "upstream_error", "auth's API key exchange answered without a token"
            ) from None

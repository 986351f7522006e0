"""JWT access tokens: issue, verify, and check revocation.

Access tokens are short-lived JWTs (HS256 from ``JWT_SECRET``, or RS256/ES256 with keys from
files). Verification pins the algorithm: a token claiming ``alg=none`` or another algorithm is
rejected before its signature is looked at. Revocation is a Redis lookup of the token id, of
its refresh-token family (a reused refresh token revokes every access token of its family) and,
for a token exchanged for an API key, of that key (a revoked key's tokens die with it).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from redis.asyncio import Redis

from mediagw.common.settings import TokenSettings

REVOKED_JTI = "revoked:jti:{}"
REVOKED_FAMILY = "revoked:family:{}"
REVOKED_API_KEY = "revoked:apikey:{}"
LEEWAY_SECONDS = 5


class InvalidToken(Exception):
    """The token cannot be trusted; ``code`` says why (expired, revoked, invalid_signature …)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Principal:
    """Who is calling, as established by a verified access token."""

    user_id: str
    scopes: frozenset[str]
    jti: str
    expires_at: int
    family_id: str | None = None
    session_id: str | None = None
    client_id: str | None = None
    api_key_id: str | None = None
    claims: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def has_scopes(self, *required: str) -> bool:
        return set(required) <= self.scopes


class TokenCodec:
    """Signs and verifies access tokens with one algorithm and one key pair or secret."""

    def __init__(self, settings: TokenSettings, private_key_file: Path | None = None) -> None:
        self.algorithm = settings.jwt_algorithm
        self.issuer = settings.jwt_issuer
        self.ttl = settings.access_token_ttl_seconds
        if self.algorithm == "HS256":
            assert settings.jwt_secret is not None  # TokenSettings refuses to start without it
            secret = settings.jwt_secret.get_secret_value()
            self._signing_key: Any = secret
            self._verify_key: Any = secret
        else:
            assert settings.jwt_public_key_file is not None
            self._verify_key = settings.jwt_public_key_file.read_text()
            self._signing_key = private_key_file.read_text() if private_key_file else None
        self.key_id = f"mg-{self.algorithm.lower()}-1"

    @property
    def can_sign(self) -> bool:
        return self._signing_key is not None

    def issue(
        self,
        user_id: str,
        scopes: frozenset[str] | set[str] | tuple[str, ...],
        *,
        family_id: str | None = None,
        session_id: str | None = None,
        client_id: str | None = None,
        api_key_id: str | None = None,
        ttl: int | None = None,
    ) -> tuple[str, Principal]:
        if self._signing_key is None:
            raise RuntimeError("this service has a verification key only; it cannot sign tokens")
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": user_id,
            "scope": " ".join(sorted(scopes)),
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + (ttl or self.ttl),
            "token_family_id": family_id,
        }
        for key, value in (("sid", session_id), ("client_id", client_id), ("akid", api_key_id)):
            if value is not None:
                claims[key] = value
        token = jwt.encode(claims, self._signing_key, self.algorithm, headers={"kid": self.key_id})
        return token, self._principal(claims)

    def verify(self, token: str) -> Principal:
        """Signature, algorithm, issuer and expiry; raises InvalidToken. Not revocation."""
        try:
            claims = jwt.decode(
                token,
                self._verify_key,
                algorithms=[self.algorithm],
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "sub", "jti", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("token_expired", "the access token has expired") from None
        except jwt.InvalidAlgorithmError:
            raise InvalidToken(
                "invalid_token", f"token algorithm not accepted (only {self.algorithm})"
            ) from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("invalid_token", "token signature does not verify") from None
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken("invalid_token", f"token lacks the {exc.claim!r} claim") from None
        except jwt.InvalidTokenError as exc:
            raise InvalidToken("invalid_token", f"token is not valid: {exc}") from None
        return self._principal(claims)

    @staticmethod
    def _principal(claims: dict[str, Any]) -> Principal:
        scope = claims.get("scope", "")
        return Principal(
            user_id=str(claims["sub"]),
            scopes=frozenset(str(scope).split()) if isinstance(scope, str) else frozenset(),
            jti=str(claims["jti"]),
            expires_at=int(claims["exp"]),
            family_id=claims.get("token_family_id"),
            session_id=claims.get("sid"),
            client_id=claims.get("client_id"),
            api_key_id=claims.get("akid"),
            claims=claims,
        )

    def jwks(self) -> dict[str, Any] | None:
        """The public key set for asymmetric algorithms (None for HS256: nothing to publish)."""
        if self.algorithm == "HS256":
            return None
        algorithm = jwt.get_algorithm_by_name(self.algorithm)
        public = algorithm.prepare_key(self._verify_key)
        jwk: dict[str, Any] = algorithm.to_jwk(public, as_dict=True)
        jwk.update({"kid": self.key_id, "use": "sig", "alg": self.algorithm})
        return {"keys": [jwk]}


class Authenticator:
    """Verifies a bearer token and checks both revocation lists in one Redis round trip."""

    def __init__(self, codec: TokenCodec, redis: Redis) -> None:
        self.codec = codec
        self.redis = redis

    async def authenticate(self, token: str) -> Principal:
        principal = self.codec.verify(token)
        keys = [REVOKED_JTI.format(principal.jti)]
        if principal.family_id:
            keys.append(REVOKED_FAMILY.format(principal.family_id))
        if principal.api_key_id:
            keys.append(REVOKED_API_KEY.format(principal.api_key_id))
        if any(value is not None for value in await self.redis.mget(keys)):
            raise InvalidToken("token_revoked", "the access token has been revoked")
        return principal

    async def revoke_token(self, principal: Principal) -> None:
        remaining = max(1, principal.expires_at - int(time.time()) + LEEWAY_SECONDS)
        await self.redis.set(REVOKED_JTI.format(principal.jti), "1", ex=remaining)

    async def revoke_api_key(self, api_key_id: str, token_ttl_seconds: int) -> None:
        """Every access token exchanged for the key dies now; they live ``token_ttl_seconds``."""
        ttl = token_ttl_seconds + LEEWAY_SECONDS
        await self.redis.set(REVOKED_API_KEY.format(api_key_id), "1", ex=ttl)

    async def revoke_family(self, family_id: str) -> None:
        """Every access token of the family dies; they live at most one access TTL."""
        ttl = self.codec.ttl + LEEWAY_SECONDS
        await self.redis.set(REVOKED_FAMILY.format(family_id), "1", ex=ttl)

"""Access-token codec: round trip, pinned algorithm, expiry, issuer, and published keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import SecretStr

from mediagw.common.settings import TokenSettings
from mediagw.common.tokens import LEEWAY_SECONDS, InvalidToken, TokenCodec

pytestmark = pytest.mark.unit

SECRET = "Qm7vX2pL9sK4wT1zR8nB5yH3cF6jD0gA-uE_iO2xVq"
OTHER_SECRET = "Zt5rW8eY1uI4oP7aS0dF3gH6jK9lX2cV-bN_mQ1wEr"
ISSUER = "media-gateway"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def hs_settings(secret: str = SECRET, issuer: str = ISSUER, ttl: int = 900) -> TokenSettings:
    return TokenSettings.model_construct(
        jwt_algorithm="HS256",
        jwt_secret=SecretStr(secret),
        jwt_issuer=issuer,
        access_token_ttl_seconds=ttl,
    )


def asym_settings(algorithm: str, public_key_file: Path) -> TokenSettings:
    return TokenSettings.model_construct(
        jwt_algorithm=algorithm,
        jwt_secret=None,
        jwt_public_key_file=public_key_file,
        jwt_issuer=ISSUER,
        access_token_ttl_seconds=900,
    )


def valid_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user-1",
        "scope": "read",
        "jti": "0" * 32,
        "iat": now,
        "exp": now + 600,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def write_key_pair(directory: Path, algorithm: str) -> tuple[Path, Path]:
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if algorithm == "RS256":
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        private_key = ec.generate_private_key(ec.SECP256R1())
    private_file = directory / f"{algorithm.lower()}-private.pem"
    public_file = directory / f"{algorithm.lower()}-public.pem"
    private_file.write_bytes(
        private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public_file.write_bytes(
        private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private_file, public_file


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("jwt-keys")


@pytest.fixture(scope="module", params=["RS256", "ES256"])
def asym_keys(request: pytest.FixtureRequest, key_dir: Path) -> tuple[str, Path, Path]:
    algorithm: str = request.param
    private_file, public_file = write_key_pair(key_dir, algorithm)
    return algorithm, private_file, public_file


def assert_invalid(codec: TokenCodec, token: str, code: str = "invalid_token") -> str:
    with pytest.raises(InvalidToken) as info:
        codec.verify(token)
    assert info.value.code == code
    return info.value.message


# --- HS256 --------------------------------------------------------------------------------


def test_issue_then_verify_round_trips_every_claim() -> None:
    codec = TokenCodec(hs_settings(ttl=600))
    token, issued = codec.issue(
        "user-42",
        {"write", "read"},
        family_id="family-7",
        session_id="session-3",
        client_id="tv-app",
    )
    principal = codec.verify(token)
    assert principal == issued
    assert principal.user_id == "user-42"
    assert principal.scopes == frozenset({"read", "write"})
    assert principal.family_id == "family-7"
    assert principal.session_id == "session-3"
    assert principal.client_id == "tv-app"
    assert principal.api_key_id is None
    assert principal.has_scopes("read", "write")
    assert not principal.has_scopes("admin")
    claims = principal.claims
    assert claims["iss"] == ISSUER
    assert claims["sub"] == "user-42"
    assert claims["scope"] == "read write"
    assert claims["token_family_id"] == "family-7"
    assert claims["sid"] == "session-3"
    assert len(claims["jti"]) == 32
    assert int(claims["jti"], 16) >= 0
    assert claims["exp"] - claims["iat"] == 600
    assert abs(claims["iat"] - time.time()) < 5
    assert principal.expires_at == claims["exp"]
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "kid": "mg-hs256-1", "typ": "JWT"}


def test_each_token_gets_its_own_jti() -> None:
    codec = TokenCodec(hs_settings())
    jtis = {codec.issue("user-1", {"read"})[1].jti for _ in range(20)}
    assert len(jtis) == 20


def test_optional_claims_are_omitted_when_not_given() -> None:
    codec = TokenCodec(hs_settings())
    token, _ = codec.issue("user-1", ())
    claims = codec.verify(token).claims
    assert "sid" not in claims
    assert "client_id" not in claims
    assert "akid" not in claims
    assert claims["scope"] == ""
    assert codec.verify(token).scopes == frozenset()


def test_hs256_publishes_no_jwks() -> None:
    assert TokenCodec(hs_settings()).jwks() is None


def test_alg_none_token_is_rejected() -> None:
    codec = TokenCodec(hs_settings())
    token = f"{b64json({'alg': 'none', 'typ': 'JWT'})}.{b64json(valid_claims())}."
    message = assert_invalid(codec, token)
    assert "algorithm not accepted" in message


def test_token_signed_with_another_secret_is_rejected() -> None:
    token, _ = TokenCodec(hs_settings(OTHER_SECRET)).issue("user-1", {"read"})
    message = assert_invalid(TokenCodec(hs_settings()), token)
    assert "signature does not verify" in message


def test_expired_token_beyond_leeway_is_rejected() -> None:
    codec = TokenCodec(hs_settings())
    token, _ = codec.issue("user-1", {"read"}, ttl=-(LEEWAY_SECONDS + 30))
    message = assert_invalid(codec, token, code="token_expired")
    assert "expired" in message


def test_token_expired_within_leeway_is_still_accepted() -> None:
    codec = TokenCodec(hs_settings())
    token, _ = codec.issue("user-1", {"read"}, ttl=-1)
    assert codec.verify(token).user_id == "user-1"


def test_tampered_payload_is_rejected() -> None:
    codec = TokenCodec(hs_settings())
    token, _ = codec.issue("user-1", {"read"})
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = "read write admin"
    forged = f"{header}.{b64json(claims)}.{signature}"
    message = assert_invalid(codec, forged)
    assert "signature does not verify" in message


@pytest.mark.parametrize("claim", ["jti", "sub", "exp", "iat", "iss"])
def test_token_missing_a_required_claim_is_rejected(claim: str) -> None:
    token = jwt.encode(valid_claims(**{claim: None}), SECRET, "HS256")
    message = assert_invalid(TokenCodec(hs_settings()), token)
    assert f"lacks the '{claim}' claim" in message


def test_token_from_another_issuer_is_rejected() -> None:
    token = jwt.encode(valid_claims(iss="someone-else"), SECRET, "HS256")
    message = assert_invalid(TokenCodec(hs_settings()), token)
    assert "issuer" in message.lower()


def test_token_issued_by_a_codec_with_another_issuer_is_rejected() -> None:
    token, _ = TokenCodec(hs_settings(issuer="staging-gateway")).issue("user-1", {"read"})
    assert_invalid(TokenCodec(hs_settings()), token)


def test_garbage_is_rejected_as_invalid_token() -> None:
    assert_invalid(TokenCodec(hs_settings()), "not-a-jwt")


# --- RS256 / ES256 ------------------------------------------------------------------------


def test_asymmetric_sign_and_verify(asym_keys: tuple[str, Path, Path]) -> None:
    algorithm, private_file, public_file = asym_keys
    signer = TokenCodec(asym_settings(algorithm, public_file), private_key_file=private_file)
    token, issued = signer.issue("user-9", {"read"}, session_id="s-1")
    assert signer.can_sign
    assert signer.verify(token) == issued
    assert jwt.get_unverified_header(token)["alg"] == algorithm
    assert jwt.get_unverified_header(token)["kid"] == f"mg-{algorithm.lower()}-1"


def test_verify_only_codec_verifies_but_cannot_issue(asym_keys: tuple[str, Path, Path]) -> None:
    algorithm, private_file, public_file = asym_keys
    token, _ = TokenCodec(asym_settings(algorithm, public_file), private_file).issue(
        "user-9", {"read"}
    )
    verifier = TokenCodec(asym_settings(algorithm, public_file))
    assert not verifier.can_sign
    assert verifier.verify(token).user_id == "user-9"
    with pytest.raises(RuntimeError, match="cannot sign"):
        verifier.issue("user-9", {"read"})


def test_jwks_publishes_one_key_that_verifies_tokens(asym_keys: tuple[str, Path, Path]) -> None:
    algorithm, private_file, public_file = asym_keys
    codec = TokenCodec(asym_settings(algorithm, public_file), private_key_file=private_file)
    token, _ = codec.issue("user-9", {"read"})
    jwks = codec.jwks()
    assert jwks is not None
    assert len(jwks["keys"]) == 1
    key = jwks["keys"][0]
    assert key["kid"] == f"mg-{algorithm.lower()}-1"
    assert key["alg"] == algorithm
    assert key["use"] == "sig"
    assert key["kty"] == ("RSA" if algorithm == "RS256" else "EC")
    assert "d" not in key  # no private part published
    published = jwt.PyJWK(key)
    assert jwt.get_unverified_header(token)["kid"] == published.key_id
    claims = jwt.decode(token, published.key, algorithms=[algorithm], issuer=ISSUER)
    assert claims["sub"] == "user-9"


def test_token_from_another_key_pair_is_rejected(
    asym_keys: tuple[str, Path, Path], tmp_path: Path
) -> None:
    algorithm, _, public_file = asym_keys
    other_private, other_public = write_key_pair(tmp_path, algorithm)
    token, _ = TokenCodec(asym_settings(algorithm, other_public), other_private).issue(
        "user-1", {"read"}
    )
    message = assert_invalid(TokenCodec(asym_settings(algorithm, public_file)), token)
    assert "signature does not verify" in message


def test_hs256_token_signed_with_the_public_key_is_rejected(
    asym_keys: tuple[str, Path, Path],
) -> None:
    """Algorithm confusion: the public key (which anyone has) used as an HMAC secret."""
    algorithm, _, public_file = asym_keys
    signing_input = f"{b64json({'alg': 'HS256', 'typ': 'JWT'})}.{b64json(valid_claims())}"
    signature = hmac.new(public_file.read_bytes(), signing_input.encode(), hashlib.sha256)
    token = f"{signing_input}.{b64url(signature.digest())}"
    message = assert_invalid(TokenCodec(asym_settings(algorithm, public_file)), token)
    assert f"only {algorithm}" in message


def test_asymmetric_token_is_rejected_by_an_hs256_codec(
    asym_keys: tuple[str, Path, Path],
) -> None:
    algorithm, private_file, public_file = asym_keys
    token, _ = TokenCodec(asym_settings(algorithm, public_file), private_file).issue(
        "user-1", {"read"}
    )
    message = assert_invalid(TokenCodec(hs_settings()), token)
    assert "only HS256" in message

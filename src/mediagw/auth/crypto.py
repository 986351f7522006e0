"""Random tokens, their stored hashes, PKCE, and encryption of secrets at rest.

Every bearer secret we hand out (refresh tokens, codes, API keys, e-mail links) is random with
at least 256 bits and stored only as its SHA-256: a database leak does not leak usable tokens.
SHA-256 (not argon2) is right here because the inputs are high-entropy, not passwords.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# \Z, not $: "$" also matches before a trailing newline.
PKCE_VERIFIER = re.compile(r"\A[A-Za-z0-9\-._~]{43,128}\Z")
PKCE_CHALLENGE_PATTERN = r"^[A-Za-z0-9_-]{43}$"
PKCE_CHALLENGE = re.compile(r"\A[A-Za-z0-9_-]{43}\Z")
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # no vowels (no words), no look-alikes


def new_token(prefix: str = "") -> str:
    return f"{prefix}{secrets.token_urlsafe(32)}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def pkce_matches(verifier: str, challenge: str) -> bool:
    return bool(PKCE_VERIFIER.match(verifier)) and same(s256(verifier), challenge)


def new_user_code() -> str:
    """Eight letters for a person to type on a TV remote: ``BCDF-GHJK``."""
    letters = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
    return f"{letters[:4]}-{letters[4:]}"


def normalise_user_code(text: str) -> str:
    letters = re.sub(r"[^A-Za-z]", "", text).upper()
    return f"{letters[:4]}-{letters[4:]}" if len(letters) == 8 else text.strip().upper()


class SecretBox:
    """Encrypts small secrets (TOTP seeds) with a key derived from the service's data key."""

    def __init__(self, key_material: str) -> None:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"mediagw-auth", info=b"secret-box-v1"
        ).derive(key_material.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise ValueError(
                "stored secret cannot be decrypted with the current data key"
            ) from None

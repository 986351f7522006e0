"""TOTP (RFC 6238) second factor with replay protection, and one-time recovery codes."""

from __future__ import annotations

import re
import secrets
import time

import pyotp

PERIOD = 30
VALID_WINDOW = 1  # accept the previous and next 30 s step for clock drift


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def matching_step(secret: str, code: str, last_used_step: int | None) -> int | None:
    """The time step ``code`` is valid for, if any and newer than the last one used."""
    if re.fullmatch(r"[0-9]{6}", code) is None:  # str.isdigit() also admits e.g. Arabic digits
        return None
    totp = pyotp.TOTP(secret)
    now_step = int(time.time()) // PERIOD
    for step in range(now_step - VALID_WINDOW, now_step + VALID_WINDOW + 1):
        if last_used_step is not None and step <= last_used_step:
            continue
        if secrets.compare_digest(totp.at(step * PERIOD), code):
            return step
    return None


def new_recovery_codes(count: int = 10) -> list[str]:
    return [f"{secrets.token_hex(4)}-{secrets.token_hex(4)}" for _ in range(count)]

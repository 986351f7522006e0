"""The fuzz suites' own authentication: tokens stay valid for a whole session of suites."""

from __future__ import annotations

import time

import jwt
import pytest

from harness.contracts.fuzzing import TOKEN_MARGIN_SECONDS, _seconds_left

pytestmark = pytest.mark.unit


def test_the_suite_reads_a_tokens_remaining_lifetime_to_sign_in_again_before_it_expires() -> None:
    """A session of suites outlives an access token (15 min); the fuzzers must not send an
    expired one and read the 401s as the server's answer."""

    def token(exp: float | None) -> str:
        claims = {"sub": "u"} if exp is None else {"sub": "u", "exp": int(exp)}
        return jwt.encode(claims, "k" * 32, algorithm="HS256")

    assert _seconds_left(token(time.time() - 5)) < TOKEN_MARGIN_SECONDS
    assert _seconds_left(token(time.time() + 30)) < TOKEN_MARGIN_SECONDS
    assert _seconds_left(token(time.time() + 900)) > 800
    assert _seconds_left(token(None)) == float("inf")
    assert _seconds_left("not-a-jwt") == 0.0

"""Password policy and argon2id hashing; TOTP steps with replay protection; recovery codes."""

from __future__ import annotations

import asyncio
import re
from types import SimpleNamespace

import pyotp
import pytest

from mediagw.auth import totp
from mediagw.auth.passwords import MAX_LENGTH, MIN_LENGTH, Passwords, password_problem

pytestmark = pytest.mark.unit

# Small argon2 parameters keep the tests fast; production defaults are set by AuthSettings.
FAST = {"time_cost": 1, "memory_kib": 8, "parallelism": 1}
GOOD_PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def passwords() -> Passwords:
    return Passwords(**FAST)


# --- policy -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "accepted"),
    [(0, False), (MIN_LENGTH - 1, False), (MIN_LENGTH, True), (MAX_LENGTH, True),
     (MAX_LENGTH + 1, False)],
)  # fmt: skip
def test_password_length_bounds(length: int, accepted: bool) -> None:
    password = ("Tr0ub4dor&3xq" * 20)[:length]
    problem = password_problem(password)
    if accepted:
        assert problem is None
    else:
        assert problem == f"must be {MIN_LENGTH} to {MAX_LENGTH} characters"


@pytest.mark.parametrize("common", ["password123", "Password123", "QWERTYUIOP", "welcome123"])
def test_common_password_is_refused(common: str) -> None:
    assert password_problem(common) == "is too easy to guess"


@pytest.mark.parametrize("dull", ["aaaaaaaaaaaa", "abababababab", "abcabcabcabc"])
def test_low_variety_password_is_refused(dull: str) -> None:
    assert password_problem(dull) == "is too easy to guess"


@pytest.mark.parametrize("control", ["\x00", "\n", "\t", "\x1b", "\x7f"])
def test_password_with_control_characters_is_refused(control: str) -> None:
    assert password_problem(f"good{control}password") == "must not contain control characters"


def test_reasonable_passwords_are_accepted() -> None:
    assert password_problem(GOOD_PASSWORD) is None
    assert password_problem("Ünïcödé-pässwörd") is None


# --- hashing ------------------------------------------------------------------------------


def test_hash_then_verify(passwords: Passwords) -> None:
    stored = asyncio.run(passwords.hash(GOOD_PASSWORD))
    assert stored.startswith("$argon2id$")
    assert GOOD_PASSWORD not in stored
    assert asyncio.run(passwords.verify(stored, GOOD_PASSWORD)) is True


def test_wrong_password_does_not_verify(passwords: Passwords) -> None:
    stored = asyncio.run(passwords.hash(GOOD_PASSWORD))
    assert asyncio.run(passwords.verify(stored, GOOD_PASSWORD + "!")) is False


def test_hashes_are_salted(passwords: Passwords) -> None:
    first = asyncio.run(passwords.hash(GOOD_PASSWORD))
    second = asyncio.run(passwords.hash(GOOD_PASSWORD))
    assert first != second


def test_absent_user_never_verifies(passwords: Passwords) -> None:
    assert asyncio.run(passwords.verify(None, GOOD_PASSWORD)) is False
    # Not even with the decoy's own password.
    assert asyncio.run(passwords.verify(None, "decoy password for absent users")) is False


def test_empty_stored_hash_never_verifies(passwords: Passwords) -> None:
    assert asyncio.run(passwords.verify("", "decoy password for absent users")) is False


@pytest.mark.parametrize("stored", ["not-a-hash", "$argon2id$v=19$m=8,t=1,p=1$broken"])
def test_malformed_stored_hash_does_not_verify(passwords: Passwords, stored: str) -> None:
    assert asyncio.run(passwords.verify(stored, GOOD_PASSWORD)) is False


def test_needs_rehash_only_when_parameters_change(passwords: Passwords) -> None:
    stored = asyncio.run(passwords.hash(GOOD_PASSWORD))
    assert passwords.needs_rehash(stored) is False
    assert Passwords(**FAST).needs_rehash(stored) is False
    assert Passwords(**{**FAST, "time_cost": 2}).needs_rehash(stored) is True
    assert Passwords(**{**FAST, "memory_kib": 16}).needs_rehash(stored) is True


# --- TOTP ---------------------------------------------------------------------------------

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NOW = 1_700_000_015  # 5 s into its 30 s step
NOW_STEP = NOW // totp.PERIOD


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(totp, "time", SimpleNamespace(time=lambda: float(NOW)))


def code_at(offset: int) -> str:
    return pyotp.TOTP(SECRET).at((NOW_STEP + offset) * totp.PERIOD)


def test_codes_of_neighbouring_steps_differ() -> None:
    """Guard for the tests below: each step's code is distinct for this secret and time."""
    assert len({code_at(offset) for offset in range(-3, 4)}) == 7


@pytest.mark.usefixtures("frozen_clock")
@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_code_of_current_or_adjacent_step_is_accepted(offset: int) -> None:
    assert totp.matching_step(SECRET, code_at(offset), None) == NOW_STEP + offset


@pytest.mark.usefixtures("frozen_clock")
@pytest.mark.parametrize("offset", [-3, -2, 2, 3])
def test_code_two_or_more_steps_away_is_refused(offset: int) -> None:
    assert totp.matching_step(SECRET, code_at(offset), None) is None


@pytest.mark.usefixtures("frozen_clock")
def test_code_matches_the_real_pyotp_now() -> None:
    assert totp.matching_step(SECRET, pyotp.TOTP(SECRET).at(NOW), None) == NOW_STEP


@pytest.mark.usefixtures("frozen_clock")
def test_used_step_cannot_be_replayed() -> None:
    step = totp.matching_step(SECRET, code_at(0), None)
    assert step == NOW_STEP
    assert totp.matching_step(SECRET, code_at(0), step) is None
    assert totp.matching_step(SECRET, code_at(-1), step) is None


@pytest.mark.usefixtures("frozen_clock")
def test_code_newer_than_the_last_used_step_is_accepted() -> None:
    assert totp.matching_step(SECRET, code_at(1), NOW_STEP) == NOW_STEP + 1
    assert totp.matching_step(SECRET, code_at(0), NOW_STEP - 1) == NOW_STEP


@pytest.mark.usefixtures("frozen_clock")
@pytest.mark.parametrize(
    "mangle",
    [
        lambda code: code[:5],
        lambda code: code + "0",
        lambda code: code[:5] + "a",
        lambda code: f" {code[:5]}",
        lambda code: code[:3] + "-" + code[3:5],
        lambda code: "",
    ],
    ids=["five-digits", "seven-digits", "letter", "space", "dash", "empty"],
)
def test_malformed_code_is_refused(mangle: object) -> None:
    assert callable(mangle)
    assert totp.matching_step(SECRET, mangle(code_at(0)), None) is None


@pytest.mark.usefixtures("frozen_clock")
@pytest.mark.parametrize("code", ["١٢٣٤٥٦", "²²²²²²"], ids=["arabic-indic", "superscript"])
def test_non_ascii_digits_are_refused(code: str) -> None:
    assert totp.matching_step(SECRET, code, None) is None


def test_new_secret_is_usable_base32() -> None:
    secret = totp.new_secret()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert len(pyotp.TOTP(secret).now()) == 6


def test_provisioning_uri_names_account_and_issuer() -> None:
    uri = totp.provisioning_uri(SECRET, "ana@example.org", "Media Gateway")
    assert uri.startswith("otpauth://totp/Media%20Gateway:ana%40example.org?")
    assert f"secret={SECRET}" in uri
    assert "issuer=Media%20Gateway" in uri


# --- recovery codes -----------------------------------------------------------------------


def test_recovery_codes_are_unique_and_well_formed() -> None:
    codes = totp.new_recovery_codes()
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{8}", code) for code in codes), codes


def test_recovery_code_count_is_honoured_and_sets_differ() -> None:
    assert len(totp.new_recovery_codes(3)) == 3
    assert set(totp.new_recovery_codes()).isdisjoint(totp.new_recovery_codes())

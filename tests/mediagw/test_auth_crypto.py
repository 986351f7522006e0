"""Auth crypto helpers: PKCE S256, user codes, token hashes and the secret box."""

from __future__ import annotations

import re

import pytest

from mediagw.auth.crypto import (
    PKCE_CHALLENGE,
    USER_CODE_ALPHABET,
    SecretBox,
    new_token,
    new_user_code,
    normalise_user_code,
    pkce_matches,
    s256,
    same,
    token_hash,
)

pytestmark = pytest.mark.unit

# RFC 7636, Appendix B.
RFC_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
RFC_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
USER_CODE = re.compile(rf"^[{USER_CODE_ALPHABET}]{{4}}-[{USER_CODE_ALPHABET}]{{4}}$")


# --- PKCE ---------------------------------------------------------------------------------


def test_s256_matches_the_rfc_7636_vector() -> None:
    assert s256(RFC_VERIFIER) == RFC_CHALLENGE
    assert PKCE_CHALLENGE.match(RFC_CHALLENGE)


def test_pkce_accepts_the_rfc_pair() -> None:
    assert pkce_matches(RFC_VERIFIER, RFC_CHALLENGE)


def test_pkce_refuses_another_verifier() -> None:
    other = RFC_VERIFIER[:-1] + "Y"
    assert not pkce_matches(other, RFC_CHALLENGE)


def test_pkce_refuses_the_challenge_used_as_verifier() -> None:
    """The ``plain`` method is not supported: the challenge itself is no verifier."""
    assert not pkce_matches(RFC_CHALLENGE, RFC_CHALLENGE)


@pytest.mark.parametrize(
    ("length", "accepted"), [(42, False), (43, True), (128, True), (129, False)]
)
def test_pkce_verifier_length_bounds(length: int, accepted: bool) -> None:
    verifier = ("Ab0-._~" * 20)[:length]
    assert len(verifier) == length
    assert pkce_matches(verifier, s256(verifier)) is accepted


@pytest.mark.parametrize(
    "verifier",
    [
        "a" * 42 + "+",
        "a" * 42 + "/",
        "a" * 42 + "=",
        "a" * 42 + " ",
        "a" * 42 + "é",
        "a" * 21 + "%20" + "a" * 21,
    ],
)
def test_pkce_verifier_outside_the_unreserved_charset_is_refused(verifier: str) -> None:
    challenge = s256(verifier) if verifier.isascii() else RFC_CHALLENGE
    assert not pkce_matches(verifier, challenge)


@pytest.mark.parametrize("verifier", ["a" * 43 + "\n", "a" * 128 + "\n"])
def test_pkce_verifier_with_a_trailing_newline_is_refused(verifier: str) -> None:
    assert not pkce_matches(verifier, s256(verifier))


def test_pkce_challenge_with_a_trailing_newline_is_refused() -> None:
    assert PKCE_CHALLENGE.match(RFC_CHALLENGE + "\n") is None


def test_same_compares_whole_strings() -> None:
    assert same("abc", "abc")
    assert not same("abc", "abd")
    assert not same("abc", "abcd")


# --- user codes ---------------------------------------------------------------------------


def test_new_user_codes_are_well_formed_and_vary() -> None:
    codes = [new_user_code() for _ in range(50)]
    assert all(USER_CODE.match(code) for code in codes), codes
    assert len(set(codes)) > 45


def test_user_code_alphabet_has_no_vowels_or_look_alikes() -> None:
    assert not set(USER_CODE_ALPHABET) & set("AEIOUY01")
    assert len(set(USER_CODE_ALPHABET)) == len(USER_CODE_ALPHABET) == 20


@pytest.mark.parametrize(
    "typed", ["bcdf ghjk", "BCDF-GHJK", "bcdfghjk", " bcdf-ghjk ", "Bc-Df-Gh-Jk", "bcdf_ghjk"]
)
def test_typed_user_code_is_normalised(typed: str) -> None:
    assert normalise_user_code(typed) == "BCDF-GHJK"


@pytest.mark.parametrize(("typed", "expected"), [("bcd ghjk", "BCD GHJK"), (" abc ", "ABC")])
def test_user_code_of_the_wrong_length_is_only_trimmed_and_upper_cased(
    typed: str, expected: str
) -> None:
    assert normalise_user_code(typed) == expected


def test_generated_user_code_survives_normalisation() -> None:
    code = new_user_code()
    assert normalise_user_code(code.lower().replace("-", " ")) == code


# --- tokens and their hashes --------------------------------------------------------------


def test_token_hash_is_hex_sha256() -> None:
    assert token_hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_token_hash_differs_per_token_and_is_stable() -> None:
    token = new_token()
    assert token_hash(token) == token_hash(token)
    assert token_hash(token) != token_hash(token + "x")
    assert re.fullmatch(r"[0-9a-f]{64}", token_hash(token))


def test_new_tokens_carry_their_prefix_and_256_bits() -> None:
    tokens = {new_token("mgr_") for _ in range(20)}
    assert len(tokens) == 20
    for token in tokens:
        assert token.startswith("mgr_")
        assert re.fullmatch(r"mgr_[A-Za-z0-9_-]{43}", token)


# --- SecretBox ----------------------------------------------------------------------------


def test_secret_box_round_trip() -> None:
    box = SecretBox("data-key-material-for-tests")
    sealed = box.seal("JBSWY3DPEHPK3PXP")
    assert "JBSWY3DPEHPK3PXP" not in sealed
    assert box.open(sealed) == "JBSWY3DPEHPK3PXP"


def test_secret_box_seals_differently_each_time() -> None:
    box = SecretBox("data-key-material-for-tests")
    first, second = box.seal("same"), box.seal("same")
    assert first != second
    assert box.open(first) == box.open(second) == "same"


def test_same_key_material_opens_across_instances() -> None:
    sealed = SecretBox("data-key-material-for-tests").seal("seed")
    assert SecretBox("data-key-material-for-tests").open(sealed) == "seed"


def test_secret_box_refuses_another_key() -> None:
    sealed = SecretBox("data-key-material-for-tests").seal("seed")
    with pytest.raises(ValueError, match="cannot be decrypted with the current data key"):
        SecretBox("another-key-material").open(sealed)


def test_secret_box_refuses_a_tampered_box() -> None:
    box = SecretBox("data-key-material-for-tests")
    sealed = box.seal("seed")
    tampered = sealed[:-6] + ("A" if sealed[-6] != "A" else "B") + sealed[-5:]
    with pytest.raises(ValueError, match="cannot be decrypted"):
        box.open(tampered)

"""Start-up configuration: every refusal names the variable to fix; no guessable JWT secret."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from mediagw.auth.settings import AuthSettings
from mediagw.common.settings import ConfigError, TokenSettings, load_settings
from mediagw.gateway.settings import GatewaySettings

pytestmark = pytest.mark.unit

STRONG_SECRET = "k7F2pQ9xLm4R8sTv1WbZ6nYc3HdJ0gUe5AoKqXiVr-Mh"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from an environment with no MG_* variable and no JWT_SECRET."""
    for name in list(os.environ):
        if name.upper().startswith("MG_") or name.upper() == "JWT_SECRET":
            monkeypatch.delenv(name)


def refusal(model: type[TokenSettings]) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(model)
    # An ordinary exception: a caller's `except Exception` around a factory must see it.
    assert isinstance(info.value, Exception)
    assert not isinstance(info.value, SystemExit)
    return str(info.value)


def set_auth_basics(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JWT_SECRET", STRONG_SECRET)
    monkeypatch.setenv("MG_POSTGRES_URL", "postgresql://mg@127.0.0.1:5432/mg")
    monkeypatch.setenv("MG_REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("MG_ENV", "test")
    monkeypatch.setenv("MG_EMAIL_OUTBOX_DIR", str(tmp_path / "outbox"))


# --- JWT_SECRET ---------------------------------------------------------------------------


def test_unset_jwt_secret_is_refused_naming_it() -> None:
    message = refusal(TokenSettings)
    assert message.startswith("configuration error:")
    assert "JWT_SECRET: must be set" in message


def test_short_jwt_secret_is_refused_with_its_length(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", "Zq3v8Lp1Xw7Rt5Ny2Km9")  # 20 bytes, good variety
    message = refusal(TokenSettings)
    assert "JWT_SECRET" in message
    assert "is 20 bytes; at least 32 are required" in message


@pytest.mark.parametrize(
    "weak", ["secret", "changeme", "your-256-bit-secret", "CHANGEME", "x-changeme-" + "q" * 40]
)
def test_known_weak_jwt_secret_is_refused(monkeypatch: pytest.MonkeyPatch, weak: str) -> None:
    monkeypatch.setenv("JWT_SECRET", weak)
    message = refusal(TokenSettings)
    assert "JWT_SECRET" in message
    assert "well-known placeholder" in message


@pytest.mark.parametrize(
    "dull",
    ["a" * 64, "ab" * 32, "abc" * 22, "0123" * 16, "abcdefghijklmnopqrstuvwxyz012345"],
)
def test_low_variety_jwt_secret_is_refused(monkeypatch: pytest.MonkeyPatch, dull: str) -> None:
    monkeypatch.setenv("JWT_SECRET", dull)
    message = refusal(TokenSettings)
    assert "JWT_SECRET" in message
    assert any(reason in message for reason in ("too little variety", "repetitive", "consecutive"))


def test_strong_jwt_secret_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", STRONG_SECRET)
    settings = load_settings(TokenSettings)
    assert settings.jwt_secret is not None
    assert settings.jwt_secret.get_secret_value() == STRONG_SECRET
    assert settings.env == "production"
    assert STRONG_SECRET not in repr(settings)


@pytest.mark.parametrize(
    "env",
    [
        {"MG_ENV": "development"},
        {"MG_ALLOW_INSECURE_DEV_SECRET": "1"},
        {"MG_ENV": "test", "MG_ALLOW_INSECURE_DEV_SECRET": "1"},
        {"MG_ENV": "production", "MG_ALLOW_INSECURE_DEV_SECRET": "1"},
    ],
)
def test_dev_override_needs_both_variables(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    message = refusal(TokenSettings)
    assert "JWT_SECRET: must be set" in message
    assert "MG_ALLOW_INSECURE_DEV_SECRET=1" in message  # the refusal says how to opt in


def test_dev_override_generates_a_random_secret_and_warns(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MG_ENV", "development")
    monkeypatch.setenv("MG_ALLOW_INSECURE_DEV_SECRET", "1")
    with caplog.at_level(logging.WARNING, logger="mediagw.settings"):
        first = load_settings(TokenSettings)
        second = load_settings(TokenSettings)
    assert first.jwt_secret is not None
    assert second.jwt_secret is not None
    generated = first.jwt_secret.get_secret_value()
    assert len(generated.encode()) >= 32
    assert generated != second.jwt_secret.get_secret_value()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert all("INSECURE" in r.getMessage() for r in warnings)
    assert "unset" in warnings[0].getMessage()


def test_dev_override_keeps_a_weak_secret_but_warns(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MG_ENV", "development")
    monkeypatch.setenv("MG_ALLOW_INSECURE_DEV_SECRET", "1")
    monkeypatch.setenv("JWT_SECRET", "changeme")
    with caplog.at_level(logging.WARNING, logger="mediagw.settings"):
        settings = load_settings(TokenSettings)
    assert settings.jwt_secret is not None
    assert settings.jwt_secret.get_secret_value() == "changeme"
    assert any("INSECURE" in r.getMessage() for r in caplog.records)


def test_strong_secret_logs_no_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("JWT_SECRET", STRONG_SECRET)
    with caplog.at_level(logging.WARNING, logger="mediagw.settings"):
        load_settings(TokenSettings)
    assert not [r for r in caplog.records if "INSECURE" in r.getMessage()]


# --- asymmetric keys ----------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_asymmetric_without_public_key_file_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, algorithm: str
) -> None:
    monkeypatch.setenv("MG_JWT_ALGORITHM", algorithm)
    message = refusal(TokenSettings)
    assert f"MG_JWT_PUBLIC_KEY_FILE: required when MG_JWT_ALGORITHM={algorithm}" in message
    assert "JWT_SECRET" not in message  # no shared secret is needed for asymmetric keys


def test_asymmetric_with_missing_public_key_file_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MG_JWT_ALGORITHM", "RS256")
    monkeypatch.setenv("MG_JWT_PUBLIC_KEY_FILE", str(tmp_path / "absent.pem"))
    message = refusal(TokenSettings)
    assert "MG_JWT_PUBLIC_KEY_FILE" in message
    assert "absent.pem is not a readable file" in message


def test_asymmetric_with_public_key_file_is_accepted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    public = tmp_path / "public.pem"
    public.write_text("-----BEGIN PUBLIC KEY-----\n")
    monkeypatch.setenv("MG_JWT_ALGORITHM", "RS256")
    monkeypatch.setenv("MG_JWT_PUBLIC_KEY_FILE", str(public))
    settings = load_settings(TokenSettings)
    assert settings.jwt_algorithm == "RS256"
    assert settings.jwt_public_key_file == public


def test_unknown_algorithm_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", STRONG_SECRET)
    monkeypatch.setenv("MG_JWT_ALGORITHM", "none")
    message = refusal(TokenSettings)
    assert "MG_JWT_ALGORITHM:" in message


# --- auth service -------------------------------------------------------------------------


def test_auth_settings_load_with_a_file_outbox_outside_production(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    set_auth_basics(monkeypatch, tmp_path)
    settings = load_settings(AuthSettings)
    assert settings.email_outbox_dir == tmp_path / "outbox"
    assert settings.smtp_url is None


def test_auth_without_smtp_or_outbox_is_refused_naming_smtp_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    set_auth_basics(monkeypatch, tmp_path)
    monkeypatch.delenv("MG_EMAIL_OUTBOX_DIR")
    message = refusal(AuthSettings)
    assert "MG_SMTP_URL: required to send e-mail" in message
    assert "MG_EMAIL_OUTBOX_DIR" in message


def test_production_without_smtp_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    set_auth_basics(monkeypatch, tmp_path)
    monkeypatch.setenv("MG_ENV", "production")
    message = refusal(AuthSettings)
    assert "MG_SMTP_URL: required in production" in message


def test_production_with_smtp_is_accepted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    set_auth_basics(monkeypatch, tmp_path)
    monkeypatch.setenv("MG_ENV", "production")
    monkeypatch.setenv("MG_SMTP_URL", "smtps://mailer:pw@mail.example.org:465")
    settings = load_settings(AuthSettings)
    assert settings.smtp_url == "smtps://mailer:pw@mail.example.org:465"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MG_POSTGRES_URL", "mysql://mg@127.0.0.1/mg"),
        ("MG_POSTGRES_URL", "http://127.0.0.1:5432/mg"),
        ("MG_REDIS_URL", "http://127.0.0.1:6379"),
        ("MG_SMTP_URL", "http://mail.example.org"),
        ("MG_PUBLIC_URL", "ftp://media.example.org"),
    ],
)
def test_bad_url_scheme_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str
) -> None:
    set_auth_basics(monkeypatch, tmp_path)
    monkeypatch.setenv(variable, value)
    message = refusal(AuthSettings)
    assert f"{variable}: String should match pattern" in message


def test_missing_database_url_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    set_auth_basics(monkeypatch, tmp_path)
    monkeypatch.delenv("MG_POSTGRES_URL")
    message = refusal(AuthSettings)
    assert "MG_POSTGRES_URL: Field required" in message


def test_several_field_problems_are_all_listed_in_one_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MG_POSTGRES_URL", "mysql://nope")
    monkeypatch.setenv("MG_MAX_BODY_BYTES", "10")
    monkeypatch.setenv("MG_LOG_LEVEL", "LOUD")
    message = refusal(AuthSettings)
    for variable in (
        "JWT_SECRET",
        "MG_POSTGRES_URL",
        "MG_REDIS_URL",
        "MG_MAX_BODY_BYTES",
        "MG_LOG_LEVEL",
    ):
        assert f"{variable}:" in message, variable
    assert message.count("; ") == 4
    assert "\n" not in message


def test_several_auth_service_problems_are_all_listed_in_one_message(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    public = tmp_path / "public.pem"
    public.write_text("-----BEGIN PUBLIC KEY-----\n")
    monkeypatch.setenv("MG_POSTGRES_URL", "postgresql://mg@127.0.0.1:5432/mg")
    monkeypatch.setenv("MG_REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("MG_JWT_ALGORITHM", "RS256")
    monkeypatch.setenv("MG_JWT_PUBLIC_KEY_FILE", str(public))
    message = refusal(AuthSettings)
    for variable in ("MG_JWT_PRIVATE_KEY_FILE", "MG_DATA_KEY", "MG_SMTP_URL"):
        assert variable in message, variable


def test_auth_with_asymmetric_keys_needs_the_private_key_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    set_auth_basics(monkeypatch, tmp_path)
    public = tmp_path / "public.pem"
    public.write_text("-----BEGIN PUBLIC KEY-----\n")
    monkeypatch.delenv("JWT_SECRET")
    monkeypatch.setenv("MG_JWT_ALGORITHM", "ES256")
    monkeypatch.setenv("MG_JWT_PUBLIC_KEY_FILE", str(public))
    message = refusal(AuthSettings)
    assert "MG_JWT_PRIVATE_KEY_FILE:" in message


# --- gateway ------------------------------------------------------------------------------


def set_gateway_basics(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", STRONG_SECRET)
    monkeypatch.setenv("MG_REDIS_URL", "redis://127.0.0.1:6379/0")


def test_gateway_all_in_one_needs_no_upstreams(monkeypatch: pytest.MonkeyPatch) -> None:
    set_gateway_basics(monkeypatch)
    settings = load_settings(GatewaySettings)
    assert settings.gateway_mode == "all-in-one"
    assert settings.upstream_urls() == {}


def test_gateway_per_service_without_upstreams_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_gateway_basics(monkeypatch)
    monkeypatch.setenv("MG_GATEWAY_MODE", "per-service")
    message = refusal(GatewaySettings)
    assert "MG_AUTH_URL: per-service mode needs at least one upstream URL" in message


def test_gateway_per_service_with_upstreams_strips_trailing_slashes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_gateway_basics(monkeypatch)
    monkeypatch.setenv("MG_GATEWAY_MODE", "per-service")
    monkeypatch.setenv("MG_AUTH_URL", "http://127.0.0.1:8084/")
    monkeypatch.setenv("MG_DISCOVERY_URL", "http://127.0.0.1:8081")
    settings = load_settings(GatewaySettings)
    assert settings.upstream_urls() == {
        "auth": "http://127.0.0.1:8084",
        "discovery": "http://127.0.0.1:8081",
    }


def test_gateway_bad_upstream_scheme_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    set_gateway_basics(monkeypatch)
    monkeypatch.setenv("MG_GATEWAY_MODE", "per-service")
    monkeypatch.setenv("MG_SONA_URL", "tcp://127.0.0.1:8082")
    message = refusal(GatewaySettings)
    assert "MG_SONA_URL: String should match pattern" in message

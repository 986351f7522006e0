"""Auth service configuration (``MG_*`` variables plus ``JWT_SECRET``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from mediagw.common.settings import TokenSettings

DEFAULT_SCOPES = ("read", "write")
ADMIN_SCOPE = "admin"
KNOWN_SCOPES = frozenset({*DEFAULT_SCOPES, ADMIN_SCOPE})


class AuthSettings(TokenSettings):
    postgres_url: str = Field(pattern=r"^postgres(ql)?://")
    redis_url: str = Field(pattern=r"^(redis|rediss|unix)://")
    public_url: str = Field("http://127.0.0.1:8080", pattern=r"^https?://")
    """Base URL users see: links in e-mails and the device-flow verification URI."""

    refresh_token_ttl_seconds: int = Field(30 * 86_400, ge=300)
    authorization_code_ttl_seconds: int = Field(60, ge=10, le=600)
    device_code_ttl_seconds: int = Field(600, ge=60, le=3600)
    device_code_interval_seconds: int = Field(5, ge=1, le=60)
    email_verification_ttl_seconds: int = Field(86_400, ge=300)
    password_reset_ttl_seconds: int = Field(3600, ge=300)
    mfa_challenge_ttl_seconds: int = Field(300, ge=30)
    require_verified_email: bool = True
    admin_emails: str = ""
    """Comma-separated addresses that receive the admin role when they verify their e-mail."""

    smtp_url: str | None = Field(None, pattern=r"^smtps?://")
    email_outbox_dir: Path | None = None
    email_from: str = "Media Gateway <no-reply@media-gateway.invalid>"

    argon2_time_cost: int = Field(2, ge=1, le=10)
    argon2_memory_kib: int = Field(19_456, ge=7_168, le=1_048_576)
    argon2_parallelism: int = Field(1, ge=1, le=16)

    rate_limit_login: str = Field("10/60", pattern=r"^\d+/\d+$")
    rate_limit_register: str = Field("20/60", pattern=r"^\d+/\d+$")
    rate_limit_token: str = Field("60/60", pattern=r"^\d+/\d+$")
    rate_limit_password_reset: str = Field("5/300", pattern=r"^\d+/\d+$")

    data_key: SecretStr | None = None
    """Key for secrets at rest (TOTP seeds). Derived from JWT_SECRET when unset and HS256."""

    @model_validator(mode="after")
    def _check_auth(self) -> AuthSettings:
        problems = []
        if self.jwt_algorithm != "HS256":
            if self.jwt_private_key_file is None or not self.jwt_private_key_file.is_file():
                problems.append(
                    "MG_JWT_PRIVATE_KEY_FILE: the auth service signs tokens and needs the "
                    f"private key file when MG_JWT_ALGORITHM={self.jwt_algorithm}"
                )
            if self.data_key is None:
                problems.append(
                    "MG_DATA_KEY: required with asymmetric JWT keys (encrypts TOTP secrets)"
                )
        if self.smtp_url is None and self.email_outbox_dir is None:
            problems.append(
                "MG_SMTP_URL: required to send e-mail (or MG_EMAIL_OUTBOX_DIR to write e-mails "
                "to files, outside production)"
            )
        elif self.smtp_url is None and self.env == "production":
            problems.append("MG_SMTP_URL: required in production; the file outbox is for dev/test")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def admin_email_set(self) -> frozenset[str]:
        return frozenset(e.strip().lower() for e in self.admin_emails.split(",") if e.strip())

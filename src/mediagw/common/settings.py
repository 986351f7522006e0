"""Validated configuration from the environment, failing fast with the variable named.

Each service has one settings class (a subclass of :class:`ServiceSettings`) and loads it once
at start-up with :func:`load_settings`. A bad or missing value stops the process with one line
per problem, each naming the environment variable to fix, never a traceback.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
import secrets
import zlib
from collections import Counter
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger("mediagw.settings")

MIN_SECRET_BYTES = 32
KNOWN_WEAK_SECRETS = frozenset(
    {
        "secret",
        "changeme",
        "change-me",
        "changeit",
        "password",
        "jwt_secret",
        "jwt-secret",
        "your-256-bit-secret",
        "your-secret-key",
        "supersecret",
        "development",
        "default",
        "test",
        "media-gateway",
    }
)


class ConfigError(ValueError):
    """Start-up refused: the message lists each bad variable. An ordinary exception (not a
    ``SystemExit``), so an ``except Exception`` around an app factory sees it; ``mediagw serve``
    prints it and exits 2."""

    def __init__(self, message: str) -> None:
        super().__init__(f"configuration error: {message}")


def _looks_weak(secret: str) -> str | None:
    """Why ``secret`` is unsafe for signing tokens, or None when it is acceptable."""
    if secret.strip().lower() in KNOWN_WEAK_SECRETS or any(
        weak in secret.lower() for weak in ("changeme", "your-256-bit", "secret123")
    ):
        return "is a well-known placeholder value"
    if len(secret.encode()) < MIN_SECRET_BYTES:
        return f"is {len(secret.encode())} bytes; at least {MIN_SECRET_BYTES} are required"
    if len(zlib.compress(secret.encode(), 9)) < len(secret.encode()) // 2:
        return "is repetitive (it compresses to less than half its size)"
    steps = sum(1 for a, b in itertools.pairwise(secret) if abs(ord(b) - ord(a)) == 1)
    if steps > len(secret) // 3:
        return "is a run of consecutive characters"
    counts = Counter(secret)
    entropy = -sum(n / len(secret) * math.log2(n / len(secret)) for n in counts.values())
    if entropy * len(secret) < 128:
        return "has too little variety to resist guessing (use e.g. `openssl rand -base64 48`)"
    return None


class ServiceSettings(BaseSettings):
    """Settings every service shares. Variables are ``MG_<FIELD>`` unless an alias says else."""

    model_config = SettingsConfigDict(env_prefix="MG_", extra="ignore", frozen=True)

    env: Literal["production", "staging", "development", "test"] = "production"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    cors_origins: str = ""
    """Comma-separated origins allowed by CORS; empty means no cross-origin access."""
    max_body_bytes: int = Field(1_048_576, ge=1024, le=64 * 1_048_576)
    max_header_bytes: int = Field(16_384, ge=1024, le=1_048_576)
    """All of a request's header names and values together (431 beyond it)."""
    trust_forwarded_for: bool = False
    """Take the client address from X-Forwarded-For (only behind a proxy you trust)."""
    readiness_probe_interval_s: float = Field(5.0, ge=0, le=3600)
    """Seconds between background readiness probes, published as ``dependency_up`` for
    alerting; 0 turns the background probe off (``/health/ready`` still probes on demand)."""
    inject_latency_ms: float = Field(0.0, ge=0, le=60_000)
    """Experiments only: delay added to requests whose path matches ``inject_routes``."""
    inject_error_rate: float = Field(0.0, ge=0, le=1)
    """Experiments only: share of matching requests answered 500 ``injected_fault``."""
    inject_routes: str = ""
    """A regular expression on the request path; faults apply where it matches (search)."""

    @model_validator(mode="after")
    def _faults_never_in_production(self) -> ServiceSettings:
        faults = self.inject_latency_ms > 0 or self.inject_error_rate > 0
        if faults and self.env == "production":
            raise ValueError(
                "MG_INJECT_LATENCY_MS / MG_INJECT_ERROR_RATE are for experiments: refused when "
                "MG_ENV=production"
            )
        if faults and not self.inject_routes:
            raise ValueError("MG_INJECT_ROUTES must name the paths the injected faults apply to")
        if self.inject_routes:
            try:
                re.compile(self.inject_routes)
            except re.error as exc:
                raise ValueError(f"MG_INJECT_ROUTES is not a regular expression: {exc}") from None
        return self

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]


class TokenSettings(ServiceSettings):
    """Services that issue or check JWTs. ``JWT_SECRET`` has no default, anywhere."""

    # Order matters: the JWT_SECRET check reads the fields declared before it.
    allow_insecure_dev_secret: bool = False
    jwt_algorithm: Literal["HS256", "RS256", "ES256"] = "HS256"
    jwt_secret: SecretStr | None = Field(None, validation_alias="JWT_SECRET", validate_default=True)
    jwt_private_key_file: Path | None = None
    jwt_public_key_file: Path | None = None
    jwt_issuer: str = "media-gateway"
    access_token_ttl_seconds: int = Field(900, ge=30, le=86_400)

    @field_validator("jwt_secret")
    @classmethod
    def _check_secret(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if info.data.get("jwt_algorithm", "HS256") != "HS256":
            return value
        secret = value.get_secret_value() if value else ""
        problem = "must be set" if not secret else _looks_weak(secret)
        if problem is None:
            return value
        dev_override = info.data.get("env") == "development" and info.data.get(
            "allow_insecure_dev_secret", False
        )
        if not dev_override:
            raise ValueError(
                f"{problem} — refusing to start with a guessable signing key (for local "
                "development only: MG_ENV=development and MG_ALLOW_INSECURE_DEV_SECRET=1)"
            )
        if not secret:
            value = SecretStr(secrets.token_urlsafe(48))
            problem = "is unset; using a random per-process secret (tokens die with the process)"
        log.warning(
            "!!! INSECURE: JWT_SECRET %s. Allowed only because MG_ENV=development and "
            "MG_ALLOW_INSECURE_DEV_SECRET=1. Never run like this anywhere reachable. !!!",
            problem,
        )
        return value

    @model_validator(mode="after")
    def _check_public_key(self) -> TokenSettings:
        if self.jwt_algorithm == "HS256":
            return self
        path = self.jwt_public_key_file
        if path is None:
            raise ValueError(
                f"MG_JWT_PUBLIC_KEY_FILE: required when MG_JWT_ALGORITHM={self.jwt_algorithm}"
            )
        if not path.is_file():
            raise ValueError(f"MG_JWT_PUBLIC_KEY_FILE: {path} is not a readable file")
        return self


S = TypeVar("S", bound=BaseSettings)


def _variable_for(model: type[BaseSettings], location: tuple[int | str, ...]) -> str:
    if not location:
        return "configuration"
    name = str(location[0])
    aliases = {f.validation_alias for f in model.model_fields.values()}
    if name in aliases:  # errors on an aliased field are reported under the alias
        return name
    field = model.model_fields.get(name)
    if field is not None and isinstance(field.validation_alias, str):
        return field.validation_alias
    prefix = str(model.model_config.get("env_prefix", ""))
    return f"{prefix}{name}".upper()


def load_settings(model: type[S]) -> S:
    """Read ``model`` from the environment, or raise ConfigError naming each bad variable."""
    try:
        return model()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["loc"]:
                problems.append(f"{_variable_for(model, error['loc'])}: {message}")
            else:
                problems.append(message)
        raise ConfigError("; ".join(problems)) from None

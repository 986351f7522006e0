"""Request and response bodies of the auth API: strict (unknown fields are refused), bounded,
and documented, so the OpenAPI document says exactly what is accepted."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StrictBool,
    field_validator,
    model_validator,
)

from mediagw.auth.passwords import MAX_LENGTH, MIN_LENGTH, password_problem
from mediagw.auth.settings import KNOWN_SCOPES
from mediagw.common.text import NO_CONTROL_CHARACTERS, Printable

Scope = Literal["read", "write", "admin"]
DeviceId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]
OpaqueToken = Annotated[str, Field(min_length=16, max_length=256, pattern=r"^[A-Za-z0-9_\-.~]+$")]
GRANT_DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
assert set(Scope.__args__) == KNOWN_SCOPES  # type: ignore[attr-defined]  # Literal exposes __args__ at runtime


Label = Printable
"""Free text people read (display and device names): printable characters only."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        """NUL is never meaningful in this API and PostgreSQL text cannot store it: refuse it
        as a validation error of the field instead of failing later in the database."""
        items = value if isinstance(value, list) else [value]
        if any(isinstance(item, str) and "\x00" in item for item in items):
            raise ValueError("must not contain NUL characters")
        return value


NewPassword = Annotated[
    str,
    Field(
        max_length=MAX_LENGTH,
        # Documented, not enforced by pydantic: `password_problem` checks both with its message.
        json_schema_extra={"minLength": MIN_LENGTH, "pattern": NO_CONTROL_CHARACTERS},
        description="At least 4 distinct characters, and not a commonly used password",
    ),
]
"""The policy as far as a schema can say it; ``password_problem`` checks the rest."""


def _new_password(value: str) -> str:
    problem = password_problem(value)
    if problem:
        raise ValueError(f"password {problem}")
    return value


class RegisterRequest(Strict):
    email: EmailStr = Field(max_length=320)
    password: NewPassword
    display_name: Label | None = Field(None, min_length=1, max_length=100)

    _password = field_validator("password")(_new_password)


class Accepted(Strict):
    status: Literal["accepted"] = "accepted"
    message: str


class VerifyEmailRequest(Strict):
    token: OpaqueToken


class Verified(Strict):
    email_verified: bool


class LoginRequest(Strict):
    email: EmailStr = Field(max_length=320)
    password: str = Field(min_length=1, max_length=MAX_LENGTH)
    device_id: DeviceId | None = None
    device_name: Label | None = Field(None, min_length=1, max_length=200)


class TokenResponse(Strict):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 — the OAuth token type, not a secret
    expires_in: int
    refresh_token: str
    scope: str
    session_id: str


class MfaChallenge(Strict):
    mfa_required: Literal[True] = True
    mfa_token: str
    expires_in: int


class MfaVerifyRequest(Strict):
    mfa_token: OpaqueToken
    code: str | None = Field(None, pattern=r"^[0-9]{6}$")
    recovery_code: str | None = Field(None, pattern=r"^[0-9a-f]{8}-[0-9a-f]{8}$")

    @model_validator(mode="after")
    def _one_factor(self) -> MfaVerifyRequest:
        if (self.code is None) == (self.recovery_code is None):
            raise ValueError("send exactly one of code or recovery_code")
        return self


class ForgotPasswordRequest(Strict):
    email: EmailStr = Field(max_length=320)


class ResetPasswordRequest(Strict):
    token: OpaqueToken
    new_password: NewPassword

    _password = field_validator("new_password")(_new_password)


class Me(Strict):
    id: str
    email: str
    display_name: str | None
    email_verified: bool
    roles: list[str]
    scopes: list[str]
    mfa_enabled: bool
    created_at: datetime


class SessionOut(Strict):
    id: str
    device_id: str | None
    device_name: str | None
    ip: str | None
    user_agent: str | None
    created_at: datetime
    last_seen_at: datetime
    current: bool


class SessionList(Strict):
    sessions: list[SessionOut]


class ApiKeyCreate(Strict):
    name: Label = Field(min_length=1, max_length=100)
    scopes: list[Scope] = Field(min_length=1, max_length=3)
    expires_in_days: int | None = Field(None, ge=1, le=365)


class ApiKeyOut(Strict):
    id: str
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret key. Shown once; store it now.")


class ApiKeyList(Strict):
    api_keys: list[ApiKeyOut]


class ExchangedToken(Strict):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 — the OAuth token type, not a secret
    expires_in: int
    scope: str


_CUSTOM_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:/")


def _redirect_uri_problem(uri: str) -> str | None:
    if len(uri) > 2000:
        return "is longer than 2000 characters"
    if "#" in uri:
        return "must not contain a fragment"
    if uri.startswith("https://"):
        return None
    if re.match(r"^http://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?(/|$)", uri):
        return None
    if _CUSTOM_SCHEME.match(uri):
        return None  # reverse-domain app scheme, e.g. com.example.tv:/callback
    return "must be https, http on loopback, or a reverse-domain app scheme"


class ClientCreate(Strict):
    name: Label = Field(min_length=1, max_length=200)
    redirect_uris: list[str] = Field(default_factory=list, max_length=10)
    scopes: list[Scope] = Field(min_length=1, max_length=3)
    grant_types: list[Literal["authorization_code", "refresh_token", "device_code"]] = Field(
        min_length=1, max_length=3
    )
    public: StrictBool = True  # `0`/`"yes"` are not booleans: refuse, don't coerce

    @field_validator("redirect_uris")
    @classmethod
    def _uris(cls, uris: list[str]) -> list[str]:
        for index, uri in enumerate(uris):
            problem = _redirect_uri_problem(uri)
            if problem:
                raise ValueError(f"redirect_uris[{index}] {problem}")
        return uris

    @model_validator(mode="after")
    def _code_needs_redirect(self) -> ClientCreate:
        if "authorization_code" in self.grant_types and not self.redirect_uris:
            raise ValueError("redirect_uris: required for the authorization_code grant")
        return self


class ClientCreated(Strict):
    client_id: str
    client_secret: str | None
    name: str
    redirect_uris: list[str]
    scopes: list[str]
    grant_types: list[str]
    public: bool


class DeviceCodeRequest(Strict):
    client_id: str = Field(min_length=3, max_length=128)
    scope: str | None = Field(None, max_length=200)


class DeviceCodeResponse(Strict):
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: int
    interval: int


class DeviceApproveRequest(Strict):
    user_code: str = Field(min_length=8, max_length=16)
    approve: bool = True


class DeviceApproved(Strict):
    status: Literal["approved", "denied"]


class TokenRequest(Strict):
    """The token endpoint's parameters (form-encoded per RFC 6749, or JSON)."""

    grant_type: Literal["authorization_code", "refresh_token", GRANT_DEVICE_CODE]  # type: ignore[valid-type]  # a str constant is a valid Literal value
    code: str | None = Field(None, max_length=256)
    redirect_uri: str | None = Field(None, max_length=2000)
    code_verifier: str | None = Field(None, max_length=256)
    refresh_token: str | None = Field(None, max_length=256)
    device_code: str | None = Field(None, max_length=256)
    client_id: str | None = Field(None, max_length=128)
    client_secret: str | None = Field(None, max_length=256)
    scope: str | None = Field(None, max_length=200)
    device_id: DeviceId | None = None
    device_name: Label | None = Field(None, max_length=200)


class MfaEnrollment(Strict):
    secret: str
    otpauth_uri: str


class MfaConfirmRequest(Strict):
    code: str = Field(pattern=r"^[0-9]{6}$")


class RecoveryCodes(Strict):
    recovery_codes: list[str]

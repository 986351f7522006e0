"""Request and response bodies of the auth API: strict (unknown fields are refused), bounded,
and documented, so the OpenAPI document says exactly what is accepted."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from mediagw.auth.passwords import MAX_LENGTH, MIN_LENGTH, PASSWORD_PATTERN, password_problem
from mediagw.auth.settings import KNOWN_SCOPES
from mediagw.common.text import Printable

Scope = Literal["read", "write", "admin"]
DeviceId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]
OpaqueToken = Annotated[str, Field(min_length=16, max_length=256, pattern=r"^[A-Za-z0-9_\-.~]+$")]
GRANT_DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
assert set(Scope.__args__) == KNOWN_SCOPES  # type: ignore[attr-defined]  # Literal exposes __args__ at runtime
_SCOPE_WORD = "(?:" + "|".join(sorted(KNOWN_SCOPES)) + ")"
SCOPE_PATTERN = f"^{_SCOPE_WORD}(?: {_SCOPE_WORD})*$"
"""An OAuth ``scope`` parameter: known scopes separated by single spaces (RFC 6749 §3.3)."""
NO_NUL = r"^[^\u0000]*$"


def _email(value: str) -> str:
    """Syntax only, the reserved ``.test`` and ``.example`` names included (RFC 2606: clients'
    and testers' own addresses): whether an address receives mail is what the verification
    e-mail proves, not something to guess from its name."""
    try:
        return validate_email(
            value, check_deliverability=False, globally_deliverable=False, test_environment=True
        ).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"value is not a valid email address: {exc}") from None


Email = Annotated[
    str,
    AfterValidator(_email),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": 320}),
    Field(max_length=320),
]


def _document_no_nul(schema: dict[str, Any]) -> None:
    """Every string of a strict body refuses NUL (``Strict._no_nul``): say so in the document,
    as a ``pattern`` on each string property that has no narrower rule of its own."""
    for prop in schema.get("properties", {}).values():
        for candidate in (prop, prop.get("items", {}), *prop.get("anyOf", [])):
            if candidate.get("type") == "string" and not candidate.keys() & {
                "pattern",
                "format",
                "enum",
                "const",
            }:
                candidate["pattern"] = NO_NUL


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


class StrictRequest(Strict):
    """A request body: its document states the NUL rule on every string (see ``Strict``)."""

    model_config = ConfigDict(json_schema_extra=_document_no_nul)


def _form_body_schema(schema: dict[str, Any]) -> None:
    """A body that may come form-encoded has no ``null`` (a form cannot carry one): optional
    fields are documented as their type alone, to be left out when unused."""
    for prop in schema.get("properties", {}).values():
        choices = [c for c in prop.get("anyOf", []) if c != {"type": "null"}]
        if len(choices) == 1 and len(prop["anyOf"]) == 2:
            del prop["anyOf"]
            prop.update(choices[0])
            if prop.get("default", ...) is None:
                del prop["default"]
    _document_no_nul(schema)


class FormOrJsonBody(StrictRequest):
    """Parameters read from a form (the OAuth way) or from JSON, with one meaning: an unused
    parameter is left out, and a JSON ``null`` is refused rather than read as "left out"."""

    model_config = ConfigDict(json_schema_extra=_form_body_schema)

    @field_validator("*", mode="before")
    @classmethod
    def _null_is_not_absent(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("leave the parameter out instead of sending null")
        return value


NewPassword = Annotated[
    str,
    Field(
        max_length=MAX_LENGTH,
        # Documented, not enforced by pydantic: `password_problem` checks the same expression
        # and says which part failed.
        json_schema_extra={"minLength": MIN_LENGTH, "pattern": PASSWORD_PATTERN},
        description="10 to 128 printable characters, at least 4 of them distinct, and not a "
        "commonly used password (the pattern states the whole policy)",
    ),
]
"""The password policy, stated completely by its ``pattern``."""


def _new_password(value: str) -> str:
    problem = password_problem(value)
    if problem:
        raise ValueError(f"password {problem}")
    return value


class RegisterRequest(StrictRequest):
    email: Email
    password: NewPassword
    display_name: Label | None = Field(None, min_length=1, max_length=100)

    _password = field_validator("password")(_new_password)


class Accepted(Strict):
    status: Literal["accepted"] = "accepted"
    message: str


class VerifyEmailRequest(StrictRequest):
    token: OpaqueToken


class Verified(Strict):
    email_verified: bool


class LoginRequest(StrictRequest):
    email: Email
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


def _exactly_one_factor(schema: dict[str, Any]) -> None:
    _document_no_nul(schema)
    schema["oneOf"] = [
        {"required": ["code"], "not": {"required": ["recovery_code"]}},
        {"required": ["recovery_code"], "not": {"required": ["code"]}},
    ]


class MfaVerifyRequest(StrictRequest):
    """Exactly one factor: the authenticator's code or a recovery code (``oneOf``)."""

    model_config = ConfigDict(json_schema_extra=_exactly_one_factor)

    mfa_token: OpaqueToken
    code: Annotated[str | None, WithJsonSchema({"type": "string", "pattern": r"^[0-9]{6}$"})] = (
        Field(None, pattern=r"^[0-9]{6}$")
    )
    recovery_code: Annotated[
        str | None, WithJsonSchema({"type": "string", "pattern": r"^[0-9a-f]{8}-[0-9a-f]{8}$"})
    ] = Field(None, pattern=r"^[0-9a-f]{8}-[0-9a-f]{8}$")

    @field_validator("code", "recovery_code", mode="before")
    @classmethod
    def _absent_not_null(cls, value: Any) -> Any:
        """The factor not used is left out; ``null`` is not a factor (the document's type is
        a string), so it is refused rather than read as absent."""
        if value is None:
            raise ValueError("must be a string; leave the field out instead of sending null")
        return value

    @model_validator(mode="after")
    def _one_factor(self) -> MfaVerifyRequest:
        if (self.code is None) == (self.recovery_code is None):
            raise ValueError("send exactly one of code or recovery_code")
        return self


class ForgotPasswordRequest(StrictRequest):
    email: Email


class ResetPasswordRequest(StrictRequest):
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


class ApiKeyCreate(StrictRequest):
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


REDIRECT_URI_PATTERN = (
    r"^(?:https://[^#\u0000]*"
    r"|http://(?:localhost|127\.0\.0\.1|\[::1\])(?::[0-9]+)?(?:/[^#\u0000]*)?"
    r"|[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:/[^#\u0000]*)$"
)
"""A registrable redirect URI: https, http on loopback, or a reverse-domain app scheme
(``com.example.tv:/callback``); never a fragment. The documents carry this pattern and
``_redirect_uri_problem`` checks the same one."""
_REDIRECT_URI = re.compile(REDIRECT_URI_PATTERN)
RedirectUri = Annotated[
    str, Field(max_length=2000, json_schema_extra={"pattern": REDIRECT_URI_PATTERN})
]


def _redirect_uri_problem(uri: str) -> str | None:
    if "#" in uri:
        return "must not contain a fragment"
    if not _REDIRECT_URI.fullmatch(uri):
        return "must be https, http on loopback, or a reverse-domain app scheme"
    return None


def _code_grant_needs_redirect(schema: dict[str, Any]) -> None:
    _document_no_nul(schema)
    schema["if"] = {
        "properties": {"grant_types": {"contains": {"const": "authorization_code"}}},
        "required": ["grant_types"],
    }
    schema["then"] = {
        "properties": {"redirect_uris": {"minItems": 1}},
        "required": ["redirect_uris"],
    }


class ClientCreate(StrictRequest):
    """A client that may use the authorization_code grant registers at least one redirect URI
    (``if``/``then`` in the document)."""

    model_config = ConfigDict(json_schema_extra=_code_grant_needs_redirect)

    name: Label = Field(min_length=1, max_length=200)
    redirect_uris: list[RedirectUri] = Field(default_factory=list, max_length=10)
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


class DeviceCodeRequest(FormOrJsonBody):
    client_id: str = Field(min_length=3, max_length=128)
    scope: str | None = Field(None, max_length=200, pattern=SCOPE_PATTERN)


class DeviceCodeResponse(Strict):
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: int
    interval: int


class DeviceApproveRequest(StrictRequest):
    user_code: str = Field(min_length=8, max_length=16)
    approve: bool = True


class DeviceApproved(Strict):
    status: Literal["approved", "denied"]


def _grant_parameters(schema: dict[str, Any]) -> None:
    """Each grant's own required parameters (RFC 6749 §4.1.3, §6; RFC 8628 §3.4), as
    ``if``/``then`` on ``grant_type``. ``client_id`` may come in a Basic header instead."""
    _form_body_schema(schema)
    schema["allOf"] = [
        {
            "if": {"properties": {"grant_type": {"const": grant}}, "required": ["grant_type"]},
            "then": {"required": required},
        }
        for grant, required in (
            ("authorization_code", ["code", "code_verifier"]),
            ("refresh_token", ["refresh_token"]),
            (GRANT_DEVICE_CODE, ["device_code"]),
        )
    ]


class TokenRequest(FormOrJsonBody):
    """The token endpoint's parameters (form-encoded per RFC 6749, or JSON)."""

    model_config = ConfigDict(json_schema_extra=_grant_parameters)

    grant_type: Literal["authorization_code", "refresh_token", GRANT_DEVICE_CODE]  # type: ignore[valid-type]  # a str constant is a valid Literal value
    code: str | None = Field(None, min_length=1, max_length=256)
    redirect_uri: str | None = Field(None, max_length=2000)
    code_verifier: str | None = Field(None, min_length=1, max_length=256)
    refresh_token: str | None = Field(None, min_length=1, max_length=256)
    device_code: str | None = Field(None, min_length=1, max_length=256)
    client_id: str | None = Field(None, max_length=128)
    client_secret: str | None = Field(None, max_length=256)
    scope: str | None = Field(None, max_length=200)
    device_id: DeviceId | None = None
    device_name: Label | None = Field(None, max_length=200)


class MfaEnrollment(Strict):
    secret: str
    otpauth_uri: str


class MfaConfirmRequest(StrictRequest):
    code: str = Field(pattern=r"^[0-9]{6}$")


class RecoveryCodes(Strict):
    recovery_codes: list[str]

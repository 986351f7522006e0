"""One error shape for every service: ``{"error": {code, message, field, request_id}}``.

Handlers here turn every failure — our own ApiError, FastAPI validation, Starlette's 404/405,
malformed JSON, and any unexpected exception — into that shape, so clients parse one format and
never see an HTML page or a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from mediagw.common.requestid import current_request_id

log = logging.getLogger("mediagw.errors")


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str
    message: str
    field: str | None = None
    request_id: str | None = None


class ErrorBody(BaseModel):
    """The shared error schema, referenced by every error response in the OpenAPI documents."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorDetail


class ApiError(Exception):
    """An expected failure with its HTTP status, a stable machine code and a human message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = dict(headers or {})


def error_payload(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    detail = {"code": code, "message": message, "field": field, "request_id": current_request_id()}
    return {"error": detail}


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_payload(code, message, field), status_code=status, headers=headers)


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def field_path(location: Sequence[int | str]) -> str | None:
    """``("body", "user", 0, "email")`` → ``"user[0].email"``; the source (body/query…) dropped."""
    parts = (
        list(location[1:])
        if location and location[0] in {"body", "query", "path", "header", "cookie"}
        else list(location)
    )
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    if not text and len(location) == 1 and location[0] == "body":
        return "body"  # the body as a whole is wrong (e.g. not an object)
    return text or None


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.field, exc.headers)


def validation_failed(errors: Sequence[Any]) -> ApiError:
    """The 422 for pydantic's ``errors``: the first problem, naming its field, and how many more.

    The app's handler answers FastAPI's own validation errors with it; a route that validates a
    body it read by hand (form or JSON) raises it, so both look the same to a client."""
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": "value_error"}
    field = field_path(first.get("loc", ()))
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return ApiError(422, "validation_failed", f"{field or 'request'}: {message}", field=field)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if errors and errors[0].get("type") == "json_invalid":
        return error_response(400, "malformed_json", "request body is not valid JSON", "body")
    error = validation_failed(errors)
    return error_response(error.status, error.code, error.message, error.field)


_PROBED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app answers at this path.

    Starlette raises 405 from the first route whose path matches, so its ``Allow`` lists that
    route's methods only; a path served by several routes (GET and POST on ``/api-keys``) needs
    the union. Each method is probed through the routes' public ``matches`` on a copy of the
    scope, which also sees routes nested in included routers.
    """
    routes = getattr(request.app, "routes", ())
    allowed = []
    for method in _PROBED_METHODS:
        probe = {k: dict(v) if isinstance(v, dict) else v for k, v in request.scope.items()}
        probe["method"] = method
        if any(route.matches(probe)[0] is Match.FULL for route in routes):
            allowed.append(method)
    return allowed


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    headers = dict(exc.headers or {})
    if exc.status_code == 405 and (methods := allowed_methods(request)):
        headers["Allow"] = ", ".join(methods)
    return error_response(exc.status_code, code, message, headers=headers or None)


DEPENDENCY_ERRORS: tuple[type[Exception], ...] = (
    psycopg.OperationalError,  # connection refused or lost, pool timeout, server shutting down
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)
"""A backend that cannot be reached: the request failed for want of it, not for a bug."""


def dependency_unavailable(exc: BaseException) -> ApiError | None:
    """The 503 for a backend that cannot be reached (``None`` for any other exception), with a
    retry hint: the request failed for want of the dependency, not for a bug, and nothing of it
    stayed behind (its transaction rolled back). Readiness names the dependency meanwhile."""
    if not isinstance(exc, DEPENDENCY_ERRORS):
        return None
    dependency = "postgres" if isinstance(exc, psycopg.Error) else "redis"
    log.warning("%s unavailable: %s", dependency, str(exc).splitlines()[0] if str(exc) else exc)
    return ApiError(  # which backend stays in the logs and /health/ready, not in the answer
        503,
        "dependency_unavailable",
        "a backend this request needs is unavailable; retry shortly",
        headers={"Retry-After": "1"},
    )


async def _dependency_unavailable(_: Request, exc: Exception) -> JSONResponse:
    error = dependency_unavailable(exc)
    assert error is not None, "registered for DEPENDENCY_ERRORS only"
    return error_response(error.status, error.code, error.message, error.field, error.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    if (error := dependency_unavailable(exc)) is not None:  # raised outside every route
        return error_response(error.status, error.code, error.message, error.field, error.headers)
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "an unexpected error occurred; see the logs")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for dependency_error in DEPENDENCY_ERRORS:
        app.add_exception_handler(dependency_error, _dependency_unavailable)
    app.add_exception_handler(Exception, _unexpected)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        400: "Malformed request (e.g. body is not JSON)",
        401: "Missing, invalid, expired or revoked credentials",
        403: "Authenticated but not allowed (missing scope)",
        413: "Request body larger than the limit",
        422: "A field failed validation; `error.field` names it",
        429: "Rate limited; retry after the `Retry-After` seconds",
        503: "A backend (PostgreSQL, Redis) is unavailable; retry after `Retry-After` seconds",
    }.items()
}
"""Error responses to declare on routes, so the OpenAPI documents list them with one schema."""

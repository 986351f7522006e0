"""OAuth 2.0 token-endpoint errors in the RFC 6749 §5.2 shape.

The token endpoint is the one place that answers ``{"error": "<code>", "error_description":
…}`` instead of the shared error object: OAuth client libraries parse that shape. The
``field`` and ``request_id`` members that every other error carries are kept as extensions.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from mediagw.common.requestid import current_request_id


class OAuthErrorBody(BaseModel):
    error: str
    error_description: str
    field: str | None = None
    request_id: str | None = None


class OAuthError(Exception):
    def __init__(self, error: str, description: str, field: str | None = None, status: int = 400):
        super().__init__(description)
        self.error = error
        self.description = description
        self.field = field
        self.status = 401 if error == "invalid_client" else status


async def oauth_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OAuthError)
    body = OAuthErrorBody(
        error=exc.error,
        error_description=exc.description,
        field=exc.field,
        request_id=current_request_id(),
    )
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="oauth-clients"'
    return JSONResponse(body.model_dump(), status_code=exc.status, headers=headers)

"""Path parameters that only match their documented shape, so routing itself tells a literal
sibling (``/api-keys/exchange``) from an id (``/api-keys/{key_id}``).

An id segment of another shape is simply no resource: a 404, whatever the method. That holds
for ids a client made up and for ids a fuzzer carried over from another field of the same name
(a session's free-text ``device_id`` is no device id).

A plain ``{key_id}`` matches any segment: ``DELETE /api-keys/exchange`` would reach the revoke
route and fail its pattern with a 422, and ``Allow`` on ``/api-keys/exchange`` would list
DELETE. With the convertor the id route does not match there at all, so the answer is the 405
(``Allow: POST``) the document implies. Register by importing this module before the routes.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Path
from starlette.convertors import Convertor, register_url_convertor

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
"""A UUID in its canonical hyphenated form (either case); the documents carry this pattern."""


class UuidTextConvertor(Convertor[str]):
    """Matches :data:`UUID_PATTERN` and hands the route the text unchanged."""

    regex = UUID_PATTERN.removeprefix("^").removesuffix("$")

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("uuid_text", UuidTextConvertor())


UuidPath = Annotated[uuid.UUID, Path(json_schema_extra={"pattern": UUID_PATTERN})]
"""A UUID path parameter: declare it as ``{name:uuid_text}`` in the route's path."""

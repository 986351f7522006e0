"""Free text people read (names of devices, keys, clients): printable characters only.

PostgreSQL refuses NUL in text and terminals obey escape codes, so control characters are
refused at the edge with a 422 naming the field — and the rule is in the documents as a
``pattern``, so clients and fuzzers know it before they send.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]*$"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def has_control_characters(value: str) -> bool:
    return _CONTROL.search(value) is not None


def no_control_characters(value: str) -> str:
    if has_control_characters(value):
        raise ValueError("must not contain control characters")
    return value


PRINTABLE = Field(json_schema_extra={"pattern": NO_CONTROL_CHARACTERS})
"""Documents the rule; ``no_control_characters`` enforces it (with its own message)."""

Printable = Annotated[str, AfterValidator(no_control_characters), PRINTABLE]

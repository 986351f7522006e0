"""The sync service's REST bodies (the WebSocket protocol's messages are in ``protocol``)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mediagw.common.text import Printable
from mediagw.sync.protocol import KEY_PATTERN, NO_NUL, SET_NAMES, JsonData


class WatchlistItem(BaseModel):
    content_id: str
    added_at_ms: int
    tags: list[str]


class Watchlist(BaseModel):
    items: list[WatchlistItem]


class OpResult(BaseModel):
    op_id: str
    seq: int
    duplicate: bool
    op: dict[str, Any]


class OpResults(BaseModel):
    results: list[OpResult]


class Presence(BaseModel):
    devices: list[dict[str, Any]]


class DeviceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_key: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@-]+$")
    type: Literal["tv", "phone", "tablet", "web", "desktop"]
    name: Printable | None = Field(None, min_length=1, max_length=200)
    platform: Printable | None = Field(None, min_length=1, max_length=64)


class Device(BaseModel):
    id: str
    device_key: str
    type: str
    name: str | None
    platform: str | None
    created_at: str
    last_seen_at: str


class Devices(BaseModel):
    devices: list[Device]


def _set_ops_need_set_keys(schema: dict[str, Any]) -> None:
    """The document states what ``internal_ops`` checks: set ops name a set key and carry an
    element; ``lww_set`` names any other key."""
    schema["if"] = {
        "properties": {"kind": {"enum": ["or_add", "or_remove"]}},
        "required": ["kind"],
    }
    schema["then"] = {
        "properties": {"key": {"enum": sorted(SET_NAMES)}, "element": {"type": "string"}},
        "required": ["element"],
    }
    schema["else"] = {"properties": {"key": {"not": {"enum": sorted(SET_NAMES)}}}}


class ServerOp(BaseModel):
    """One server-originated op; set ops (``or_add``/``or_remove``) target a set key (the
    watchlist) and name an element, ``lww_set`` any other key."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_set_ops_need_set_keys)

    op_id: uuid.UUID | None = None
    kind: Literal["lww_set", "or_add", "or_remove"]
    key: str = Field(pattern=KEY_PATTERN)
    value: JsonData = None
    element: str | None = Field(None, min_length=1, max_length=256, pattern=NO_NUL)
    tags: list[uuid.UUID] | None = Field(None, max_length=64)


class ServerOps(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: uuid.UUID
    ops: list[ServerOp] = Field(min_length=1, max_length=500)

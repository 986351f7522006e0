"""The versioned JSON messages of ``/api/v1/sync/ws`` (``v: 1``), validated strictly.

Client → server: ``auth``, ``hello``, ``op``, ``ping``, ``handoff``.
Server → client: ``ack``, ``op``, ``state``, ``presence``, ``handoff``, ``error``, ``pong``.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from typing_extensions import TypeAliasType

from mediagw.sync.crdt import HLC, Op

VERSION = 1
NODE_PATTERN = r"^[A-Za-z0-9_.:@-]{1,128}$"
KEY_PATTERN = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]{1,256}$"
"""No control character (C0, DEL, C1, the line and paragraph separators): what the database's
``crdt_state_key_format`` check (``[[:cntrl:]]``) refuses, refused first as a 422."""
SET_NAMES = frozenset({"watchlist"})
NO_NUL = r"^[^\u0000]*$"

NulFreeText = Annotated[str, Field(pattern=NO_NUL)]
_NUL_FREE_OBJECT = Field(json_schema_extra={"additionalProperties": False})
"""With the key pattern of ``patternProperties``: a key outside it (one with NUL) is refused."""
JsonData = TypeAliasType(
    "JsonData",
    "NulFreeText | int | float | bool | list[JsonData]"
    " | Annotated[dict[NulFreeText, JsonData], _NUL_FREE_OBJECT] | None",
)
"""Any JSON value whose strings (keys included) carry no NUL: values are stored as PostgreSQL
``jsonb``, which cannot hold ``\\u0000``. Recursive, so the documents can state the rule."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class HlcIn(Strict):
    p: Annotated[int, Field(ge=0, le=2**62)]
    l: Annotated[int, Field(ge=0, le=2**31 - 1)]  # noqa: E741 — the wire name
    n: Annotated[str, Field(pattern=NODE_PATTERN)]

    def hlc(self) -> HLC:
        return HLC(self.p, self.l, self.n)


class OpBody(Strict):
    """The CRDT operation carried by an ``op`` message."""

    op_id: uuid.UUID
    kind: Literal["lww_set", "or_add", "or_remove"]
    key: Annotated[str, Field(pattern=KEY_PATTERN)]
    value: JsonData = None
    element: Annotated[str, Field(min_length=1, max_length=256, pattern=NO_NUL)] | None = None
    tags: Annotated[list[uuid.UUID], Field(max_length=64)] | None = None
    hlc: HlcIn

    @model_validator(mode="after")
    def _check_kind(self) -> OpBody:
        if self.kind == "lww_set":
            if self.element is not None or self.tags is not None:
                raise ValueError("lww_set takes a value, not element/tags")
            if self.key in SET_NAMES:
                raise ValueError(f"{self.key!r} is a set: use or_add / or_remove")
        else:
            if self.key not in SET_NAMES:
                raise ValueError(f"unknown set {self.key!r} (known: {', '.join(SET_NAMES)})")
            if self.element is None:
                raise ValueError(f"{self.kind} needs an element")
            if self.value is not None:
                raise ValueError(f"{self.kind} takes element/tags, not a value")
        return self

    def to_op(self) -> Op:
        tags = tuple(str(t) for t in self.tags) if self.tags else ()
        if self.kind == "or_add" and not tags:
            tags = (str(self.op_id),)
        return Op(
            op_id=str(self.op_id),
            kind=self.kind,
            key=self.key,
            hlc=self.hlc.hlc(),
            value=self.value,
            element=self.element,
            tags=tags,
        )


class AuthMsg(Strict):
    v: Literal[1] = 1
    type: Literal["auth"]
    token: Annotated[str, Field(min_length=1, max_length=8192)]


class HelloMsg(Strict):
    v: Literal[1]
    type: Literal["hello"]
    device_id: Annotated[str, Field(pattern=NODE_PATTERN)]
    last_seen_seq: Annotated[int, Field(ge=0)] | None = None


class OpMsg(OpBody):
    v: Literal[1]
    type: Literal["op"]


class PingMsg(Strict):
    v: Literal[1]
    type: Literal["ping"]
    t: int | None = None


class HandoffMsg(Strict):
    v: Literal[1]
    type: Literal["handoff"]
    to_device_id: Annotated[str, Field(pattern=NODE_PATTERN)]
    content_id: Annotated[str, Field(min_length=1, max_length=256)]
    position_seconds: Annotated[float, Field(ge=0, le=1e7)]


ClientMsg = HelloMsg | OpMsg | PingMsg | HandoffMsg | AuthMsg
_MODELS: dict[str, type[Strict]] = {
    "hello": HelloMsg,
    "op": OpMsg,
    "ping": PingMsg,
    "handoff": HandoffMsg,
    "auth": AuthMsg,
}


class FrameError(Exception):
    """A frame the server refuses; becomes an ``error`` message (the connection stays open)."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


def parse_client(text: str) -> ClientMsg:
    """Validate one text frame; raises FrameError naming the problem."""
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise FrameError("malformed_json", "the frame is not valid JSON") from None
    if not isinstance(raw, dict):
        raise FrameError("invalid_message", "a message must be a JSON object")
    kind = raw.get("type")
    if not isinstance(kind, str):
        raise FrameError("invalid_message", "the message has no string 'type'", "type")
    model = _MODELS.get(kind)
    if model is None:
        raise FrameError("unknown_type", f"unknown message type {kind[:40]!r}", "type")
    if kind != "auth" and raw.get("v") != VERSION:
        raise FrameError("unsupported_version", f"'v' must be {VERSION}", "v")
    try:
        msg: ClientMsg = model.model_validate(_coerce_uuids(raw))  # type: ignore[assignment]  # model is one of the union's classes
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        problem = str(first["msg"]).removeprefix("Value error, ")
        raise FrameError("invalid_field", f"{field or 'message'}: {problem}", field) from None
    return msg


def _coerce_uuids(raw: dict[str, Any]) -> dict[str, Any]:
    """JSON has no uuid type: strict mode accepts uuids given as strings for these fields."""
    out = dict(raw)
    if isinstance(out.get("op_id"), str):
        out["op_id"] = _uuid(out["op_id"], "op_id")
    if isinstance(out.get("tags"), list):
        out["tags"] = [_uuid(t, "tags") if isinstance(t, str) else t for t in out["tags"]]
    return out


def _uuid(text: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise FrameError("invalid_field", f"{field}: not a UUID", field) from None


def op_to_json(op: Op) -> dict[str, Any]:
    out: dict[str, Any] = {"op_id": op.op_id, "kind": op.kind, "key": op.key}
    if op.kind == "lww_set":
        out["value"] = op.value
    else:
        out["element"] = op.element
        out["tags"] = list(op.tags)
    out["hlc"] = op.hlc.to_json()
    return out


def op_from_json(data: dict[str, Any]) -> Op:
    return Op(
        op_id=str(data["op_id"]),
        kind=data["kind"],
        key=str(data["key"]),
        hlc=HLC.from_json(data["hlc"]),
        value=data.get("value"),
        element=data.get("element"),
        tags=tuple(data.get("tags") or ()),
    )


def error(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"v": VERSION, "type": "error", "code": code, "message": message, "field": field}


__all__ = [
    "VERSION",
    "AuthMsg",
    "ClientMsg",
    "FrameError",
    "HandoffMsg",
    "HelloMsg",
    "OpBody",
    "OpMsg",
    "PingMsg",
    "error",
    "op_from_json",
    "op_to_json",
    "parse_client",
]

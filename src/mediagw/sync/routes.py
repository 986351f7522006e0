"""REST conveniences (watchlist, devices, presence) and the internal ops endpoint."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from mediagw.common.errors import ApiError, ErrorBody
from mediagw.common.links import link, links
from mediagw.common.paths import UuidPath
from mediagw.common.security import require_scopes
from mediagw.common.text import Printable
from mediagw.common.tokens import Principal
from mediagw.sync.context import SyncContext, sync_context
from mediagw.sync.crdt import Op, wall_clock_ms
from mediagw.sync.protocol import KEY_PATTERN, NO_NUL, SET_NAMES, JsonData, op_to_json

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Malformed request (e.g. body is not JSON)"},
    401: {"model": ErrorBody, "description": "Missing or invalid token"},
    403: {"model": ErrorBody, "description": "Insufficient scope"},
    404: {"model": ErrorBody, "description": "Not found"},
    413: {"model": ErrorBody, "description": "Request body larger than the limit"},
    422: {"model": ErrorBody, "description": "Invalid request"},
    429: {"model": ErrorBody, "description": "Rate limited; retry after `Retry-After` seconds"},
}
router = APIRouter(tags=["sync"], responses=ERRORS)
internal_router = APIRouter(tags=["internal"], responses=ERRORS)
Reader = Annotated[Principal, Depends(require_scopes("read"))]
DELETE_DEVICE = "delete_device_api_v1_devices__device_id__delete"
REMOVE_FROM_WATCHLIST = "remove_from_watchlist_api_v1_watchlist__content_id__delete"


def _forget_device(device_id: str) -> dict[str, Any]:
    return link(DELETE_DEVICE, "Forget this device", parameters={"path.device_id": device_id})


Writer = Annotated[Principal, Depends(require_scopes("write"))]
ContentId = Annotated[str, Path(min_length=1, max_length=256)]


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


@router.get("/api/v1/watchlist", response_model=Watchlist, summary="The user's watchlist")
async def get_watchlist(request: Request, principal: Reader) -> Watchlist:
    items = await sync_context(request).store.watchlist(principal.user_id)
    return Watchlist(items=[WatchlistItem(**item) for item in items])


async def _server_ops(state: SyncContext, user_id: str, ops: list[Op]) -> OpResults:
    try:
        applied = await state.apply_ops(user_id, None, ops, wall_clock_ms())
    except psycopg.errors.ForeignKeyViolation:
        raise ApiError(404, "unknown_user", "no such user", field="user_id") from None
    return OpResults(
        results=[
            OpResult(op_id=a.op.op_id, seq=a.seq, duplicate=a.duplicate, op=op_to_json(a.op))
            for a in applied
        ]
    )


@router.put(
    "/api/v1/watchlist/{content_id}",
    response_model=OpResults,
    summary="Add a title to the watchlist (an OR-set add, synced to every device)",
    responses=links(
        200,
        remove=link(
            REMOVE_FROM_WATCHLIST,
            "Take the title off the watchlist again",
            parameters={"path.content_id": "$request.path.content_id"},
        ),
    ),
)
async def add_to_watchlist(request: Request, content_id: ContentId, principal: Writer) -> OpResults:
    state = sync_context(request)
    op_id = str(uuid.uuid4())
    op = Op(op_id, "or_add", "watchlist", state.clock.now(), element=content_id, tags=(op_id,))
    return await _server_ops(state, principal.user_id, [op])


@router.delete(
    "/api/v1/watchlist/{content_id}",
    response_model=OpResults,
    summary="Remove a title from the watchlist (removes the tags observed now)",
)
async def remove_from_watchlist(
    request: Request, content_id: ContentId, principal: Writer
) -> OpResults:
    state = sync_context(request)
    op = Op(str(uuid.uuid4()), "or_remove", "watchlist", state.clock.now(), element=content_id)
    return await _server_ops(state, principal.user_id, [op])


class Presence(BaseModel):
    devices: list[dict[str, Any]]


@router.get("/api/v1/sync/presence", response_model=Presence, summary="Devices online now")
async def presence(request: Request, principal: Reader) -> Presence:
    return Presence(devices=await sync_context(request).hub.online(principal.user_id))


# --- devices (users.devices) -------------------------------------------------------------


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


_DEVICE_COLUMNS = "id::text AS id, device_key, type, name, platform, created_at, last_seen_at"


def _device(row: dict[str, Any]) -> Device:
    return Device(
        **{**row, "created_at": row["created_at"].isoformat(),
           "last_seen_at": row["last_seen_at"].isoformat()}
    )  # fmt: skip


@router.get(
    "/api/v1/devices",
    response_model=Devices,
    summary="The user's registered devices",
    responses=links(200, forget_first=_forget_device("$response.body#/devices/0/id")),
)
async def list_devices(request: Request, principal: Reader) -> Devices:
    async with sync_context(request).pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT id::text AS id, device_key, type, name, platform, created_at, last_seen_at "
                "FROM users.devices WHERE user_id = %s ORDER BY created_at, id",
                (principal.user_id,),
            )
        ).fetchall()
    return Devices(devices=[_device(r) for r in rows])


@router.post(
    "/api/v1/devices",
    response_model=Device,
    status_code=201,
    summary="Register a device (re-registering a device key updates it)",
    responses=links(201, forget=_forget_device("$response.body#/id")),
)
async def register_device(request: Request, body: DeviceIn, principal: Writer) -> Device:
    async with sync_context(request).pool.connection() as conn:
        try:
            row = await (
                await conn.execute(
                    """
                    INSERT INTO users.devices (user_id, device_key, type, name, platform)
                    VALUES (%s, %s, %s, %s, %s)
                    ON CONFLICT (user_id, device_key) DO UPDATE SET type = EXCLUDED.type,
                        name = EXCLUDED.name, platform = EXCLUDED.platform, last_seen_at = now()
                    RETURNING id::text AS id, device_key, type, name, platform, created_at,
                        last_seen_at
                    """,
                    (principal.user_id, body.device_key, body.type, body.name, body.platform),
                )
            ).fetchone()
        except psycopg.errors.ForeignKeyViolation:
            raise ApiError(404, "unknown_user", "the token's user does not exist") from None
    assert row is not None
    return _device(row)


@router.delete(
    "/api/v1/devices/{device_id:uuid_text}", status_code=204, summary="Forget a registered device"
)
async def delete_device(request: Request, device_id: UuidPath, principal: Writer) -> Response:
    async with sync_context(request).pool.connection() as conn:
        cursor = await conn.execute(
            "DELETE FROM users.devices WHERE id = %s AND user_id = %s",
            (device_id, principal.user_id),
        )
    if cursor.rowcount == 0:
        raise ApiError(404, "not_found", "no such device", field="device_id")
    return Response(status_code=204)


# --- internal ----------------------------------------------------------------------------


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


@internal_router.post(
    "/api/v1/internal/sync/ops",
    response_model=OpResults,
    summary="Apply server-originated ops (node 'server') for a user and fan them out",
)
async def internal_ops(request: Request, body: ServerOps, principal: Writer) -> OpResults:
    user_id = str(body.user_id)
    if principal.user_id != user_id and "admin" not in principal.scopes:
        raise ApiError(
            403, "forbidden", "ops for another user need the admin scope", field="user_id"
        )
    state = sync_context(request)
    ops: list[Op] = []
    for i, item in enumerate(body.ops):
        is_set = item.kind != "lww_set"
        if is_set != (item.key in SET_NAMES) or (is_set and item.element is None):
            raise ApiError(
                422,
                "invalid_op",
                f"ops[{i}]: {item.kind} does not fit key {item.key!r}",
                field="ops",
            )
        op_id = str(item.op_id or uuid.uuid4())
        tags = tuple(str(t) for t in item.tags or ())
        if item.kind == "or_add" and not tags:
            tags = (op_id,)
        ops.append(
            Op(op_id, item.kind, item.key, state.clock.now(), item.value, item.element, tags)
        )
    return await _server_ops(state, user_id, ops)

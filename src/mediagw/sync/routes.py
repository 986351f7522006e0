"""REST conveniences (watchlist, devices, presence) and the internal ops endpoint."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Path, Request, Response

from mediagw.common.errors import ApiError, ErrorBody
from mediagw.common.links import link, links
from mediagw.common.paths import UuidPath
from mediagw.common.security import require_scopes
from mediagw.common.tokens import Principal
from mediagw.sync.context import SyncContext, sync_context
from mediagw.sync.crdt import Op, wall_clock_ms
from mediagw.sync.protocol import SET_NAMES, op_to_json
from mediagw.sync.schemas import (
    Device,
    DeviceIn,
    Devices,
    OpResult,
    OpResults,
    Presence,
    ServerOps,
    Watchlist,
    WatchlistItem,
)

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


@router.get("/api/v1/sync/presence", response_model=Presence, summary="Devices online now")
async def presence(request: Request, principal: Reader) -> Presence:
    return Presence(devices=await sync_context(request).hub.online(principal.user_id))


# --- devices (users.devices) -------------------------------------------------------------


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
    rows = await sync_context(request).store.devices(principal.user_id)
    return Devices(devices=[_device(r) for r in rows])


@router.post(
    "/api/v1/devices",
    response_model=Device,
    status_code=201,
    summary="Register a device (re-registering a device key updates it)",
    responses=links(201, forget=_forget_device("$response.body#/id")),
)
async def register_device(request: Request, body: DeviceIn, principal: Writer) -> Device:
    store = sync_context(request).store
    try:
        row = await store.register_device(
            principal.user_id, body.device_key, body.type, body.name, body.platform
        )
    except psycopg.errors.ForeignKeyViolation:
        raise ApiError(404, "unknown_user", "the token's user does not exist") from None
    return _device(row)


@router.delete(
    "/api/v1/devices/{device_id:uuid_text}", status_code=204, summary="Forget a registered device"
)
async def delete_device(request: Request, device_id: UuidPath, principal: Writer) -> Response:
    if not await sync_context(request).store.forget_device(str(device_id), principal.user_id):
        raise ApiError(404, "not_found", "no such device", field="device_id")
    return Response(status_code=204)


# --- internal ----------------------------------------------------------------------------


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

"""``GET /api/v1/sync/ws``: one WebSocket session per device.

Close codes: 4401 missing/invalid/expired/revoked token; 1008 repeated bad frames; 1013 slow
consumer (outgoing queue full) or a backend unavailable (reconnect shortly); 1011 an unexpected
server error; 1001 server shutting down. A single bad frame gets an ``error`` message and the
connection stays open; nothing of it is persisted. A session never ends without a close frame
unless the client left first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any
from urllib.parse import parse_qs

import psycopg
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from mediagw.common.errors import DEPENDENCY_ERRORS
from mediagw.common.tokens import InvalidToken, Principal
from mediagw.sync.context import SyncContext
from mediagw.sync.crdt import wall_clock_ms
from mediagw.sync.hub import (
    CLOSE_POLICY,
    CLOSE_UNAUTHORIZED,
    Connection,
    count,
)
from mediagw.sync.hub import (
    CLOSE_SLOW_CONSUMER as CLOSE_TRY_AGAIN,
)
from mediagw.sync.metrics import CONNECTED_DEVICES, PROPAGATION
from mediagw.sync.protocol import (
    VERSION,
    AuthMsg,
    FrameError,
    HandoffMsg,
    HelloMsg,
    OpMsg,
    PingMsg,
    error,
    op_to_json,
    parse_client,
)

log = logging.getLogger("mediagw.sync")
ws_router = APIRouter()
CLOSE_TIMEOUT_SECONDS = 2.0
CLOSE_INTERNAL_ERROR = 1011
MAX_CLOSE_REASON_BYTES = 123
"""RFC 6455 §5.5: a control frame's payload is at most 125 bytes, two of them the close code."""
SERVER_SIDE_REFUSALS = frozenset({"unavailable"})
"""Error frames caused by the server, not the client: they do not count as bad frames."""


@ws_router.websocket("/api/v1/sync/ws")
async def sync_socket(websocket: WebSocket) -> None:
    state: SyncContext = websocket.app.state.sync
    await websocket.accept()
    principal, token = await _authenticate(websocket, state)
    if principal is None or token is None:
        return
    conn = Connection(principal.user_id, state.settings.sync_queue_size)
    state.hub.register(conn)
    CONNECTED_DEVICES.inc()
    session = Session(websocket, state, conn, principal, token)
    tasks = [
        asyncio.create_task(session.read(), name="sync-read"),
        asyncio.create_task(session.write(), name="sync-write"),
        asyncio.create_task(session.watch_token(), name="sync-token"),
        asyncio.create_task(conn.closing.wait(), name="sync-closing"),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        state.hub.unregister(conn)
        CONNECTED_DEVICES.dec()
        if conn.device_id is not None:
            with contextlib.suppress(Exception):
                await state.hub.leave(conn.user_id, conn.device_id)
                await state.hub.broadcast_presence(conn.user_id)
        if conn.close_code is not None:
            await _close(websocket, conn.close_code, conn.close_reason)


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    if websocket.client_state != WebSocketState.CONNECTED:
        return
    with contextlib.suppress(Exception):
        await asyncio.wait_for(websocket.close(code, close_reason(reason)), CLOSE_TIMEOUT_SECONDS)


def close_reason(reason: str) -> str:
    """``reason`` cut to what a close frame can carry, by UTF-8 bytes (it may echo client
    text), never in the middle of a character."""
    return reason.encode()[:MAX_CLOSE_REASON_BYTES].decode(errors="ignore")


async def _authenticate(
    websocket: WebSocket, state: SyncContext
) -> tuple[Principal | None, str | None]:
    """The token from ``?access_token=`` or a first ``auth`` message; else close 4401."""
    query = parse_qs(websocket.scope.get("query_string", b"").decode())
    token = query.get("access_token", [None])[0]
    code, reason = CLOSE_UNAUTHORIZED, ""
    try:
        if token is None:
            token = await _first_message_token(websocket, state)
        principal = await state.authenticator.authenticate(token)
        if principal.has_scopes("read"):
            return principal, token
        reason = "the token lacks the 'read' scope"
    except (WebSocketDisconnect, RuntimeError):
        return None, None
    except TimeoutError:
        reason = "no token within the auth timeout"
    except FrameError as exc:
        reason = exc.message
    except InvalidToken as exc:
        reason = f"{exc.code}: {exc.message}"
    except Exception as exc:  # noqa: BLE001 — Redis unavailable: ask the client to retry
        log.warning("sync: token check failed: %s", exc)
        code, reason = CLOSE_TRY_AGAIN, "token check unavailable; retry"
    await _close(websocket, code, reason)
    return None, None


async def _first_message_token(websocket: WebSocket, state: SyncContext) -> str:
    message = await asyncio.wait_for(websocket.receive(), state.settings.sync_auth_timeout_seconds)
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text = message.get("text")
    if text is None:
        raise FrameError("auth_required", "the first message must be a JSON text frame")
    msg = parse_client(text)
    if not isinstance(msg, AuthMsg):
        raise FrameError("auth_required", "the first message must be {type: auth}")
    return msg.token


class Session:
    def __init__(
        self,
        websocket: WebSocket,
        state: SyncContext,
        conn: Connection,
        principal: Principal,
        token: str,
    ) -> None:
        self.websocket = websocket
        self.state = state
        self.conn = conn
        self.principal = principal
        self.token = token
        self.bad_frames = 0

    async def read(self) -> None:
        max_bytes = self.state.settings.sync_max_frame_bytes
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                self.reject(FrameError("binary_not_supported", "send JSON text frames"))
                continue
            if len(text) > max_bytes or len(text.encode()) > max_bytes:
                self.reject(
                    FrameError("frame_too_large", f"frames are limited to {max_bytes} bytes")
                )
                continue
            try:
                msg = parse_client(text)
                count("in", msg.type)
                await self.handle(msg)
            except FrameError as exc:
                self.reject(exc)
            except DEPENDENCY_ERRORS as exc:
                log.warning("sync: a backend is unavailable: %s", exc)
                self.conn.close(CLOSE_TRY_AGAIN, "a backend is unavailable; reconnect shortly")
                return
            except Exception:
                log.exception("sync: message not handled")
                self.conn.close(CLOSE_INTERNAL_ERROR, "server error; reconnect")
                return

    def reject(self, exc: FrameError) -> None:
        count("in", "invalid")
        self.send(error(exc.code, exc.message, exc.field))
        if exc.code in SERVER_SIDE_REFUSALS:
            return
        self.bad_frames += 1
        if self.bad_frames >= self.state.settings.sync_max_bad_frames:
            self.conn.close(CLOSE_POLICY, "too many invalid frames")

    def send(self, message: dict[str, Any]) -> None:
        self.conn.offer(message)

    async def handle(self, msg: Any) -> None:
        if isinstance(msg, AuthMsg):
            raise FrameError("already_authenticated", "this connection is authenticated")
        if isinstance(msg, PingMsg):
            self.send({"v": VERSION, "type": "pong", "t": msg.t, "server_ms": wall_clock_ms()})
            if self.conn.device_id is not None:
                await self.state.hub.touch(self.conn.user_id, self.conn.device_id)
            return
        if isinstance(msg, HelloMsg):
            await self.hello(msg)
            return
        if self.conn.device_id is None:
            raise FrameError("hello_required", "send hello before other messages", "type")
        if isinstance(msg, OpMsg):
            await self.op(msg)
        elif isinstance(msg, HandoffMsg):
            await self.handoff(msg)

    async def hello(self, msg: HelloMsg) -> None:
        if self.conn.device_id is not None and self.conn.device_id != msg.device_id:
            raise FrameError("device_mismatch", "this connection already said hello", "device_id")
        self.conn.device_id = msg.device_id
        await self.state.hub.touch(self.conn.user_id, msg.device_id)
        snapshot = await self.state.store.snapshot(self.conn.user_id)
        self.send(
            {
                "v": VERSION,
                "type": "state",
                "lww": snapshot.registers,
                "sets": snapshot.sets,
                "watchlist": sorted(snapshot.sets.get("watchlist", {})),
                "seq": snapshot.seq,
            }
        )
        if msg.last_seen_seq is not None:
            for logged in await self.state.store.ops_after(self.conn.user_id, msg.last_seen_seq):
                self.send(
                    {
                        "v": VERSION,
                        "type": "op",
                        "op": op_to_json(logged.op),
                        "origin_device_id": logged.device_id,
                        "seq": logged.seq,
                        "sent_at_ms": logged.received_at_ms,
                        "replay": True,
                    }
                )
        await self.state.hub.broadcast_presence(self.conn.user_id)

    async def op(self, msg: OpMsg) -> None:
        if not self.principal.has_scopes("write"):
            raise FrameError("insufficient_scope", "the token lacks the 'write' scope")
        now = wall_clock_ms()
        skew = self.state.settings.sync_max_clock_skew_seconds * 1000
        if msg.hlc.p > now + skew:
            raise FrameError("clock_skew", "hlc.p is too far in the future", "hlc.p")
        try:
            applied = await self.state.apply_ops(
                self.conn.user_id, self.conn.device_id, [msg.to_op()], now, origin=self.conn.id
            )
        except psycopg.errors.ForeignKeyViolation:
            raise FrameError("unknown_user", "the token's user does not exist") from None
        except psycopg.Error as exc:
            log.warning("sync: op not persisted: %s", exc)
            raise FrameError("unavailable", "the op could not be stored; retry") from None
        self.send(
            {"v": VERSION, "type": "ack", "op_id": applied[0].op.op_id, "seq": applied[0].seq}
        )

    async def handoff(self, msg: HandoffMsg) -> None:
        online = {d["device_id"] for d in await self.state.hub.online(self.conn.user_id)}
        if msg.to_device_id not in online:
            raise FrameError("device_offline", "the target device is not online", "to_device_id")
        now = wall_clock_ms()
        await self.state.hub.publish(
            self.conn.user_id,
            {
                "v": VERSION,
                "type": "handoff",
                "from_device_id": self.conn.device_id,
                "to_device_id": msg.to_device_id,
                "content_id": msg.content_id,
                "position_seconds": msg.position_seconds,
                "sent_at_ms": now,
            },
            to_device=msg.to_device_id,
            sent_at_ms=now,
        )

    async def write(self) -> None:
        while True:
            kind, text, sent_at_ms = await self.conn.queue.get()
            await self.websocket.send_text(text)
            count("out", kind)
            if kind == "op" and sent_at_ms:
                PROPAGATION.observe(max(0.0, time.time() - sent_at_ms / 1000))

    async def watch_token(self) -> None:
        interval = self.state.settings.sync_revocation_check_seconds
        while True:
            remaining = self.principal.expires_at - time.time()
            if remaining <= 0:
                self.conn.close(CLOSE_UNAUTHORIZED, "token_expired")
                return
            await asyncio.sleep(min(interval, remaining))
            if time.time() >= self.principal.expires_at:
                self.conn.close(CLOSE_UNAUTHORIZED, "token_expired")
                return
            try:
                await self.state.authenticator.authenticate(self.token)
            except InvalidToken as exc:
                self.conn.close(CLOSE_UNAUTHORIZED, exc.code)
                return
            except Exception as exc:  # noqa: BLE001 — Redis hiccup: keep the session, retry
                log.warning("sync: revocation check failed: %s", exc)


__all__ = ["ws_router"]

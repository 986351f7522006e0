"""The sync WebSocket endpoint (sync/ws.py) at the ASGI boundary, with no backends.

Each test runs the real route under ``asyncio.run`` and plays the ASGI server's part itself
(``websocket.connect``/``receive``/``disconnect`` in; ``accept``, ``send`` and ``close`` out), so
every frame and close code the endpoint produces is seen exactly, and one that never comes
fails after a short timeout instead of hanging. The collaborators live in memory: tokens are
real JWTs checked by the real Authenticator, whose one Redis call (the revocation ``mget``) reads
a set; the hub is the real Hub with Redis replaced by a loopback (``publish`` delivers to this
process's connections, as the fan-out subscription would) and a presence map; the store records
what it is given and serves a fixed snapshot and op log.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
import uuid
from typing import Any, cast

import psycopg
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from mediagw.common.storage import Pool
from mediagw.common.tokens import Authenticator, TokenCodec
from mediagw.sync.context import SyncContext
from mediagw.sync.crdt import HLC, SERVER_NODE, Clock, Op, wall_clock_ms
from mediagw.sync.hub import Hub
from mediagw.sync.settings import SyncSettings
from mediagw.sync.store import Applied, LoggedOp, Snapshot, SyncStore
from mediagw.sync.ws import ws_router

pytestmark = pytest.mark.unit

PATH = "/api/v1/sync/ws"
TIMEOUT = 2.0
"""How long a frame or close the test waits for may take to come."""
LIMITS: dict[str, Any] = {
    "sync_max_frame_bytes": 1024,
    "sync_queue_size": 16,
    "sync_auth_timeout_seconds": 0.1,
    "sync_revocation_check_seconds": 60.0,
    "sync_max_bad_frames": 3,
    "sync_max_clock_skew_seconds": 300,
}
Message = dict[str, Any]


# --- stand-ins for the endpoint's collaborators ----------------------------------------------


class Revocations:
    """The authenticator's one Redis call: ``mget`` of revocation keys, answered from a set."""

    def __init__(self) -> None:
        self.revoked: set[str] = set()
        self.down = False
        self.lookups = 0
        self.looked_up = asyncio.Event()

    async def mget(self, keys: list[str]) -> list[str | None]:
        self.lookups += 1
        self.looked_up.set()
        if self.down:
            raise RedisConnectionError("Error 111 connecting to redis:6379. Connection refused.")
        return ["1" if key in self.revoked else None for key in keys]


class LoopbackHub(Hub):
    """The real hub's local side; its Redis side is a presence map and a loopback publish."""

    def __init__(self) -> None:
        super().__init__(cast(Redis, None), "redis://unused", presence_ttl=60)
        self.presence: dict[str, dict[str, int]] = {}
        self.touched: list[tuple[str, str]] = []
        self.published: list[tuple[str, dict[str, Any]]] = []

    async def touch(self, user_id: str, device_id: str) -> None:
        self.touched.append((user_id, device_id))
        self.presence.setdefault(user_id, {})[device_id] = wall_clock_ms()

    async def leave(self, user_id: str, device_id: str) -> None:
        self.presence.get(user_id, {}).pop(device_id, None)

    async def online(self, user_id: str) -> list[dict[str, Any]]:
        seen = self.presence.get(user_id, {})
        return [{"device_id": d, "last_seen_ms": ms} for d, ms in sorted(seen.items())]

    async def publish(
        self,
        user_id: str,
        message: dict[str, Any],
        *,
        origin: str | None = None,
        to_device: str | None = None,
        sent_at_ms: int | None = None,
    ) -> None:
        envelope = {"origin": origin, "to_device": to_device, "sent_at_ms": sent_at_ms}
        self.published.append((user_id, {**envelope, "msg": message}))
        self.deliver(user_id, json.loads(json.dumps({**envelope, "msg": message})))


class Store:
    """Records the ops it is asked to store (seq 101, 102 …); a fixed snapshot and op log."""

    def __init__(self) -> None:
        self.state = Snapshot(registers={}, sets={}, seq=0)
        self.log: list[LoggedOp] = []
        self.stored: list[tuple[str, str | None, Op]] = []
        self.asked_after: list[int] = []
        self.failure: Exception | None = None

    async def apply(
        self, user_id: str, device_id: str | None, ops: list[Op], received_at_ms: int
    ) -> list[Applied]:
        if self.failure is not None:
            raise self.failure
        applied = []
        for op in ops:
            self.stored.append((user_id, device_id, op))
            applied.append(Applied(op, 100 + len(self.stored), duplicate=False))
        return applied

    async def snapshot(self, user_id: str) -> Snapshot:
        return self.state

    async def ops_after(self, user_id: str, seq: int) -> list[LoggedOp]:
        self.asked_after.append(seq)
        return [logged for logged in self.log if logged.seq > seq]


# --- the client side: an ASGI server's view of one socket ------------------------------------


class Socket:
    """One client as an ASGI server presents it to the app: messages in, messages out."""

    def __init__(self, app: FastAPI, query: str) -> None:
        self.to_app: asyncio.Queue[Message] = asyncio.Queue()
        self.from_app: asyncio.Queue[Message] = asyncio.Queue()
        self.reading = asyncio.Event()
        self.reading.set()
        scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "scheme": "ws",
            "http_version": "1.1",
            "path": PATH,
            "raw_path": PATH.encode(),
            "root_path": "",
            "query_string": query.encode(),
            "headers": [(b"host", b"sync.test")],
            "client": ("127.0.0.1", 50000),
            "server": ("sync.test", 80),
            "subprotocols": [],
        }
        self.task = asyncio.create_task(app(scope, self.to_app.get, self._receive_from_app))

    async def _receive_from_app(self, message: Message) -> None:
        if message["type"] == "websocket.send":
            await self.reading.wait()  # a client that stops reading holds the writer here
        self.from_app.put_nowait(message)

    @classmethod
    async def open(cls, app: FastAPI, query: str = "") -> Socket:
        socket = cls(app, query)
        socket.to_app.put_nowait({"type": "websocket.connect"})
        assert (await socket.next())["type"] == "websocket.accept"
        return socket

    async def next(self) -> Message:
        return await asyncio.wait_for(self.from_app.get(), TIMEOUT)

    def send(self, frame: dict[str, Any] | str | bytes) -> None:
        if isinstance(frame, bytes):
            self.to_app.put_nowait({"type": "websocket.receive", "bytes": frame})
            return
        text = frame if isinstance(frame, str) else json.dumps(frame)
        self.to_app.put_nowait({"type": "websocket.receive", "text": text})

    async def recv(self) -> dict[str, Any]:
        message = await self.next()
        assert message["type"] == "websocket.send", message
        frame: dict[str, Any] = json.loads(message["text"])
        return frame

    async def expect(self, kind: str) -> dict[str, Any]:
        frame = await self.recv()
        assert frame["type"] == kind, frame
        return frame

    async def until_closed(self) -> tuple[list[dict[str, Any]], int, str]:
        """The frames still sent, then the close's code and reason; the app must then end."""
        frames = []
        while (message := await self.next())["type"] == "websocket.send":
            frames.append(json.loads(message["text"]))
        assert message["type"] == "websocket.close", message
        await asyncio.wait_for(self.task, TIMEOUT)
        return frames, message["code"], message["reason"]

    async def closed(self) -> tuple[int, str]:
        """The close's code and reason, with no frame sent before it."""
        frames, code, reason = await self.until_closed()
        assert frames == []
        return code, reason

    async def disconnect(self) -> None:
        """The client goes; the app must end without trying to close it."""
        self.to_app.put_nowait({"type": "websocket.disconnect", "code": 1000, "reason": ""})
        await asyncio.wait_for(self.task, TIMEOUT)
        while not self.from_app.empty():
            assert self.from_app.get_nowait()["type"] == "websocket.send"

    async def hello(self, device_id: str, **fields: Any) -> dict[str, Any]:
        self.send({"v": 1, "type": "hello", "device_id": device_id, **fields})
        return await self.expect("state")

    async def ping(self, t: int = 7) -> dict[str, Any]:
        """A round trip: the socket still answers (and nothing was queued before the pong)."""
        self.send({"v": 1, "type": "ping", "t": t})
        return await self.expect("pong")


class World:
    """The app with the real route, real settings and tokens, and the stand-ins above."""

    def __init__(self, **limits: Any) -> None:
        self.settings = SyncSettings(
            JWT_SECRET=secrets.token_urlsafe(48),
            env="test",
            postgres_url="postgresql://unused",
            redis_url="redis://unused",
            **{**LIMITS, **limits},
        )
        self.codec = TokenCodec(self.settings)
        self.revocations = Revocations()
        self.hub = LoopbackHub()
        self.store = Store()
        self.app = FastAPI()
        self.app.include_router(ws_router)
        self.app.state.sync = SyncContext(
            settings=self.settings,
            pool=cast(Pool, None),
            redis=cast(Redis, None),
            store=cast(SyncStore, self.store),
            hub=self.hub,
            authenticator=Authenticator(self.codec, cast(Redis, self.revocations)),
            clock=Clock(SERVER_NODE),
        )

    def token(
        self, user: str = "ann", scopes: tuple[str, ...] = ("read", "write"), ttl: int | None = None
    ) -> str:
        return self.codec.issue(user, set(scopes), ttl=ttl)[0]

    def revoke(self, token: str) -> None:
        self.revocations.revoked.add(f"revoked:jti:{self.codec.verify(token).jti}")

    async def connect(self, token: str | None = None) -> Socket:
        return await Socket.open(self.app, "" if token is None else f"access_token={token}")

    async def devices(self, *device_ids: str, token: str | None = None) -> list[Socket]:
        """Connected and greeted, in order; each has read every presence frame it was sent."""
        sockets = []
        for device_id in device_ids:
            socket = await self.connect(token or self.token())
            await socket.hello(device_id)
            sockets.append(socket)
        for i, socket in enumerate(sockets):
            for _ in range(len(sockets) - i):  # its own hello's, then one per later device
                presence = await socket.expect("presence")
            assert [d["device_id"] for d in presence["devices"]] == sorted(device_ids)
        return sockets


def op_frame(device: str, value: Any = 42, *, p: int | None = None) -> dict[str, Any]:
    return {
        "v": 1,
        "type": "op",
        "op_id": str(uuid.uuid4()),
        "kind": "lww_set",
        "key": "progress/title-1",
        "value": value,
        "hlc": {"p": wall_clock_ms() if p is None else p, "l": 0, "n": device},
    }


def stored_op(frame: dict[str, Any]) -> Op:
    hlc = frame["hlc"]
    return Op(
        op_id=frame["op_id"],
        kind=frame["kind"],
        key=frame["key"],
        hlc=HLC(hlc["p"], hlc["l"], hlc["n"]),
        value=frame["value"],
    )


def error(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"v": 1, "type": "error", "code": code, "message": message, "field": field}


def connected_devices() -> float:
    value = REGISTRY.get_sample_value("sync_connected_devices")
    assert value is not None
    return value


# --- authentication: a token in the query or a first auth message, else 4401 -----------------


def test_no_token_and_no_auth_message_within_the_timeout_closes_4401() -> None:
    async def scenario() -> None:
        world = World(sync_auth_timeout_seconds=0.1)
        socket = await world.connect()
        assert await socket.closed() == (4401, "no token within the auth timeout")
        assert (world.hub.local, world.revocations.lookups) == ({}, 0)

    asyncio.run(scenario())


def test_an_invalid_query_token_closes_4401_naming_the_token_error() -> None:
    async def scenario() -> None:
        world = World()
        foreign = World().token()  # well formed, signed with another secret
        code, reason = await (await world.connect("garbage")).closed()
        assert (code, reason.startswith("invalid_token: token is not valid")) == (4401, True)
        code, reason = await (await world.connect(foreign)).closed()
        assert (code, reason) == (4401, "invalid_token: token signature does not verify")
        assert world.hub.local == {}

    asyncio.run(scenario())


def test_an_expired_token_closes_4401_token_expired() -> None:
    async def scenario() -> None:
        world = World()
        socket = await world.connect(world.token(ttl=-60))
        assert await socket.closed() == (4401, "token_expired: the access token has expired")
        assert world.hub.local == {}

    asyncio.run(scenario())


def test_a_revoked_token_closes_4401_token_revoked_at_connect() -> None:
    async def scenario() -> None:
        world = World()
        token = world.token()
        world.revoke(token)
        socket = await world.connect(token)
        assert await socket.closed() == (4401, "token_revoked: the access token has been revoked")

    asyncio.run(scenario())


def test_a_token_without_the_read_scope_closes_4401() -> None:
    async def scenario() -> None:
        world = World()
        socket = await world.connect(world.token(scopes=("write",)))
        assert await socket.closed() == (4401, "the token lacks the 'read' scope")
        assert world.hub.local == {}

    asyncio.run(scenario())


def test_a_first_message_other_than_auth_closes_4401_auth_required() -> None:
    async def scenario() -> None:
        world = World()
        socket = await world.connect()
        socket.send({"v": 1, "type": "hello", "device_id": "tv"})
        assert await socket.closed() == (4401, "the first message must be {type: auth}")
        assert (world.hub.touched, world.revocations.lookups) == ([], 0)

    asyncio.run(scenario())


def test_a_malformed_first_message_closes_4401_naming_the_problem() -> None:
    async def scenario() -> None:
        world = World()
        socket = await world.connect()
        socket.send("{oops")
        assert await socket.closed() == (4401, "the frame is not valid JSON")

    asyncio.run(scenario())


def test_a_binary_first_frame_closes_4401_asking_for_a_text_frame() -> None:
    async def scenario() -> None:
        world = World()
        socket = await world.connect()
        socket.send(b'{"type": "auth", "token": "x"}')
        code, reason = await socket.closed()
        assert (code, reason) == (4401, "the first message must be a JSON text frame")

    asyncio.run(scenario())


def test_a_close_reason_echoing_client_text_is_cut_to_fit_a_close_frame() -> None:
    async def scenario() -> None:
        world = World()
        socket = await world.connect()
        socket.send(json.dumps({"v": 1, "type": "\U0001f4a5" * 40}))
        code, reason = await socket.closed()
        assert code == 4401
        assert reason.startswith("unknown message type")
        assert 120 <= len(reason.encode()) <= 123, reason  # whole characters, at most 123 bytes

    asyncio.run(scenario())


def test_a_token_in_a_first_auth_message_opens_the_session() -> None:
    async def scenario() -> None:
        world = World()
        socket = await world.connect()
        socket.send({"type": "auth", "token": world.token()})
        assert (await socket.hello("tv"))["seq"] == 0
        assert world.revocations.lookups == 1
        assert [c.device_id for c in world.hub.local["ann"]] == ["tv"]
        await socket.disconnect()

    asyncio.run(scenario())


def test_a_second_auth_message_gets_already_authenticated_and_the_socket_stays_open() -> None:
    async def scenario() -> None:
        world = World()
        socket = await world.connect(world.token())
        socket.send({"type": "auth", "token": world.token()})
        assert await socket.recv() == error(
            "already_authenticated", "this connection is authenticated"
        )
        assert (await socket.ping(t=3))["t"] == 3
        assert world.revocations.lookups == 1, "the second token is not checked"
        await socket.disconnect()

    asyncio.run(scenario())


def test_an_unreachable_revocation_store_at_connect_closes_1013_asking_to_retry() -> None:
    async def scenario() -> None:
        world = World()
        world.revocations.down = True
        socket = await world.connect(world.token())
        assert await socket.closed() == (1013, "token check unavailable; retry")
        assert world.hub.local == {}

    asyncio.run(scenario())


def test_a_client_leaving_before_authenticating_ends_the_session_without_a_close() -> None:
    async def scenario() -> None:
        world = World(sync_auth_timeout_seconds=5.0)
        socket = await world.connect()
        await socket.disconnect()  # the app ends at once (not after the timeout), sends nothing
        assert (world.hub.local, world.revocations.lookups) == ({}, 0)

    asyncio.run(scenario())


# --- hello, ping ------------------------------------------------------------------------------


def test_an_op_before_hello_gets_hello_required_and_is_not_stored() -> None:
    async def scenario() -> None:
        world = World()
        socket = await world.connect(world.token())
        socket.send(op_frame("tv"))
        assert await socket.recv() == error(
            "hello_required", "send hello before other messages", "type"
        )
        assert (world.store.stored, world.hub.published) == ([], [])
        await socket.disconnect()

    asyncio.run(scenario())


def test_hello_registers_the_device_and_sends_the_state_then_the_presence() -> None:
    async def scenario() -> None:
        world = World()
        lww = {"progress/title-1": {"value": 12, "hlc": {"p": 5, "l": 0, "n": "tv"}}}
        sets = {"watchlist": {"title-b": ["t1"], "title-a": ["t2"]}}
        world.store.state = Snapshot(registers=lww, sets=sets, seq=7)
        socket = await world.connect(world.token())
        assert await socket.hello("tv") == {
            "v": 1,
            "type": "state",
            "lww": lww,
            "sets": sets,
            "watchlist": ["title-a", "title-b"],
            "seq": 7,
        }
        presence = await socket.expect("presence")
        assert [d["device_id"] for d in presence["devices"]] == ["tv"]
        assert world.hub.touched == [("ann", "tv")]
        assert [c.device_id for c in world.hub.local["ann"]] == ["tv"]
        assert world.store.asked_after == [], "no last_seen_seq: nothing replayed"
        await socket.disconnect()

    asyncio.run(scenario())


def test_hello_with_last_seen_seq_replays_the_later_ops_between_state_and_presence() -> None:
    async def scenario() -> None:
        world = World()
        world.store.state = Snapshot(registers={}, sets={}, seq=9)
        ops = [Op(f"op-{i}", "lww_set", "progress/t", HLC(1000 + i, 0, "phone"), i) for i in (7, 8)]
        world.store.log = [LoggedOp(7, "phone", ops[0], 5007), LoggedOp(8, None, ops[1], 5008)]
        socket = await world.connect(world.token())
        assert (await socket.hello("tv", last_seen_seq=6))["seq"] == 9
        replayed = [await socket.expect("op"), await socket.expect("op")]
        assert replayed == [
            {
                "v": 1,
                "type": "op",
                "op": {
                    "op_id": "op-7",
                    "kind": "lww_set",
                    "key": "progress/t",
                    "value": 7,
                    "hlc": {"p": 1007, "l": 0, "n": "phone"},
                },
                "origin_device_id": "phone",
                "seq": 7,
                "sent_at_ms": 5007,
                "replay": True,
            },
            {
                "v": 1,
                "type": "op",
                "op": {
                    "op_id": "op-8",
                    "kind": "lww_set",
                    "key": "progress/t",
                    "value": 8,
                    "hlc": {"p": 1008, "l": 0, "n": "phone"},
                },
                "origin_device_id": None,
                "seq": 8,
                "sent_at_ms": 5008,
                "replay": True,
            },
        ]
        await socket.expect("presence")
        assert world.store.asked_after == [6]
        await socket.disconnect()

    asyncio.run(scenario())


def test_a_second_hello_may_repeat_the_device_id_but_not_change_it() -> None:
    async def scenario() -> None:
        world = World()
        (socket,) = await world.devices("tv")
        await socket.hello("tv")  # again: the state is sent again
        await socket.expect("presence")
        socket.send({"v": 1, "type": "hello", "device_id": "phone"})
        assert await socket.recv() == error(
            "device_mismatch", "this connection already said hello", "device_id"
        )
        assert [c.device_id for c in world.hub.local["ann"]] == ["tv"]
        assert list(world.hub.presence["ann"]) == ["tv"]
        await socket.disconnect()

    asyncio.run(scenario())


def test_ping_gets_a_pong_echoing_t_and_refreshes_presence_only_after_hello() -> None:
    async def scenario() -> None:
        world = World()
        socket = await world.connect(world.token())
        before = wall_clock_ms()
        pong = await socket.ping(t=41)
        assert (pong["v"], pong["t"]) == (1, 41)
        assert before <= pong["server_ms"] <= wall_clock_ms()
        assert world.hub.touched == [], "no device yet: no presence to refresh"
        await socket.hello("tv")
        await socket.expect("presence")
        await socket.ping()
        assert world.hub.touched == [("ann", "tv"), ("ann", "tv")]
        await socket.disconnect()

    asyncio.run(scenario())


# --- bad frames: an error frame each and the socket stays open; too many close it 1008 -------


def test_a_frame_over_the_size_limit_gets_frame_too_large_one_at_the_limit_is_applied() -> None:
    async def scenario() -> None:
        world = World(sync_max_frame_bytes=1024)
        (socket,) = await world.devices("tv")
        frame = op_frame("tv", value="")
        frame["value"] = "x" * (1024 - len(json.dumps(frame)))
        at_limit = json.dumps(frame)
        over_limit = json.dumps({**frame, "value": frame["value"] + "x"})
        assert (len(at_limit), len(over_limit)) == (1024, 1025)
        socket.send(over_limit)
        assert await socket.recv() == error("frame_too_large", "frames are limited to 1024 bytes")
        assert world.store.stored == []
        socket.send(at_limit)
        assert (await socket.expect("ack"))["op_id"] == frame["op_id"]
        assert world.store.stored == [("ann", "tv", stored_op(frame))]
        await socket.disconnect()

    asyncio.run(scenario())


def test_the_frame_size_limit_counts_utf8_bytes_not_characters() -> None:
    async def scenario() -> None:
        world = World(sync_max_frame_bytes=1024)
        (socket,) = await world.devices("tv")
        text = json.dumps(op_frame("tv", value="é" * 600), ensure_ascii=False)
        assert len(text) < 1024 < len(text.encode())
        socket.send(text)
        assert (await socket.recv())["code"] == "frame_too_large"
        assert world.store.stored == []
        await socket.ping()
        await socket.disconnect()

    asyncio.run(scenario())


def test_a_binary_frame_gets_binary_not_supported_and_the_socket_stays_open() -> None:
    async def scenario() -> None:
        world = World()
        (socket,) = await world.devices("tv")
        socket.send(json.dumps(op_frame("tv")).encode())
        assert await socket.recv() == error("binary_not_supported", "send JSON text frames")
        assert world.store.stored == []
        await socket.ping()
        await socket.disconnect()

    asyncio.run(scenario())


BAD_FRAMES = {
    "malformed-json": ("{oops", error("malformed_json", "the frame is not valid JSON")),
    "not-an-object": ("[1, 2]", error("invalid_message", "a message must be a JSON object")),
    "unknown-type": (
        '{"v": 1, "type": "teleport"}',
        error("unknown_type", "unknown message type 'teleport'", "type"),
    ),
    "wrong-version": (
        '{"v": 2, "type": "ping"}',
        error("unsupported_version", "'v' must be 1", "v"),
    ),
    "invalid-field": (
        '{"v": 1, "type": "hello", "device_id": "bad id"}',
        error(
            "invalid_field",
            "device_id: String should match pattern '^[A-Za-z0-9_.:@-]{1,128}$'",
            "device_id",
        ),
    ),
}


@pytest.mark.parametrize(("frame", "expected"), BAD_FRAMES.values(), ids=BAD_FRAMES.keys())
def test_a_bad_frame_gets_an_error_frame_naming_the_problem_and_the_socket_stays_open(
    frame: str, expected: dict[str, Any]
) -> None:
    async def scenario() -> None:
        world = World()
        (socket,) = await world.devices("tv")
        socket.send(frame)
        assert await socket.recv() == expected
        await socket.ping()
        assert world.store.stored == []
        await socket.disconnect()

    asyncio.run(scenario())


def test_the_bad_frame_limit_closes_the_socket_1008_and_unregisters_it() -> None:
    async def scenario() -> None:
        world = World(sync_max_bad_frames=3)
        (socket,) = await world.devices("tv")
        for _ in range(2):
            socket.send("{oops")
            assert (await socket.recv())["code"] == "malformed_json"
        await socket.ping()  # two bad frames are tolerated
        socket.send("{oops")
        frames, code, reason = await socket.until_closed()
        assert {f["code"] for f in frames} <= {"malformed_json"}, frames
        assert (code, reason) == (1008, "too many invalid frames")
        assert (world.hub.local, world.hub.presence) == ({}, {"ann": {}})

    asyncio.run(scenario())


# --- ops ----------------------------------------------------------------------------------------


def test_an_op_is_stored_acked_with_its_seq_and_fanned_out_to_the_users_other_devices() -> None:
    async def scenario() -> None:
        world = World()
        tv, phone = await world.devices("tv", "phone")
        frame = op_frame("phone", value={"position": 312.5})
        phone.send(frame)
        assert await phone.recv() == {"v": 1, "type": "ack", "op_id": frame["op_id"], "seq": 101}
        assert world.store.stored == [("ann", "phone", stored_op(frame))]
        fanned_out = await tv.expect("op")
        assert fanned_out["op"] == {k: frame[k] for k in ("op_id", "kind", "key", "value", "hlc")}
        assert (fanned_out["origin_device_id"], fanned_out["seq"]) == ("phone", 101)
        await phone.ping()  # the op was not echoed to the device that sent it
        for socket in (tv, phone):
            await socket.disconnect()

    asyncio.run(scenario())


def test_an_op_without_the_write_scope_gets_insufficient_scope_and_is_not_stored() -> None:
    async def scenario() -> None:
        world = World()
        (socket,) = await world.devices("tv", token=world.token(scopes=("read",)))
        socket.send(op_frame("tv"))
        assert await socket.recv() == error(
            "insufficient_scope", "the token lacks the 'write' scope"
        )
        assert world.store.stored == []
        await socket.disconnect()

    asyncio.run(scenario())


def test_an_op_stamped_beyond_the_clock_skew_limit_gets_clock_skew_and_is_not_stored() -> None:
    async def scenario() -> None:
        world = World(sync_max_clock_skew_seconds=5)
        (socket,) = await world.devices("tv")
        socket.send(op_frame("tv", p=wall_clock_ms() + 60_000))
        assert await socket.recv() == error("clock_skew", "hlc.p is too far in the future", "hlc.p")
        assert world.store.stored == []
        within = op_frame("tv", p=wall_clock_ms() + 2_000)
        socket.send(within)
        assert (await socket.expect("ack"))["op_id"] == within["op_id"]
        await socket.disconnect()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (
            psycopg.errors.ForeignKeyViolation("violates foreign key constraint"),
            error("unknown_user", "the token's user does not exist"),
        ),
        (
            psycopg.OperationalError("connection is lost"),
            error("unavailable", "the op could not be stored; retry"),
        ),
    ],
    ids=["unknown-user", "database-down"],
)
def test_an_op_the_store_refuses_gets_an_error_frame_and_the_socket_stays_open(
    failure: Exception, expected: dict[str, Any]
) -> None:
    async def scenario() -> None:
        world = World()
        tv, phone = await world.devices("tv", "phone")
        world.store.failure = failure
        phone.send(op_frame("phone"))
        assert await phone.recv() == expected
        await phone.ping()
        await tv.ping()  # nothing was fanned out before the pong
        assert [m["msg"]["type"] for _, m in world.hub.published] == ["presence", "presence"]
        for socket in (tv, phone):
            await socket.disconnect()

    asyncio.run(scenario())


def test_database_outages_do_not_count_toward_the_bad_frame_limit() -> None:
    async def scenario() -> None:
        world = World(sync_max_bad_frames=2)
        (socket,) = await world.devices("tv")
        world.store.failure = psycopg.OperationalError("connection is lost")
        for _ in range(3):
            socket.send(op_frame("tv"))
            assert (await socket.recv())["code"] == "unavailable"
        world.store.failure = None
        accepted = op_frame("tv")
        socket.send(accepted)
        assert (await socket.expect("ack"))["op_id"] == accepted["op_id"]
        await socket.disconnect()

    asyncio.run(scenario())


def test_a_backend_lost_during_hello_closes_1013_asking_to_reconnect() -> None:
    async def scenario() -> None:
        world = World()

        async def unavailable(user_id: str) -> Snapshot:
            raise psycopg.OperationalError("connection is lost")

        world.store.snapshot = unavailable  # type: ignore[method-assign]  # a failing store
        socket = await world.connect(world.token())
        socket.send({"v": 1, "type": "hello", "device_id": "tv"})
        assert await socket.closed() == (1013, "a backend is unavailable; reconnect shortly")
        assert world.hub.local == {}

    asyncio.run(scenario())


def test_an_unexpected_server_error_closes_1011_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        world = World()

        async def broken(user_id: str, after: int) -> list[LoggedOp]:
            raise ValueError("a bug")

        world.store.ops_after = broken  # type: ignore[method-assign]  # a store with a bug
        socket = await world.connect(world.token())
        socket.send({"v": 1, "type": "hello", "device_id": "tv", "last_seen_seq": 3})
        frames, code, reason = await socket.until_closed()
        assert [f["type"] for f in frames] == ["state"]
        assert (code, reason) == (1011, "server error; reconnect")

    with caplog.at_level(logging.ERROR, logger="mediagw.sync"):
        asyncio.run(scenario())
    assert any("message not handled" in r.message and r.exc_info for r in caplog.records)


# --- hand-off -----------------------------------------------------------------------------------


def test_a_handoff_reaches_only_the_named_online_device() -> None:
    async def scenario() -> None:
        world = World()
        tv, tablet, phone = await world.devices("tv", "tablet", "phone")
        phone.send(
            {
                "v": 1,
                "type": "handoff",
                "to_device_id": "tv",
                "content_id": "title-9",
                "position_seconds": 312.5,
            }
        )
        handoff = await tv.expect("handoff")
        assert isinstance(handoff.pop("sent_at_ms"), int)
        assert handoff == {
            "v": 1,
            "type": "handoff",
            "from_device_id": "phone",
            "to_device_id": "tv",
            "content_id": "title-9",
            "position_seconds": 312.5,
        }
        await tablet.ping()  # nothing for the tablet before its pong
        await phone.ping()  # nor for the sender: no error, no echo
        for socket in (tv, tablet, phone):
            await socket.disconnect()

    asyncio.run(scenario())


def test_a_handoff_to_a_device_not_online_gets_device_offline() -> None:
    async def scenario() -> None:
        world = World()
        (phone,) = await world.devices("phone")
        phone.send(
            {
                "v": 1,
                "type": "handoff",
                "to_device_id": "car",
                "content_id": "t",
                "position_seconds": 1,
            }
        )
        assert await phone.recv() == error(
            "device_offline", "the target device is not online", "to_device_id"
        )
        assert [m["msg"]["type"] for _, m in world.hub.published] == ["presence"]
        await phone.disconnect()

    asyncio.run(scenario())


# --- the token during the session -------------------------------------------------------------


def test_a_token_revoked_during_the_session_closes_it_4401_token_revoked() -> None:
    async def scenario() -> None:
        world = World(sync_revocation_check_seconds=0.05)
        token = world.token()
        (socket,) = await world.devices("tv", token=token)
        world.revoke(token)
        assert await socket.closed() == (4401, "token_revoked")
        assert (world.hub.local, world.hub.presence) == ({}, {"ann": {}})

    asyncio.run(scenario())


def test_a_token_reaching_its_expiry_during_the_session_closes_it_4401_token_expired() -> None:
    async def scenario() -> None:
        world = World(sync_revocation_check_seconds=60.0)
        token = world.token(ttl=1)
        expires_at = world.codec.verify(token).expires_at
        (socket,) = await world.devices("tv", token=token)
        assert await socket.closed() == (4401, "token_expired")
        assert time.time() >= expires_at, "closed at exp, not before"
        assert world.revocations.lookups == 1, "closed on the clock, without a revocation check"

    asyncio.run(scenario())


def test_a_token_accepted_within_the_leeway_but_past_exp_is_closed_at_once() -> None:
    async def scenario() -> None:
        world = World()
        socket = await world.connect(world.token(ttl=-2))  # verification allows 5 s of skew
        assert await socket.closed() == (4401, "token_expired")
        assert world.hub.local == {}

    asyncio.run(scenario())


def test_an_unreachable_revocation_store_during_the_session_keeps_it_open(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        world = World(sync_revocation_check_seconds=0.02)
        (socket,) = await world.devices("tv")
        world.revocations.down = True
        for _ in range(3):
            world.revocations.looked_up.clear()
            await asyncio.wait_for(world.revocations.looked_up.wait(), TIMEOUT)
        await socket.ping()
        assert [c.device_id for c in world.hub.local["ann"]] == ["tv"]
        await socket.disconnect()

    with caplog.at_level(logging.WARNING, logger="mediagw.sync"):
        asyncio.run(scenario())
    assert "sync: revocation check failed" in caplog.text


# --- the session's end --------------------------------------------------------------------------


def test_disconnecting_unregisters_leaves_presence_and_tells_the_other_devices() -> None:
    async def scenario() -> None:
        world = World()
        baseline = connected_devices()
        tv, phone = await world.devices("tv", "phone")
        assert connected_devices() == baseline + 2
        await phone.disconnect()
        presence = await tv.expect("presence")
        assert [d["device_id"] for d in presence["devices"]] == ["tv"]
        assert [c.device_id for c in world.hub.local["ann"]] == ["tv"]
        assert list(world.hub.presence["ann"]) == ["tv"]
        assert connected_devices() == baseline + 1
        await tv.disconnect()
        assert (world.hub.local, connected_devices()) == ({}, baseline)

    asyncio.run(scenario())


def test_disconnecting_before_hello_unregisters_without_a_presence_change() -> None:
    async def scenario() -> None:
        world = World()
        socket = await world.connect(world.token())
        await socket.ping()
        assert list(world.hub.local) == ["ann"]
        await socket.disconnect()
        assert (world.hub.local, world.hub.published, world.hub.presence) == ({}, [], {})

    asyncio.run(scenario())


def test_a_close_pending_when_the_client_leaves_is_not_sent_to_it() -> None:
    async def scenario() -> None:
        world = World()
        (socket,) = await world.devices("tv")
        socket.to_app.put_nowait({"type": "websocket.disconnect", "code": 1001, "reason": ""})
        await world.hub.stop()  # the server shuts down as the client leaves
        await asyncio.wait_for(socket.task, TIMEOUT)
        sent = [socket.from_app.get_nowait()["type"] for _ in range(socket.from_app.qsize())]
        assert "websocket.close" not in sent
        assert world.hub.local == {}

    asyncio.run(scenario())


def test_a_client_that_stops_reading_is_closed_1013_as_a_slow_consumer() -> None:
    async def scenario() -> None:
        world = World(sync_queue_size=2)
        (socket,) = await world.devices("tv")
        socket.reading.clear()
        for t in range(6):
            socket.send({"v": 1, "type": "ping", "t": t})
        assert await socket.closed() == (1013, "outgoing queue full: slow consumer")
        assert world.hub.local == {}

    asyncio.run(scenario())


def test_stopping_the_hub_closes_an_open_socket_1001() -> None:
    async def scenario() -> None:
        world = World()
        (socket,) = await world.devices("tv")
        await world.hub.stop()
        assert await socket.closed() == (1001, "server shutting down")
        assert world.hub.local == {}

    asyncio.run(scenario())

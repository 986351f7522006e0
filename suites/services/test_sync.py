"""Sync against real PostgreSQL and Redis over real sockets: convergence, catch-up, isolation,
multi-process fan-out, bad frames, bad and revoked tokens, and slow consumers.

Each test starts ``python -m mediagw serve sync`` on a free port (two for the multi-process
test) against its own migrated database and Redis DB, and drives it with the ``websockets``
client under ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
import redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from harness.isolation import IsolatedDatabase, RedisDatabase
from harness.service_processes import RunningService, ServiceProcesses
from mediagw.common.tokens import TokenCodec
from mediagw.sync.settings import SyncSettings

pytestmark = pytest.mark.integration
TIMEOUT = 5.0


@dataclass
class Server:
    service: RunningService

    @property
    def port(self) -> int:
        return self.service.port

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/v1/sync/ws"

    @property
    def http(self) -> str:
        return self.service.url


@dataclass
class World:
    db: IsolatedDatabase
    redis_db: RedisDatabase
    secret: str
    codec: TokenCodec
    start: Callable[..., Server]
    user: Callable[[], str]

    def token(self, user_id: str, scopes: tuple[str, ...] = ("read", "write")) -> str:
        return self.codec.issue(user_id, set(scopes))[0]

    def sql(self, query: str, *args: object) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.db.url, autocommit=True) as conn:
            return conn.execute(query, args).fetchall()


@pytest.fixture
def world(
    pg_database: IsolatedDatabase,
    redis_db: RedisDatabase,
    service_processes: ServiceProcesses,
    new_user: Callable[[str], str],
) -> World:
    secret = secrets.token_urlsafe(48)
    settings = SyncSettings(
        JWT_SECRET=secret, env="test", postgres_url=pg_database.url, redis_url=redis_db.url
    )

    def start(**env: str) -> Server:
        environment = {
            **os.environ,
            "MG_POSTGRES_URL": pg_database.url,
            "MG_REDIS_URL": redis_db.url,
            "JWT_SECRET": secret,
            "MG_ENV": "test",
            "MG_SYNC_REVOCATION_CHECK_SECONDS": "0.3",
            "MG_SYNC_AUTH_TIMEOUT_SECONDS": "1",
            "MG_SYNC_MAX_BAD_FRAMES": "6",
            **env,
        }
        return Server(service_processes.start("sync", environment, timeout=20))

    return World(
        pg_database, redis_db, secret, TokenCodec(settings), start, lambda: new_user("sync")
    )


class Device:
    """A connected, greeted device: ``state`` is its hello snapshot, ``ops`` what it received."""

    def __init__(self, ws: ClientConnection, device_id: str) -> None:
        self.ws = ws
        self.device_id = device_id
        self.state: dict[str, Any] = {}
        self.inbox: list[dict[str, Any]] = []
        self.hlc = (0, 0)

    @classmethod
    async def open(
        cls, url: str, token: str, device_id: str, last_seen_seq: int | None = None
    ) -> Device:
        ws = await connect(f"{url}?access_token={token}", open_timeout=TIMEOUT, max_size=2**24)
        device = cls(ws, device_id)
        hello: dict[str, Any] = {"v": 1, "type": "hello", "device_id": device_id}
        if last_seen_seq is not None:
            hello["last_seen_seq"] = last_seen_seq
        await device.send(hello)
        device.state = await device.expect("state")
        return device

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def recv(self) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), TIMEOUT))
        return message

    async def expect(
        self, kind: str, where: Callable[[dict[str, Any]], bool] = lambda _: True
    ) -> dict[str, Any]:
        for i, message in enumerate(self.inbox):
            if message["type"] == kind and where(message):
                return self.inbox.pop(i)
        while True:
            message = await self.recv()
            if message["type"] == kind and where(message):
                return message
            self.inbox.append(message)

    def op(self, kind: str, key: str, **fields: Any) -> dict[str, Any]:
        physical = max(int(time.time() * 1000), self.hlc[0])
        logical = self.hlc[1] + 1 if physical == self.hlc[0] else 0
        self.hlc = (physical, logical)
        return {
            "v": 1,
            "type": "op",
            "op_id": str(uuid.uuid4()),
            "kind": kind,
            "key": key,
            "hlc": {"p": physical, "l": logical, "n": self.device_id},
            **fields,
        }

    async def submit(self, op: dict[str, Any]) -> int:
        await self.send(op)
        ack = await self.expect("ack", lambda m: m["op_id"] == op["op_id"])
        return int(ack["seq"])

    async def ops_until(self, seq: int) -> list[dict[str, Any]]:
        """Fan-out ops received until one with ``seq`` or later arrived."""
        got = []
        while True:
            message = await self.expect("op")
            got.append(message)
            if message["seq"] >= seq:
                return got

    async def close(self) -> None:
        await self.ws.close()


async def closed_with(ws: ClientConnection) -> int | None:
    """Read until the server closes; the close code it sent."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    except ConnectionClosed:
        pass
    return ws.close_code


def run(coro: Awaitable[None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 30))  # type: ignore[arg-type]


def registers(world: World, user_id: str) -> dict[str, Any]:
    rows = world.sql(
        "SELECT key, value FROM sync.crdt_state WHERE user_id = %s AND NOT tombstone", user_id
    )
    return dict(rows)


def watchlist(world: World, user_id: str) -> set[str]:
    rows = world.sql(
        "SELECT DISTINCT element FROM sync.or_set_tags WHERE user_id = %s "
        "AND add_hlc_physical IS NOT NULL AND remove_hlc_physical IS NULL",
        user_id,
    )
    return {r[0] for r in rows}


# --- tests -----------------------------------------------------------------------------------


def test_two_and_three_devices_converge_under_concurrent_edits(world: World) -> None:
    server = world.start()
    user = world.user()
    token = world.token(user)

    async def scenario() -> None:
        devices = [await Device.open(server.ws, token, name) for name in ("tv", "phone", "web")]
        # Concurrent: every device writes the same register and adds/removes the same title.
        batches = []
        for round_ in range(5):
            for d in devices:
                batches.append(
                    d.op("lww_set", "progress/m1", value={"pos": round_, "by": d.device_id})
                )
                batches.append(d.op("or_add", "watchlist", element=f"t{round_}"))
        await asyncio.gather(
            *(d.send(op) for d in devices for op in batches if op["hlc"]["n"] == d.device_id)
        )
        acks = {d.device_id: [] for d in devices}  # type: dict[str, list[int]]
        for d in devices:
            for op in batches:
                if op["hlc"]["n"] == d.device_id:
                    acks[d.device_id].append(
                        int(
                            (await d.expect("ack", lambda m, op=op: m["op_id"] == op["op_id"]))[
                                "seq"
                            ]
                        )
                    )
        top = max(s for seqs in acks.values() for s in seqs)
        # Each device receives every other device's ops (and never its own).
        views = []
        for d in devices:
            received = await d.ops_until(top) if top not in acks[d.device_id] else []
            if top in acks[d.device_id]:
                others = sum(len(v) for k, v in acks.items() if k != d.device_id)
                while len(received) < others:
                    received.append(await d.expect("op"))
            assert all(m["origin_device_id"] != d.device_id for m in received)
            views.append(received)
        # Replaying what each device saw plus its own ops gives the same winner everywhere.
        winner = max(
            (op for op in batches if op["kind"] == "lww_set"),
            key=lambda op: (op["hlc"]["p"], op["hlc"]["l"], op["hlc"]["n"]),
        )
        assert registers(world, user) == {"progress/m1": winner["value"]}
        assert watchlist(world, user) == {f"t{i}" for i in range(5)}
        fresh = await Device.open(server.ws, token, "tablet")
        assert fresh.state["lww"]["progress/m1"]["value"] == winner["value"]
        assert fresh.state["watchlist"] == [f"t{i}" for i in range(5)]
        for d in [*devices, fresh]:
            await d.close()

    run(scenario())


def test_offline_device_reconnects_and_catches_up_with_state_and_missed_ops(world: World) -> None:
    server = world.start()
    user = world.user()
    token = world.token(user)

    async def scenario() -> None:
        tv = await Device.open(server.ws, token, "tv")
        phone = await Device.open(server.ws, token, "phone")
        seen = await tv.submit(tv.op("lww_set", "settings/lang", value="en"))
        await phone.ops_until(seen)
        await phone.close()  # offline
        missed = [
            await tv.submit(tv.op("lww_set", "progress/m1", value=120)),
            await tv.submit(tv.op("or_add", "watchlist", element="c9")),
            await tv.submit(tv.op("lww_set", "settings/lang", value="fr")),
        ]
        back = await Device.open(server.ws, token, "phone", last_seen_seq=seen)
        assert back.state["seq"] == missed[-1]
        assert back.state["lww"]["settings/lang"]["value"] == "fr"
        assert back.state["lww"]["progress/m1"]["value"] == 120
        assert back.state["watchlist"] == ["c9"]
        replayed = [await back.expect("op") for _ in missed]
        assert [m["seq"] for m in replayed] == missed
        assert all(m["replay"] and m["origin_device_id"] == "tv" for m in replayed)
        await tv.close()
        await back.close()

    run(scenario())


def test_duplicated_and_reordered_ops_still_converge(world: World) -> None:
    server = world.start()
    user = world.user()
    token = world.token(user)

    async def scenario() -> None:
        tv = await Device.open(server.ws, token, "tv")
        phone = await Device.open(server.ws, token, "phone")
        older = tv.op("lww_set", "progress/m1", value=10)
        newer = tv.op("lww_set", "progress/m1", value=20)
        add = tv.op("or_add", "watchlist", element="c1")
        removal = tv.op("or_remove", "watchlist", element="c1", tags=[add["op_id"]])
        # Newer before older, remove before its add, and every op twice.
        seqs = [await tv.submit(op) for op in (newer, older, removal, add)]
        again = [await tv.submit(op) for op in (newer, older, removal, add)]
        assert again == seqs  # duplicates are acknowledged with their first seq
        assert world.sql("SELECT count(*) FROM sync.op_log WHERE user_id = %s", user)[0][0] == 4
        assert registers(world, user) == {"progress/m1": 20}
        assert watchlist(world, user) == set()
        fanned = await phone.ops_until(seqs[-1])
        assert len(fanned) == 4  # duplicates are not fanned out again
        late = await Device.open(server.ws, token, "web")
        assert late.state["lww"]["progress/m1"]["value"] == 20
        assert late.state["watchlist"] == []
        for d in (tv, phone, late):
            await d.close()

    run(scenario())


def test_another_users_devices_see_nothing(world: World) -> None:
    server = world.start()
    alice, bob = world.user(), world.user()

    async def scenario() -> None:
        a1 = await Device.open(server.ws, world.token(alice), "tv")
        a2 = await Device.open(server.ws, world.token(alice), "phone")
        b1 = await Device.open(server.ws, world.token(bob), "tv")
        seq = await a1.submit(a1.op("lww_set", "progress/secret", value=1))
        await a2.ops_until(seq)
        await b1.send({"v": 1, "type": "ping", "t": 7})
        pong = await b1.recv()
        while pong["type"] == "presence":  # bob's own presence only
            assert [d["device_id"] for d in pong["devices"]] == ["tv"]
            pong = await b1.recv()
        assert pong["type"] == "pong"
        assert b1.inbox == [] or all(m["type"] == "presence" for m in b1.inbox)
        assert b1.state["lww"] == {}
        assert registers(world, bob) == {}
        for d in (a1, a2, b1):
            await d.close()

    run(scenario())


def test_a_second_process_delivers_to_devices_connected_to_the_first(world: World) -> None:
    first, second = world.start(), world.start()
    user = world.user()
    token = world.token(user)

    async def scenario() -> None:
        tv = await Device.open(first.ws, token, "tv")
        phone = await Device.open(second.ws, token, "phone")
        seq = await phone.submit(phone.op("lww_set", "progress/m2", value=42))
        got = await tv.ops_until(seq)
        assert got[-1]["op"]["value"] == 42
        assert got[-1]["origin_device_id"] == "phone"
        seq = await tv.submit(tv.op("or_add", "watchlist", element="x"))
        assert (await phone.ops_until(seq))[-1]["op"]["element"] == "x"
        presence = await tv.expect("presence", lambda m: len(m["devices"]) == 2)
        assert {d["device_id"] for d in presence["devices"]} == {"tv", "phone"}
        await tv.close()
        await phone.close()

    run(scenario())


def test_bad_frames_get_error_frames_persist_nothing_and_abuse_closes_1008(world: World) -> None:
    server = world.start()
    user, other = world.user(), world.user()

    async def scenario() -> None:
        bystander = await Device.open(server.ws, world.token(other), "tv")
        tv = await Device.open(server.ws, world.token(user), "tv")
        bad_op = tv.op("lww_set", "progress/x", value=1)
        bad_op["hlc"] = {"p": -1, "l": 0, "n": "tv"}
        frames = [
            ("{oops", "malformed_json", None),
            (json.dumps({"v": 1, "type": "teleport"}), "unknown_type", "type"),
            (json.dumps(bad_op), "invalid_field", "hlc.p"),
            (json.dumps({**tv.op("lww_set", "k"), "value": "x" * 70_000}), "frame_too_large", None),
            (
                json.dumps({**tv.op("or_add", "watchlist", element="e"), "extra": 1}),
                "invalid_field",
                "extra",
            ),
        ]
        for frame, code, field_ in frames:
            await tv.ws.send(frame)
            err = await tv.expect("error")
            assert (err["code"], err["field"]) == (code, field_), err
        # Still open: a good op is accepted.
        await tv.submit(tv.op("lww_set", "progress/ok", value=1))
        assert registers(world, user) == {"progress/ok": 1}
        assert world.sql("SELECT count(*) FROM sync.op_log")[0][0] == 1
        await tv.ws.send("{oops")  # the sixth bad frame
        assert await closed_with(tv.ws) == 1008
        # The other user's connection is unaffected.
        seq = await bystander.submit(bystander.op("lww_set", "progress/b", value=2))
        assert seq > 0
        await bystander.close()

    run(scenario())


def test_bad_tokens_close_4401_before_any_op_is_accepted(world: World) -> None:
    server = world.start()
    user = world.user()
    other = TokenCodec(
        SyncSettings(JWT_SECRET=secrets.token_urlsafe(48), env="test",
                     postgres_url=world.db.url, redis_url=world.redis_db.url)
    ).issue(user, {"read", "write"})[0]  # fmt: skip

    async def scenario() -> None:
        for url in (f"{server.ws}?access_token=garbage", f"{server.ws}?access_token={other}"):
            async with connect(url) as ws:
                sender = Device(ws, "tv")
                with contextlib.suppress(ConnectionClosed):  # the server may close first
                    await sender.send({"v": 1, "type": "hello", "device_id": "tv"})
                    await sender.send(sender.op("lww_set", "progress/x", value=1))
                assert await closed_with(ws) == 4401
        async with connect(server.ws) as ws:  # no token and no auth message within 1 s
            assert await closed_with(ws) == 4401
        async with connect(server.ws) as ws:  # first message is not auth
            with contextlib.suppress(ConnectionClosed):
                await ws.send(json.dumps({"v": 1, "type": "hello", "device_id": "tv"}))
            assert await closed_with(ws) == 4401
        async with connect(server.ws) as ws:  # a valid token in the first message works
            await ws.send(json.dumps({"type": "auth", "token": world.token(user)}))
            device = Device(ws, "tv")
            await device.send({"v": 1, "type": "hello", "device_id": "tv"})
            assert (await device.expect("state"))["seq"] == 0
        assert world.sql("SELECT count(*) FROM sync.op_log")[0][0] == 0

    run(scenario())


def test_a_revoked_token_closes_the_socket(world: World) -> None:
    server = world.start()
    user = world.user()
    token, principal = world.codec.issue(user, {"read", "write"})

    async def scenario() -> None:
        tv = await Device.open(server.ws, token, "tv")
        client = redis.Redis.from_url(world.redis_db.url)
        try:
            client.set(f"revoked:jti:{principal.jti}", "1", ex=60)
        finally:
            client.close()
        started = time.monotonic()
        assert await closed_with(tv.ws) == 4401
        assert time.monotonic() - started < 3

    run(scenario())


def test_an_expiring_token_closes_the_socket_at_exp(world: World) -> None:
    server = world.start()
    user = world.user()
    token, _ = world.codec.issue(user, {"read", "write"}, ttl=2)

    async def scenario() -> None:
        tv = await Device.open(server.ws, token, "tv")
        assert await closed_with(tv.ws) == 4401
        assert tv.ws.close_reason == "token_expired"

    run(scenario())


RAW_RECEIVE_BUFFER = 65_536
"""Small, so that not reading really stops the flow, but not below loopback's MSS (64 KiB):
a smaller window is never re-announced by the receiver, and the sender then waits for its
zero-window probe, whose back-off can exceed any per-read timeout."""
DRAIN_SECONDS = 30.0


def raw_websocket(port: int, path: str) -> socket.socket:
    """A WebSocket opened by hand on a socket with a small receive buffer, so that not reading
    really stops the flow (a client library would keep reading into its own buffers)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RAW_RECEIVE_BUFFER)
    sock.settimeout(TIMEOUT)
    sock.connect(("127.0.0.1", port))
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)
    assert response.startswith(b"HTTP/1.1 101")
    return sock


def client_frame(text: str) -> bytes:
    payload = text.encode()
    assert len(payload) < 126
    mask = secrets.token_bytes(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + masked


def close_code_in(stream: bytes | bytearray) -> int | None:
    """The code of the close frame among the server's (unmasked) frames, if any."""
    at = 0
    while at + 2 <= len(stream):
        opcode, length = stream[at] & 0x0F, stream[at + 1] & 0x7F
        at += 2
        if length == 126:
            length, at = int.from_bytes(stream[at : at + 2]), at + 2
        elif length == 127:
            length, at = int.from_bytes(stream[at : at + 8]), at + 8
        if opcode == 0x8 and at + 2 <= len(stream):
            return int.from_bytes(stream[at : at + 2])
        at += length
    return None


def test_a_slow_consumer_is_dropped_with_1013(world: World) -> None:
    server = world.start(MG_SYNC_QUEUE_SIZE="8")
    user = world.user()
    token = world.token(user)
    slow = raw_websocket(server.port, f"/api/v1/sync/ws?access_token={token}")
    try:
        slow.sendall(client_frame(json.dumps({"v": 1, "type": "hello", "device_id": "slow"})))
        # The slow device never reads; the server's ops for it pile up.
        value = "v" * 16_000
        dropped = False
        with httpx.Client(base_url=server.http) as http:
            # Ops are pushed only once the server has taken the hello: the device is online.
            deadline = time.monotonic() + 10
            while (
                "slow"
                not in http.get(
                    "/api/v1/sync/presence", headers={"Authorization": f"Bearer {token}"}
                ).text
            ):
                assert time.monotonic() < deadline, "the slow device never came online"
                time.sleep(0.02)
            for batch in range(40):
                ops = [
                    {"kind": "lww_set", "key": f"progress/{batch}-{i}", "value": value}
                    for i in range(50)
                ]
                response = http.post(
                    "/api/v1/internal/sync/ops",
                    json={"user_id": user, "ops": ops},
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert response.status_code == 200
                if "sync_slow_consumers_dropped_total 1.0" in http.get("/metrics").text:
                    dropped = True
                    break
        assert dropped
        stream = bytearray()  # what piled up, then the close frame: drained until it arrives
        deadline = time.monotonic() + DRAIN_SECONDS
        while close_code_in(stream) is None:
            left = deadline - time.monotonic()
            assert left > 0, f"no close frame after {len(stream)} bytes"
            slow.settimeout(left)
            chunk = slow.recv(1 << 20)
            assert chunk, "connection ended without a close frame"
            stream += chunk
        assert close_code_in(stream) == 1013
    finally:
        slow.close()

    async def healthy() -> None:
        fast = await Device.open(server.ws, token, "fast")
        assert len(fast.state["lww"]) >= 50
        await fast.close()

    run(healthy())


def test_rest_watchlist_devices_presence_and_internal_ops_fan_out(world: World) -> None:
    server = world.start()
    user, other = world.user(), world.user()
    token = world.token(user)
    auth = {"Authorization": f"Bearer {token}"}

    async def scenario() -> None:
        tv = await Device.open(server.ws, token, "tv")
        async with httpx.AsyncClient(base_url=server.http, headers=auth) as http:
            put = await http.put("/api/v1/watchlist/c42")
            assert put.status_code == 200
            seq = put.json()["results"][0]["seq"]
            got = (await tv.ops_until(seq))[-1]
            assert got["op"]["element"] == "c42"
            assert got["op"]["hlc"]["n"] == "server"
            listed = (await http.get("/api/v1/watchlist")).json()["items"]
            assert [i["content_id"] for i in listed] == ["c42"]
            deleted = await http.delete("/api/v1/watchlist/c42")
            assert deleted.json()["results"][0]["op"]["tags"] == listed[0]["tags"]
            assert (await http.get("/api/v1/watchlist")).json()["items"] == []
            presence = (await http.get("/api/v1/sync/presence")).json()["devices"]
            assert [d["device_id"] for d in presence] == ["tv"]
            created = await http.post("/api/v1/devices", json={"device_key": "tv", "type": "tv"})
            assert created.status_code == 201
            devices = (await http.get("/api/v1/devices")).json()["devices"]
            assert [d["device_key"] for d in devices] == ["tv"]
            assert (await http.delete(f"/api/v1/devices/{devices[0]['id']}")).status_code == 204
            assert (await http.get("/api/v1/devices")).json()["devices"] == []
            internal = await http.post(
                "/api/v1/internal/sync/ops",
                json={
                    "user_id": user,
                    "ops": [{"kind": "lww_set", "key": "progress/p", "value": 5}],
                },
            )
            seq = internal.json()["results"][0]["seq"]
            assert (await tv.ops_until(seq))[-1]["op"]["value"] == 5
            forbidden = await http.post(
                "/api/v1/internal/sync/ops",
                json={"user_id": other, "ops": [{"kind": "lww_set", "key": "k", "value": 1}]},
            )
            assert forbidden.status_code == 403
            assert (
                await http.get("/api/v1/watchlist", headers={"Authorization": "Bearer x"})
            ).status_code == 401
        await tv.close()

    run(scenario())

"""The sync hub's local side: bounded queues, closing, and who gets a fanned-out message
(unit tests: no Redis — delivery is what a process does with a message Redis handed it)."""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

import pytest
from redis.asyncio import Redis

from mediagw.sync.hub import CLOSE_POLICY, CLOSE_SLOW_CONSUMER, Connection, Hub

pytestmark = pytest.mark.unit

OP = {"v": 1, "type": "op", "op": {"element": "title-1", "kind": "or_add"}}


def _hub() -> Hub:
    return Hub(cast(Redis, None), "redis://unused", presence_ttl=60)


def _connected(hub: Hub, user: str, device: str | None, queue_size: int = 8) -> Connection:
    conn = Connection(user, queue_size)
    conn.device_id = device
    hub.register(conn)
    return conn


def _received(conn: Connection) -> list[dict[str, Any]]:
    out = []
    while not conn.queue.empty():
        kind, text, _ = conn.queue.get_nowait()
        out.append(json.loads(text))
        assert kind == out[-1]["type"]
    return out


def _envelope(origin: str | None = None, to_device: str | None = None) -> dict[str, Any]:
    return {"origin": origin, "to_device": to_device, "sent_at_ms": 123, "msg": OP}


def test_a_message_reaches_every_other_device_of_the_user_only() -> None:
    async def scenario() -> None:
        hub = _hub()
        phone = _connected(hub, "ann", "phone")
        tv = _connected(hub, "ann", "tv")
        bobs = _connected(hub, "bob", "tv")
        hub.deliver("ann", _envelope(origin=phone.id))
        assert _received(phone) == [], "not echoed to the device that sent it"
        assert _received(tv) == [OP]
        assert _received(bobs) == [], "another user's device"

    asyncio.run(scenario())


def test_a_connection_before_its_hello_gets_nothing() -> None:
    async def scenario() -> None:
        hub = _hub()
        anonymous = _connected(hub, "ann", None)
        hub.deliver("ann", _envelope())
        assert _received(anonymous) == []

    asyncio.run(scenario())


def test_a_hand_off_reaches_only_the_named_device() -> None:
    async def scenario() -> None:
        hub = _hub()
        tv, tablet = _connected(hub, "ann", "tv"), _connected(hub, "ann", "tablet")
        hub.deliver("ann", _envelope(to_device="tablet"))
        assert (_received(tv), _received(tablet)) == ([], [OP])

    asyncio.run(scenario())


def test_a_full_queue_closes_the_slow_consumer_with_1013_and_refuses_more() -> None:
    async def scenario() -> None:
        conn = Connection("ann", queue_size=2)
        assert conn.offer(OP)
        assert conn.offer(OP)
        assert not conn.offer(OP)
        assert (conn.close_code, conn.closing.is_set()) == (CLOSE_SLOW_CONSUMER, True)
        assert conn.queue.qsize() == 2, "nothing buffered beyond the bound"
        assert not conn.offer(OP), "a closing connection takes nothing more"

    asyncio.run(scenario())


def test_the_first_close_reason_is_the_one_kept() -> None:
    async def scenario() -> None:
        conn = Connection("ann", queue_size=2)
        conn.close(CLOSE_POLICY, "bad frame")
        conn.close(1001, "server shutting down")
        assert (conn.close_code, conn.close_reason) == (CLOSE_POLICY, "bad frame")

    asyncio.run(scenario())


def test_unregistering_the_last_connection_forgets_the_user() -> None:
    async def scenario() -> None:
        hub = _hub()
        first, second = _connected(hub, "ann", "tv"), _connected(hub, "ann", "phone")
        hub.unregister(first)
        assert hub.local == {"ann": {second}}
        hub.unregister(second)
        assert hub.local == {}
        hub.unregister(second)  # twice is harmless (a socket closing on two paths)

    asyncio.run(scenario())


def test_stopping_the_hub_closes_every_local_connection_as_going_away() -> None:
    async def scenario() -> None:
        hub = _hub()
        conns = [_connected(hub, "ann", "tv"), _connected(hub, "bob", "tv")]
        await hub.stop()
        assert [c.close_code for c in conns] == [1001, 1001]

    asyncio.run(scenario())

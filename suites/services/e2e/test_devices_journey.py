"""Cross-device journeys through the gateway: sync over a real WebSocket and playback.

A phone and a TV of one user: the TV plays a title and stops at 40 %; the phone, connected to
the sync socket through the gateway, is told the new position (playback publishes it to sync)
and sees it in continue-watching; finishing the title takes it out again.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import websockets

from harness.accounts import Account, expect
from harness.stack import Stack

pytestmark = pytest.mark.e2e


def ws_url(stack: Stack, account: Account) -> str:
    return stack.base_url.replace("http://", "ws://") + (
        f"/api/v1/sync/ws?access_token={account.access_token}"
    )


async def tally(socket: Any, wanted: dict[str, int], within: float = 10.0) -> dict[str, int]:
    """Read until at least ``wanted`` messages of each type arrived; returns what was seen."""
    seen: dict[str, int] = {}
    async with asyncio.timeout(within):
        while any(seen.get(kind, 0) < count for kind, count in wanted.items()):
            kind = json.loads(await socket.recv())["type"]
            seen[kind] = seen.get(kind, 0) + 1
    return seen


async def next_of(socket: Any, kind: str, within: float = 10.0) -> dict[str, Any]:
    """The next message of ``kind``; others are skipped."""
    async with asyncio.timeout(within):
        while True:
            message = json.loads(await socket.recv())
            if message["type"] == kind:
                return message


def a_title(api: httpx.Client) -> dict[str, Any]:
    hits = expect(api.get("/api/v1/search", params={"q": "adventure movies"}), 200).json()
    return next(hit for hit in hits["items"] if hit["type"] == "movie")


def test_progress_on_the_tv_reaches_the_phone_and_continue_watching(
    stack: Stack, api: httpx.Client, new_account: Callable[..., Account]
) -> None:
    user = new_account()
    title = a_title(api)

    async def journey() -> dict[str, Any]:
        async with websockets.connect(ws_url(stack, user), max_size=16 * 2**20) as phone:
            await phone.send(json.dumps({"v": 1, "type": "hello", "device_id": "phone-1"}))
            await next_of(phone, "state")
            started = await asyncio.to_thread(
                lambda: expect(api.post(
                    "/api/v1/playback/sessions",
                    json={"content_id": title["id"], "device_id": "tv-1", "device": "tv"},
                    headers=user.headers,
                ), 201).json()
            )  # fmt: skip
            duration = started["duration_seconds"]
            stop_at = int(duration * 0.4)
            await asyncio.to_thread(
                lambda: expect(api.post(
                    f"/api/v1/playback/sessions/{started['session_id']}/stop",
                    json={"position_seconds": stop_at}, headers=user.headers,
                ), 200)
            )  # fmt: skip
            while True:
                update = await next_of(phone, "op")
                if update["op"]["key"] == f"progress/{title['id']}":
                    return {"update": update, "stop_at": stop_at, "session": started}

    seen = asyncio.run(journey())
    assert seen["update"]["op"]["value"]["position_seconds"] == seen["stop_at"]
    assert seen["update"]["op"]["value"]["completed"] is False
    assert seen["session"]["deep_link"]["chosen_url"]

    watching = expect(
        api.get("/api/v1/playback/continue-watching", headers=user.headers), 200
    ).json()
    assert [item["content_id"] for item in watching["items"]] == [title["id"]]

    resumed = expect(
        api.post(
            "/api/v1/playback/sessions",
            json={"content_id": title["id"], "device_id": "phone-1"},
            headers=user.headers,
        ),
        201,
    ).json()
    assert resumed["position_seconds"] == seen["stop_at"], "the phone resumes where the TV left"
    expect(
        api.post(
            f"/api/v1/playback/sessions/{resumed['session_id']}/stop",
            json={"position_seconds": resumed["duration_seconds"]},
            headers=user.headers,
        ),
        200,
    )
    after = expect(api.get("/api/v1/playback/continue-watching", headers=user.headers), 200)
    assert after.json()["items"] == []
    history = expect(api.get("/api/v1/playback/history", headers=user.headers), 200).json()
    assert len(history["items"]) == 2


def test_watchlist_edits_on_two_devices_converge_through_the_gateway(
    stack: Stack, new_account: Callable[..., Account], api: httpx.Client
) -> None:
    user, stranger = new_account(), new_account()
    content = [str(uuid.uuid4()) for _ in range(3)]

    async def edit() -> tuple[dict[str, Any], dict[str, Any]]:
        async with (
            websockets.connect(ws_url(stack, user), max_size=16 * 2**20) as phone,
            websockets.connect(ws_url(stack, user), max_size=16 * 2**20) as tv,
            websockets.connect(ws_url(stack, stranger), max_size=16 * 2**20) as other,
        ):
            for socket, device in ((phone, "phone"), (tv, "tv"), (other, "other")):
                await socket.send(json.dumps({"v": 1, "type": "hello", "device_id": device}))
                await next_of(socket, "state")
            senders = ((phone, "phone"), (tv, "tv"), (phone, "phone"))
            for index, (socket, device) in enumerate(senders):
                await socket.send(json.dumps({
                    "v": 1, "type": "op", "op_id": str(uuid.uuid4()), "kind": "or_add",
                    "key": "watchlist", "element": content[index],
                    "hlc": {"p": 1_700_000_000_000 + index, "l": 0, "n": device},
                }))  # fmt: skip
            # Each device is acked for its own adds and hears the other device's.
            assert (await tally(phone, {"ack": 2, "op": 1}))["op"] == 1
            assert (await tally(tv, {"ack": 1, "op": 2}))["op"] == 2
            with pytest.raises(TimeoutError):
                await next_of(other, "op", within=1.0)
        async with (
            websockets.connect(ws_url(stack, user), max_size=16 * 2**20) as late,
        ):
            await late.send(json.dumps({"v": 1, "type": "hello", "device_id": "tablet"}))
            snapshot = await next_of(late, "state")
        rest = await asyncio.to_thread(
            lambda: expect(api.get("/api/v1/watchlist", headers=user.headers), 200).json()
        )
        return snapshot, rest

    snapshot, rest = asyncio.run(edit())
    assert sorted(snapshot["watchlist"]) == sorted(content)
    assert json.dumps(rest).count(content[0]) == 1

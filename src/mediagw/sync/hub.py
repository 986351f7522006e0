"""Connections of this process and the Redis fan-out that reaches every process.

Every message for a user's devices (ops, presence, hand-offs) is published on the Redis
channel ``sync:user:{user}``; each process listens and hands it to the connections it holds
for that user. Each connection has a bounded outgoing queue: when it is full the device is
too slow, and it is closed with 1013 instead of buffering without limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from typing import Any

from redis.asyncio import Redis

from mediagw.sync.metrics import MESSAGES, SLOW_CONSUMERS_DROPPED

log = logging.getLogger("mediagw.sync")
CHANNEL = "sync:user:{}"
CHANNEL_PATTERN = "sync:user:*"
PRESENCE = "presence:{}"

CLOSE_SLOW_CONSUMER = 1013
CLOSE_POLICY = 1008
CLOSE_UNAUTHORIZED = 4401


class Connection:
    """One authenticated WebSocket, as the hub sees it."""

    def __init__(self, user_id: str, queue_size: int) -> None:
        self.id = uuid.uuid4().hex
        self.user_id = user_id
        self.device_id: str | None = None
        self.queue: asyncio.Queue[tuple[str, str, int | None]] = asyncio.Queue(queue_size)
        self.close_code: int | None = None
        self.close_reason = ""
        self.closing = asyncio.Event()

    def offer(self, message: dict[str, Any], sent_at_ms: int | None = None) -> bool:
        """Queue ``message`` for the writer; a full queue closes the connection with 1013."""
        if self.closing.is_set():
            return False
        try:
            self.queue.put_nowait((message["type"], json.dumps(message), sent_at_ms))
        except asyncio.QueueFull:
            SLOW_CONSUMERS_DROPPED.inc()
            log.info("sync: closing slow consumer %s/%s", self.user_id, self.device_id)
            self.close(CLOSE_SLOW_CONSUMER, "outgoing queue full: slow consumer")
            return False
        return True

    def close(self, code: int, reason: str) -> None:
        if not self.closing.is_set():
            self.close_code, self.close_reason = code, reason
            self.closing.set()


class Hub:
    def __init__(self, redis: Redis, redis_url: str, presence_ttl: int) -> None:
        self.redis = redis
        self.redis_url = redis_url
        self.presence_ttl = presence_ttl
        self.local: dict[str, set[Connection]] = {}
        self.subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="sync-fanout")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for conns in self.local.values():
            for conn in conns:
                conn.close(1001, "server shutting down")

    def register(self, conn: Connection) -> None:
        self.local.setdefault(conn.user_id, set()).add(conn)

    def unregister(self, conn: Connection) -> None:
        conns = self.local.get(conn.user_id)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self.local[conn.user_id]

    async def publish(
        self,
        user_id: str,
        message: dict[str, Any],
        *,
        origin: str | None = None,
        to_device: str | None = None,
        sent_at_ms: int | None = None,
    ) -> None:
        envelope = {
            "origin": origin,
            "to_device": to_device,
            "sent_at_ms": sent_at_ms,
            "msg": message,
        }
        await self.redis.publish(CHANNEL.format(user_id), json.dumps(envelope))

    def deliver(self, user_id: str, envelope: dict[str, Any]) -> None:
        message = envelope["msg"]
        for conn in list(self.local.get(user_id, ())):
            if conn.id == envelope.get("origin") or conn.device_id is None:
                continue
            to_device = envelope.get("to_device")
            if to_device is not None and conn.device_id != to_device:
                continue
            conn.offer(message, envelope.get("sent_at_ms"))

    async def _listen(self) -> None:
        backoff = 0.1
        while True:
            client = Redis.from_url(self.redis_url, decode_responses=True, socket_timeout=None)
            pubsub = client.pubsub()
            try:
                await pubsub.psubscribe(CHANNEL_PATTERN)
                self.subscribed.set()
                backoff = 0.1
                while True:
                    item = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if item is None or item.get("type") != "pmessage":
                        continue
                    user_id = str(item["channel"]).removeprefix("sync:user:")
                    if user_id in self.local:
                        try:
                            self.deliver(user_id, json.loads(item["data"]))
                        except (ValueError, KeyError, TypeError):
                            log.warning("sync: unreadable fan-out message on %s", item["channel"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 — Redis down: retry with backoff
                log.warning("sync: fan-out subscription failed (%s); retrying", exc)
                self.subscribed.clear()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                with contextlib.suppress(Exception):
                    await client.aclose()

    # --- presence ---------------------------------------------------------------------------

    async def touch(self, user_id: str, device_id: str) -> None:
        key = PRESENCE.format(user_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(key, device_id, str(int(time.time() * 1000)))
            pipe.expire(key, self.presence_ttl)
            await pipe.execute()

    async def leave(self, user_id: str, device_id: str) -> None:
        await self.redis.hdel(PRESENCE.format(user_id), device_id)

    async def online(self, user_id: str) -> list[dict[str, Any]]:
        seen = await self.redis.hgetall(PRESENCE.format(user_id))
        horizon = int(time.time() * 1000) - self.presence_ttl * 1000
        return [
            {"device_id": device, "last_seen_ms": int(ms)}
            for device, ms in sorted(seen.items())
            if int(ms) >= horizon
        ]

    async def broadcast_presence(self, user_id: str) -> None:
        devices = await self.online(user_id)
        await self.publish(user_id, {"v": 1, "type": "presence", "devices": devices})


def count(direction: str, kind: str) -> None:
    MESSAGES.labels(direction, kind).inc()

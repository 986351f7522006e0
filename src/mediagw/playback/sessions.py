"""Live playback sessions in Redis: ``playback:{session}`` expires ``ttl`` after the last
heartbeat; ``playback:known:{session}`` remembers ended ids longer, so a late heartbeat gets a
clear 410 (expired or stopped) rather than a bare 404.

The tombstone also keeps the session as it started (title, device, duration): a stop that
arrives after the heartbeats lapsed still records the user's final position
(``take_expired``), once — a user's progress must not vanish because a heartbeat was late."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Literal

from redis.asyncio import Redis

SESSION_KEY = "playback:{}"
KNOWN_KEY = "playback:known:{}"
ACTIVE_KEY = "playback:active"

Fate = Literal["expired", "stopped"]

_TAKE_EXPIRED = """
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local known = cjson.decode(raw)
if known['user_id'] ~= ARGV[1] or known['fate'] ~= 'expired' or not known['session'] then
  return false
end
known['fate'] = 'stopped'
redis.call('SET', KEYS[1], cjson.encode(known), 'KEEPTTL')
return raw
"""
"""Expired → stopped, returning the tombstone as it was (Redis runs a script atomically)."""


@dataclass
class Session:
    session_id: str
    user_id: str
    content_id: str
    device_id: str
    platform: str | None
    duration_seconds: int
    position_seconds: int
    state: str
    started_at: float
    last_heartbeat_at: float
    last_write_at: float


def _expired_tombstone(session: Session) -> str:
    """What a session leaves behind until it is stopped: whose it was and how it started
    (``take_expired`` reads it back)."""
    return json.dumps({"user_id": session.user_id, "fate": "expired", "session": asdict(session)})


class SessionStore:
    def __init__(self, redis: Redis, ttl_seconds: float, tombstone_seconds: int) -> None:
        self.redis = redis
        self.ttl_ms = int(ttl_seconds * 1000)
        self.tombstone_seconds = tombstone_seconds

    async def save(self, session: Session, *, new: bool = False) -> None:
        expires = time.time() + self.ttl_ms / 1000
        async with self.redis.pipeline(transaction=True) as pipe:
            key = SESSION_KEY.format(session.session_id)
            pipe.set(key, json.dumps(asdict(session)), px=self.ttl_ms)
            if new:
                pipe.set(
                    KNOWN_KEY.format(session.session_id),
                    _expired_tombstone(session),
                    ex=self.tombstone_seconds,
                )
            pipe.zadd(ACTIVE_KEY, {session.session_id: expires})
            await pipe.execute()

    async def get(self, session_id: str) -> Session | None:
        raw = await self.redis.get(SESSION_KEY.format(session_id))
        return Session(**json.loads(raw)) if raw else None

    async def take(self, session_id: str) -> Session | None:
        """Remove the session atomically (one stop wins) and return it."""
        raw = await self.redis.getdel(SESSION_KEY.format(session_id))
        if not raw:
            return None
        session = Session(**json.loads(raw))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(
                KNOWN_KEY.format(session_id),
                json.dumps({"user_id": session.user_id, "fate": "stopped"}),
                ex=self.tombstone_seconds,
            )
            pipe.zrem(ACTIVE_KEY, session_id)
            await pipe.execute()
        return session

    async def take_expired(self, session_id: str, user_id: str) -> Session | None:
        """The session as it started, if it expired (not stopped) and was this user's; marks
        it stopped in the same atomic step, so one late stop wins."""
        raw = await self.redis.eval(_TAKE_EXPIRED, 1, KNOWN_KEY.format(session_id), user_id)
        if not raw:
            return None
        return Session(**json.loads(raw)["session"])

    async def give_back(self, session: Session, *, live: bool) -> None:
        """Undo a ``take`` (``live``) or a ``take_expired``: the stop that took the session
        could not record it, so the user's retry must find it again."""
        if live:
            await self.save(session, new=True)
            return
        await self.redis.set(
            KNOWN_KEY.format(session.session_id),
            _expired_tombstone(session),
            ex=self.tombstone_seconds,
        )

    async def fate(self, session_id: str, user_id: str) -> Fate | None:
        """What became of a session that is no longer live, if it was this user's."""
        raw = await self.redis.get(KNOWN_KEY.format(session_id))
        if not raw:
            return None
        known = json.loads(raw)
        if known.get("user_id") != user_id:
            return None
        return "stopped" if known.get("fate") == "stopped" else "expired"

    async def active_count(self) -> int:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(ACTIVE_KEY, "-inf", time.time())
            pipe.zcard(ACTIVE_KEY)
            _, count = await pipe.execute()
        return int(count)

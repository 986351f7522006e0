"""Live sessions in Redis: one per login on a device, expiring with the refresh token.

``session:{id}`` is a hash describing the session; ``user:sessions:{user}`` indexes a user's
sessions. The session id is the refresh-token family id: revoking one revokes the other.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

SESSION = "session:{}"
USER_SESSIONS = "user:sessions:{}"


@dataclass(frozen=True)
class Session:
    id: str
    user_id: str
    device_id: str | None
    device_name: str | None
    ip: str | None
    user_agent: str | None
    created_at: float
    last_seen_at: float


def _text(value: bytes | str) -> str:
    """The client decodes responses; the type stubs cannot know that."""
    return value.decode() if isinstance(value, bytes) else value


class SessionStore:
    def __init__(self, redis: Redis, ttl_seconds: int) -> None:
        self.redis = redis
        self.ttl = ttl_seconds

    async def create(self, session: Session) -> None:
        fields: dict[Any, Any] = {  # redis-py types mapping keys invariantly
            k: v for k, v in session.__dict__.items() if v is not None
        }
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(SESSION.format(session.id), mapping=fields)
            pipe.expire(SESSION.format(session.id), self.ttl)
            pipe.sadd(USER_SESSIONS.format(session.user_id), session.id)
            pipe.expire(USER_SESSIONS.format(session.user_id), self.ttl)
            await pipe.execute()

    async def touch(self, session_id: str) -> None:
        key = SESSION.format(session_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(key, "last_seen_at", time.time())
            pipe.expire(key, self.ttl)
            await pipe.execute()

    async def get(self, session_id: str) -> Session | None:
        raw = await self.redis.hgetall(SESSION.format(session_id))
        if not raw:
            return None
        data = {_text(k): _text(v) for k, v in raw.items()}
        return Session(
            id=data["id"],
            user_id=data["user_id"],
            device_id=data.get("device_id"),
            device_name=data.get("device_name"),
            ip=data.get("ip"),
            user_agent=data.get("user_agent"),
            created_at=float(data["created_at"]),
            last_seen_at=float(data["last_seen_at"]),
        )

    async def list_for(self, user_id: str) -> list[Session]:
        ids = {_text(i) for i in await self.redis.smembers(USER_SESSIONS.format(user_id))}
        sessions = [s for s in [await self.get(i) for i in sorted(ids)] if s is not None]
        stale = set(ids) - {s.id for s in sessions}
        if stale:
            await self.redis.srem(USER_SESSIONS.format(user_id), *stale)
        return sorted(sessions, key=lambda s: s.created_at, reverse=True)

    async def delete(self, user_id: str, session_id: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(SESSION.format(session_id))
            pipe.srem(USER_SESSIONS.format(user_id), session_id)
            await pipe.execute()

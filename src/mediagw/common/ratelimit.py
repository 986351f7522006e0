"""Sliding-window rate limits in Redis, answering 429 with ``Retry-After``.

Each key (``ratelimit:{route}:{client}``) holds the timestamps of recent hits in a sorted set;
one Lua script trims, counts and records atomically, so concurrent workers agree.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass

from redis.asyncio import Redis

from mediagw.common.errors import ApiError

_SCRIPT = """
local key, now, window, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, 0, now - window)
if redis.call('ZCARD', key) >= limit then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return tonumber(oldest[2]) + window - now
end
redis.call('ZADD', key, now, ARGV[4])
redis.call('PEXPIRE', key, window)
return 0
"""


@dataclass(frozen=True)
class Limit:
    requests: int
    window_seconds: int

    @classmethod
    def parse(cls, text: str) -> Limit:
        """``"10/60"`` → 10 requests per 60 seconds."""
        count, _, seconds = text.partition("/")
        return cls(int(count), int(seconds or 60))


class RateLimiter:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._script = redis.register_script(_SCRIPT)

    async def hit(self, route: str, client: str, limit: Limit) -> None:
        """Record a hit; raise 429 (with Retry-After) when the window is full."""
        now_ms = int(time.time() * 1000)
        wait_ms = int(
            await self._script(
                keys=[f"ratelimit:{route}:{client}"],
                args=[now_ms, limit.window_seconds * 1000, limit.requests, uuid.uuid4().hex],
            )
        )
        if wait_ms > 0:
            retry_after = max(1, math.ceil(wait_ms / 1000))
            raise ApiError(
                429,
                "rate_limited",
                f"too many {route} requests; retry in {retry_after} s",
                headers={"Retry-After": str(retry_after)},
            )

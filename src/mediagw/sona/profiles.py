"""User profiles kept hot: an in-process LRU (with a TTL) in front of Redis in front of
PostgreSQL (sona.user_vectors + sona.interactions + users.preferences, the source of truth).

Reads (re-ranking, recommendations) never touch the database while the profile is cached; a
miss falls back to Redis, then to the database, and the result — also "no history yet" — is
cached at both levels. Writes (an interaction, new preferences) run under a per-user advisory
lock: the profile is read from Redis or rebuilt from the database, updated, written to
sona.user_vectors and to Redis inside the transaction, and to the local cache after commit.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from psycopg import errors as pg_errors
from redis.asyncio import Redis
from redis.exceptions import RedisError

from mediagw.common.errors import ApiError
from mediagw.common.storage import Pool
from mediagw.sona import store
from mediagw.sona.catalogue import Catalogue, Vector
from mediagw.sona.engine import InteractionKind, ItemState, Preferences, Profile
from mediagw.sona.metrics import PROFILE_LOOKUPS
from mediagw.sona.settings import SonaSettings

log = logging.getLogger("mediagw.sona.profiles")
PROFILE_KEY = "sona:profile:{}"
MODEL_VERSION = "sona-ema-v1"
FOUND_LOCAL, FOUND_IN_REDIS, FOUND_IN_DATABASE = (
    PROFILE_LOOKUPS.labels(source) for source in ("local", "redis", "database")
)


# --- (de)serialisation for Redis -----------------------------------------------------------


def dumps(profile: Profile) -> str:
    vector = profile.vector
    return json.dumps(
        {
            "v": base64.b64encode(vector.astype("<f4").tobytes()).decode()
            if vector is not None
            else None,
            "n": profile.interaction_count,
            "i": [
                [cid, s.weight, s.verb, s.progress, int(s.completed), s.last_at]
                for cid, s in profile.items.items()
            ],
            "p": [
                list(profile.preferences.genres),
                list(profile.preferences.moods),
                list(profile.preferences.platforms),
            ],
        },
        separators=(",", ":"),
    )


def loads(user_id: str, text: str | bytes) -> Profile:
    data: dict[str, Any] = json.loads(text)
    vector = (
        np.frombuffer(base64.b64decode(data["v"]), dtype="<f4").astype(np.float32)
        if data["v"]
        else None
    )
    genres, moods, platforms = data["p"]
    return Profile(
        user_id=user_id,
        vector=vector,
        interaction_count=int(data["n"]),
        items={
            cid: ItemState(float(w), str(verb), progress, bool(done), float(at))
            for cid, w, verb, progress, done, at in data["i"]
        },
        preferences=Preferences(tuple(genres), tuple(moods), tuple(platforms)),
    )


@dataclass(frozen=True)
class Recorded:
    event_id: str
    duplicate: bool
    weight: float


class ProfileStore:
    def __init__(
        self,
        settings: SonaSettings,
        pool: Pool,
        redis: Redis,
        catalogue: Callable[[], Catalogue],
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.redis = redis
        self._catalogue = catalogue
        self._local: OrderedDict[str, tuple[float, Profile]] = OrderedDict()
        self._loading: dict[str, asyncio.Future[Profile]] = {}
        self._writes: dict[str, int] = {}
        """Per user, how many writes this process made: a load that raced a write is not
        cached over the newer profile."""
        self.hits = {"local": 0, "redis": 0, "database": 0}

    # --- reads -----------------------------------------------------------------------------

    def cached(self, user_id: str) -> Profile | None:
        """The in-process copy if fresh (no I/O)."""
        entry = self._local.get(user_id)
        if entry is None:
            return None
        expires, profile = entry
        if expires < time.monotonic():
            del self._local[user_id]
            return None
        self._local.move_to_end(user_id)
        return profile

    def _remember(self, profile: Profile) -> None:
        self._local[profile.user_id] = (
            time.monotonic() + self.settings.profile_local_ttl_seconds,
            profile,
        )
        self._local.move_to_end(profile.user_id)
        while len(self._local) > self.settings.profile_cache_size:
            self._local.popitem(last=False)

    def _remember_written(self, profile: Profile) -> None:
        if len(self._writes) > self.settings.profile_cache_size:
            self._writes.clear()
        self._writes[profile.user_id] = self._writes.get(profile.user_id, 0) + 1
        self._remember(profile)

    def forget(self, user_id: str) -> None:
        self._local.pop(user_id, None)

    def clear_local(self) -> None:
        """Drop the in-process tier (the next reads come from Redis)."""
        self._local.clear()

    async def get(self, user_id: str) -> Profile:
        """Local cache → Redis → database; concurrent misses for one user share one load."""
        profile = self.cached(user_id)
        if profile is not None:
            self.hits["local"] += 1
            FOUND_LOCAL.inc()
            return profile
        pending = self._loading.get(user_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Profile] = asyncio.get_running_loop().create_future()
        self._loading[user_id] = future
        writes = self._writes.get(user_id, 0)
        try:
            profile = await self._load(user_id)
            if self._writes.get(user_id, 0) == writes:
                self._remember(profile)
            else:  # a write landed meanwhile: its profile (already remembered) is newer
                profile = self.cached(user_id) or profile
            future.set_result(profile)
            return profile
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning if nobody waits
            raise
        finally:
            del self._loading[user_id]

    async def _from_redis(self, user_id: str) -> Profile | None:
        try:
            text = await self.redis.get(PROFILE_KEY.format(user_id))
        except RedisError as exc:
            log.warning("redis unavailable reading the profile of %s: %s", user_id, exc)
            return None
        if text is None:
            return None
        try:
            return loads(user_id, text)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("discarding an unreadable cached profile of %s: %s", user_id, exc)
            return None

    async def _load(self, user_id: str) -> Profile:
        profile = await self._from_redis(user_id)
        if profile is not None:
            self.hits["redis"] += 1
            FOUND_IN_REDIS.inc()
            return profile
        async with self.pool.connection() as conn:
            profile = await self._from_database(conn, user_id)
        self.hits["database"] += 1
        FOUND_IN_DATABASE.inc()
        try:  # NX: a writer may have published a newer profile since the database was read
            await self.redis.set(
                PROFILE_KEY.format(user_id),
                dumps(profile),
                ex=self.settings.profile_redis_ttl_seconds,
                nx=True,
            )
        except RedisError as exc:
            log.warning("redis unavailable caching the profile of %s: %s", user_id, exc)
        return profile

    async def _from_database(self, conn: store.Conn, user_id: str) -> Profile:
        """Rebuild from the source of truth: the stored vector, the latest interactions
        (replayed for per-title state; also for the vector if none is stored), preferences."""
        catalogue = self._catalogue()
        stored = await store.user_vector(conn, user_id)
        rows = await store.recent_interactions(conn, user_id, self.settings.history_limit)
        prefs = await store.preferences(conn, user_id)
        profile = Profile(user_id=user_id)
        if prefs is not None:
            profile.preferences = Preferences(
                tuple(prefs["genres"]), tuple(prefs["moods"]), tuple(prefs["platforms"])
            )
        for row in rows:
            item: Vector | None = None
            if stored is None:
                item_row = catalogue.index.get(row["content_id"])
                item = catalogue.matrix[item_row] if item_row is not None else None
            profile.apply(
                row["content_id"],
                row["kind"],
                row["value"],
                row["occurred_at"].timestamp(),
                item,
                decay=self.settings.profile_decay,
                history_limit=self.settings.history_limit,
            )
        if stored is not None:
            vector = np.asarray(stored["vector"], dtype=np.float32)
            profile.vector = vector if np.any(vector) else None
            profile.interaction_count = max(int(stored["interaction_count"]), len(rows))
        profile.derived = None
        return profile

    async def _shared(self, conn: store.Conn, user_id: str) -> Profile:
        """For writers: the shared copy (Redis, else the database), never the local one,
        which another worker may have outdated."""
        try:
            text = await self.redis.get(PROFILE_KEY.format(user_id))
        except RedisError as exc:
            raise _redis_down(exc) from exc
        if text is not None:
            try:
                return loads(user_id, text)
            except (ValueError, KeyError, TypeError):
                pass
        return await self._from_database(conn, user_id)

    async def _publish(self, profile: Profile) -> None:
        try:
            await self.redis.set(
                PROFILE_KEY.format(profile.user_id),
                dumps(profile),
                ex=self.settings.profile_redis_ttl_seconds,
            )
        except RedisError as exc:
            raise _redis_down(exc) from exc

    async def _discard(self, user_id: str) -> None:
        self.forget(user_id)
        try:
            await self.redis.delete(PROFILE_KEY.format(user_id))
        except RedisError as exc:
            log.warning("could not drop the cached profile of %s: %s", user_id, exc)

    # --- writes ----------------------------------------------------------------------------

    async def record(
        self,
        *,
        user_id: str,
        content_id: str,
        kind: InteractionKind,
        value: float | None,
        occurred_at: datetime,
        event_id: uuid.UUID | None,
    ) -> Recorded:
        """Store one interaction (idempotent on ``event_id``) and fold it into the profile."""
        catalogue = self._catalogue()
        published = False
        try:
            async with self.pool.connection() as conn, conn.transaction():
                await store.lock_user(conn, user_id)
                profile = await self._shared(conn, user_id)
                inserted = await store.insert_interaction(
                    conn,
                    event_id=event_id,
                    user_id=user_id,
                    content_id=content_id,
                    kind=kind,
                    value=value,
                    occurred_at=occurred_at,
                )
                if inserted is None:
                    assert event_id is not None  # only a given event id can collide
                    return await self._duplicate(conn, event_id, user_id, content_id, kind)
                row = catalogue.index.get(content_id)
                item = (
                    catalogue.matrix[row]
                    if row is not None
                    else await store.item_vector(conn, content_id, self.settings.embedding_dim)
                )
                weight = profile.apply(
                    content_id,
                    kind,
                    value,
                    occurred_at.timestamp(),
                    item,
                    decay=self.settings.profile_decay,
                    history_limit=self.settings.history_limit,
                )
                vector = (
                    profile.vector
                    if profile.vector is not None
                    else np.zeros(self.settings.embedding_dim, dtype=np.float32)
                )
                await store.save_user_vector(
                    conn, user_id, vector, MODEL_VERSION, profile.interaction_count
                )
                published = True
                await self._publish(profile)
        except pg_errors.ForeignKeyViolation as exc:
            if published:
                await self._discard(user_id)
            raise _missing_reference(exc) from None
        except BaseException:
            if published:  # Redis may hold an update the database rolled back
                await self._discard(user_id)
            raise
        self._remember_written(profile)
        return Recorded(inserted, duplicate=False, weight=weight)

    @staticmethod
    async def _duplicate(
        conn: store.Conn, event_id: uuid.UUID, user_id: str, content_id: str, kind: str
    ) -> Recorded:
        existing = await store.interaction_by_event(conn, event_id)
        same = existing is not None and (
            existing["user_id"],
            existing["content_id"],
            existing["kind"],
        ) == (user_id, content_id, kind)
        if not same:
            raise ApiError(
                409,
                "conflict",
                "event_id was already used for a different interaction",
                field="event_id",
            )
        return Recorded(str(event_id), duplicate=True, weight=0.0)

    async def set_preferences(self, user_id: str, preferences: Preferences) -> datetime:
        published = False
        try:
            async with self.pool.connection() as conn, conn.transaction():
                await store.lock_user(conn, user_id)
                profile = await self._shared(conn, user_id)
                updated = await store.save_preferences(
                    conn, user_id, preferences.genres, preferences.moods, preferences.platforms
                )
                profile.preferences = preferences
                published = True
                await self._publish(profile)
        except pg_errors.ForeignKeyViolation as exc:
            if published:
                await self._discard(user_id)
            raise _missing_reference(exc) from None
        except BaseException:
            if published:
                await self._discard(user_id)
            raise
        self._remember_written(profile)
        return updated


def _redis_down(exc: Exception) -> ApiError:
    return ApiError(503, "unavailable", f"profile cache (Redis) unavailable: {type(exc).__name__}")


def _missing_reference(exc: pg_errors.ForeignKeyViolation) -> ApiError:
    constraint = exc.diag.constraint_name or ""
    if "content_id" in constraint:
        return ApiError(404, "not_found", "no content with this content_id", field="content_id")
    return ApiError(403, "forbidden", "the token's user account does not exist", field="sub")

"""The sync service's context (its resources and op pipeline: persist, ack, fan out) and the
dependency that hands it to routes."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from redis.asyncio import Redis

from mediagw.common.storage import Pool
from mediagw.common.tokens import Authenticator
from mediagw.sync.crdt import SERVER_NODE, Clock, Op
from mediagw.sync.hub import Hub
from mediagw.sync.protocol import VERSION, op_to_json
from mediagw.sync.settings import SyncSettings
from mediagw.sync.store import Applied, SyncStore


@dataclass
class SyncContext:
    settings: SyncSettings
    pool: Pool
    redis: Redis
    store: SyncStore
    hub: Hub
    authenticator: Authenticator
    clock: Clock

    @classmethod
    def build(
        cls, settings: SyncSettings, pool: Pool, redis: Redis, authenticator: Authenticator
    ) -> SyncContext:
        return cls(
            settings=settings,
            pool=pool,
            redis=redis,
            store=SyncStore(pool, settings.sync_op_log_length),
            hub=Hub(redis, settings.redis_url, settings.sync_presence_ttl_seconds),
            authenticator=authenticator,
            clock=Clock(SERVER_NODE),
        )

    async def apply_ops(
        self,
        user_id: str,
        device_id: str | None,
        ops: list[Op],
        received_at_ms: int,
        origin: str | None = None,
    ) -> list[Applied]:
        """Persist then fan out the new ones (duplicates are acknowledged, not re-sent)."""
        for op in ops:
            self.clock.receive(op.hlc)
        applied = await self.store.apply(user_id, device_id, ops, received_at_ms)
        for result in applied:
            if result.duplicate:
                continue
            message = {
                "v": VERSION,
                "type": "op",
                "op": op_to_json(result.op),
                "origin_device_id": device_id,
                "seq": result.seq,
                "sent_at_ms": received_at_ms,
            }
            await self.hub.publish(user_id, message, origin=origin, sent_at_ms=received_at_ms)
        return applied


def sync_context(request: Request) -> SyncContext:
    """The app's context: for routes (``Depends(sync_context)``) and the socket handler."""
    context: SyncContext = request.app.state.sync
    return context

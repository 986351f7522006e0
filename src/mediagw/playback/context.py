"""What the playback routes share, built in the app's lifespan, and the dependency that hands
it to them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis

from mediagw.common.storage import Pool
from mediagw.playback.catalogue import ContentCatalog
from mediagw.playback.publisher import SyncPublisher
from mediagw.playback.rules import CompletionRule
from mediagw.playback.sessions import SessionStore
from mediagw.playback.settings import PlaybackSettings


@dataclass
class PlaybackContext:
    settings: PlaybackSettings
    pool: Pool
    redis: Redis
    catalog: ContentCatalog
    sessions: SessionStore
    publisher: SyncPublisher
    rule: CompletionRule


# async: FastAPI would run a plain `def` dependency in a worker thread, a hop per request.
async def _context(request: Request) -> PlaybackContext:
    context: PlaybackContext = request.app.state.playback
    return context


Ctx = Annotated[PlaybackContext, Depends(_context)]

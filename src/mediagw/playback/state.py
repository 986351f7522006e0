"""What the playback routes share, built in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from mediagw.common.storage import Pool
from mediagw.playback.catalogue import ContentCatalog
from mediagw.playback.publisher import SyncPublisher
from mediagw.playback.rules import CompletionRule
from mediagw.playback.sessions import SessionStore
from mediagw.playback.settings import PlaybackSettings


@dataclass
class PlaybackState:
    settings: PlaybackSettings
    pool: Pool
    redis: Redis
    catalog: ContentCatalog
    sessions: SessionStore
    publisher: SyncPublisher
    rule: CompletionRule

"""Playback configuration (``MG_*`` variables plus ``JWT_SECRET``)."""

from __future__ import annotations

from pydantic import Field

from mediagw.common.settings import TokenSettings


class PlaybackSettings(TokenSettings):
    postgres_url: str = Field(pattern=r"^postgres(ql)?://")
    redis_url: str = Field(pattern=r"^(redis|rediss|unix)://")
    sync_url: str | None = Field(None, pattern=r"^https?://")
    """Base URL of the sync service; unset means in-process (all-in-one) or not publishing."""
    sync_timeout_seconds: float = Field(2.0, gt=0, le=30)

    session_ttl_seconds: float = Field(300.0, ge=0.1, le=86_400)
    """A playback session lives this long after its last heartbeat (``playback:{session}``)."""
    session_tombstone_seconds: int = Field(86_400, ge=1, le=30 * 86_400)
    """How long an expired or stopped session id is remembered (answers 410, not 404)."""
    completion_threshold: float = Field(0.9, gt=0, le=1)
    """Watched when position / duration reaches this share."""
    continue_min_ratio: float = Field(0.05, ge=0, lt=1)
    """Continue watching lists titles past this share (and not completed)."""
    credits_seconds: int = Field(120, ge=0, le=3600)
    """Also watched within this many seconds of the end (the credits), for titles at least ten
    times longer than that (so a short clip is not complete at 80%)."""
    heartbeat_write_interval_seconds: float = Field(10.0, ge=0, le=3600)
    """Heartbeats write progress to PostgreSQL at most this often per session (stop always)."""

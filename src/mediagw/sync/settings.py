"""Sync configuration (``MG_*`` variables plus ``JWT_SECRET``)."""

from __future__ import annotations

from pydantic import Field

from mediagw.common.settings import TokenSettings


class SyncSettings(TokenSettings):
    postgres_url: str = Field(pattern=r"^postgres(ql)?://")
    redis_url: str = Field(pattern=r"^(redis|rediss|unix)://")

    sync_max_frame_bytes: int = Field(65_536, ge=1024, le=16 * 1_048_576)
    """Largest text frame accepted; larger ones get an ``error`` frame and are not applied."""
    sync_queue_size: int = Field(256, ge=1, le=100_000)
    """Outgoing messages buffered per connection; a device that falls further behind is closed
    with 1013 (try again later) instead of growing memory."""
    sync_op_log_length: int = Field(1000, ge=10, le=1_000_000)
    """Op log entries kept per user for catch-up (older ones are covered by the state)."""
    sync_presence_ttl_seconds: int = Field(60, ge=5, le=86_400)
    sync_auth_timeout_seconds: float = Field(5.0, gt=0, le=60)
    """How long a connection without ``?access_token=`` has to send its ``auth`` message."""
    sync_revocation_check_seconds: float = Field(5.0, gt=0, le=300)
    sync_max_bad_frames: int = Field(10, ge=1, le=10_000)
    """Bad frames tolerated per connection before it is closed with 1008 (policy violation)."""
    sync_max_clock_skew_seconds: int = Field(300, ge=1, le=86_400)
    """How far ahead of the server an op's HLC physical time may be."""

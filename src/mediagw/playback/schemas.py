"""Request and response bodies of the playback API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mediagw.playback.rules import Device

DEVICE_ID = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@-]+$")
PLATFORM = Field(None, pattern=r"^[a-z0-9][a-z0-9_]{0,63}$")
POSITION = Field(ge=0, le=10_000_000, allow_inf_nan=False, description="Seconds from the start")


class DeepLinkOut(BaseModel):
    platform: str
    web_url: str | None
    app_url: str | None
    chosen_url: str | None = Field(description="The link for the requested device type")


class StartSession(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content_id: uuid.UUID
    device_id: str = DEVICE_ID
    platform: str | None = PLATFORM
    device: Device = "web"
    duration_seconds: int | None = Field(
        None, ge=1, le=1_000_000, description="Only used when the catalogue has no runtime"
    )


class SessionStarted(BaseModel):
    session_id: str
    content_id: str
    device_id: str
    platform: str | None
    deep_link: DeepLinkOut | None
    position_seconds: int = Field(description="Resume point (0 when new or completed)")
    duration_seconds: int
    expires_in_seconds: float


class Heartbeat(BaseModel):
    model_config = ConfigDict(extra="forbid")

    position_seconds: float = POSITION
    state: Literal["playing", "paused", "buffering"]


class HeartbeatAccepted(BaseModel):
    session_id: str
    position_seconds: int
    state: str
    completed: bool
    progress_written: bool
    expires_in_seconds: float


class Stop(BaseModel):
    model_config = ConfigDict(extra="forbid")

    position_seconds: float = POSITION


class SessionStopped(BaseModel):
    session_id: str
    content_id: str
    position_seconds: int
    duration_seconds: int
    completed: bool


class ContinueItem(BaseModel):
    content_id: str
    title: str
    type: str
    position_seconds: int
    duration_seconds: int
    progress: float = Field(description="position / duration")
    device_id: str | None
    updated_at: datetime
    deep_link: DeepLinkOut | None


class ContinueWatching(BaseModel):
    items: list[ContinueItem]


class HistoryItem(BaseModel):
    session_id: str
    content_id: str
    title: str | None
    device_id: str | None
    platform: str | None
    started_at: datetime
    ended_at: datetime | None
    position_seconds: int
    duration_seconds: int | None
    completed: bool


class HistoryPage(BaseModel):
    items: list[HistoryItem]
    next_before: datetime | None = Field(description="Pass as `before` for the next page")

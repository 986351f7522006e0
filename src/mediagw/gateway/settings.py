"""Gateway configuration."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mediagw.common.settings import TokenSettings

SERVICES = ("auth", "discovery", "sona", "sync", "playback", "ingestion")


class GatewaySettings(TokenSettings):
    redis_url: str = Field(pattern=r"^(redis|rediss|unix)://")
    gateway_mode: Literal["all-in-one", "per-service"] = "all-in-one"
    """all-in-one: every service runs inside the gateway process; per-service: over HTTP."""

    auth_url: str | None = Field(None, pattern=r"^https?://")
    discovery_url: str | None = Field(None, pattern=r"^https?://")
    sona_url: str | None = Field(None, pattern=r"^https?://")
    sync_url: str | None = Field(None, pattern=r"^https?://")
    playback_url: str | None = Field(None, pattern=r"^https?://")
    ingestion_url: str | None = Field(None, pattern=r"^https?://")

    upstream_timeout_seconds: float = Field(10.0, gt=0, le=120)
    upstream_connect_timeout_seconds: float = Field(2.0, gt=0, le=30)
    upstream_max_connections: int = Field(200, ge=1, le=10_000)
    breaker_failure_threshold: int = Field(5, ge=1, le=1000)
    breaker_reset_seconds: float = Field(10.0, gt=0, le=600)

    @model_validator(mode="after")
    def _upstreams(self) -> GatewaySettings:
        if self.gateway_mode == "per-service" and not self.upstream_urls():
            raise ValueError(
                "MG_AUTH_URL: per-service mode needs at least one upstream URL "
                "(MG_AUTH_URL, MG_DISCOVERY_URL, …)"
            )
        return self

    def upstream_urls(self) -> dict[str, str]:
        urls = {name: getattr(self, f"{name}_url") for name in SERVICES}
        return {name: url.rstrip("/") for name, url in urls.items() if url}

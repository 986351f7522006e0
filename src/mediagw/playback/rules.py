"""Pure playback rules: completion, continue watching, deep-link rendering."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import quote

Device = Literal["web", "ios", "android", "tv"]
PLATFORM_ID_PLACEHOLDER = "{platform_id}"


@dataclass(frozen=True)
class CompletionRule:
    threshold: float = 0.9
    credits_seconds: int = 120
    min_ratio: float = 0.05

    def clamp(self, position: float, duration: int) -> int:
        """A position in whole seconds within ``0..duration``."""
        return max(0, min(int(position), duration))

    def completed(self, position: float, duration: int) -> bool:
        if duration <= 0:
            return False
        position = self.clamp(position, duration)
        if position / duration >= self.threshold:
            return True
        credits_apply = self.credits_seconds > 0 and duration >= 10 * self.credits_seconds
        return credits_apply and duration - position <= self.credits_seconds

    def in_progress(self, position: int, duration: int, completed: bool) -> bool:
        """Continue watching: ``min_ratio < position/duration < threshold`` and not completed."""
        if completed or duration <= 0:
            return False
        ratio = position / duration
        return self.min_ratio < ratio < self.threshold and not self.completed(position, duration)


@dataclass(frozen=True)
class ProgressRow:
    content_id: str
    position_seconds: int
    duration_seconds: int
    completed: bool
    device_id: str | None
    updated_at: datetime


def continue_watching(
    rows: Iterable[ProgressRow], rule: CompletionRule, limit: int
) -> list[ProgressRow]:
    """The in-progress rows, newest first, at most ``limit``."""
    kept = [
        r for r in rows if rule.in_progress(r.position_seconds, r.duration_seconds, r.completed)
    ]
    kept.sort(key=lambda r: (r.updated_at, r.content_id), reverse=True)
    return kept[:limit]


def render_link(template: str | None, platform_id: str) -> str | None:
    """``template`` with ``{platform_id}`` replaced by the percent-encoded id."""
    if not template:
        return None
    return template.replace(PLATFORM_ID_PLACEHOLDER, quote(platform_id, safe=""))


@dataclass(frozen=True)
class DeepLink:
    platform: str
    web_url: str | None
    app_url: str | None
    chosen_url: str | None


def choose(web_url: str | None, app_url: str | None, device: Device) -> str | None:
    """Browsers get the web link; phones and TVs the app link (the web link when none)."""
    if device == "web":
        return web_url or app_url
    return app_url or web_url


def deep_link(
    platform: str,
    platform_id: str,
    web_template: str | None,
    app_template: str | None,
    device: Device,
) -> DeepLink:
    web_url = render_link(web_template, platform_id)
    app_url = render_link(app_template, platform_id)
    return DeepLink(platform, web_url, app_url, choose(web_url, app_url, device))


def pick_platform(available: Sequence[str], wanted: str | None) -> str | None:
    """``wanted`` if the title is on it, else None; without ``wanted`` the first available."""
    if wanted is not None:
        return wanted if wanted in available else None
    return available[0] if available else None

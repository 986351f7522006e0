"""Playback rules without backends: completion, continue watching, deep-link rendering."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from mediagw.playback.catalogue import ContentCatalog, ContentInfo, PlatformEntry
from mediagw.playback.routes import continue_items
from mediagw.playback.rules import (
    CompletionRule,
    Device,
    ProgressRow,
    continue_watching,
    pick_platform,
    render_link,
)

pytestmark = pytest.mark.unit

PLATFORMS = json.loads(
    (Path(__file__).parents[2] / "data" / "catalogue" / "platforms.json").read_text()
)
RULE = CompletionRule(threshold=0.9, credits_seconds=120, min_ratio=0.05)
T0 = datetime(2024, 5, 1, 20, 0, tzinfo=UTC)


class InMemoryCatalog:
    """A ContentCatalog over a dict, for tests only."""

    def __init__(self, items: Sequence[ContentInfo]) -> None:
        self.items = {i.content_id: i for i in items}

    async def get(self, content_id: str) -> ContentInfo | None:
        return self.items.get(content_id)

    async def get_many(self, content_ids: Sequence[str]) -> dict[str, ContentInfo]:
        return {c: self.items[c] for c in content_ids if c in self.items}


def entry(platform: dict[str, str], platform_id: str) -> PlatformEntry:
    return PlatformEntry(
        platform["id"],
        platform["name"],
        platform_id,
        platform["web_url_template"],
        platform["app_url_template"],
    )


def row(
    content_id: str,
    position: int,
    duration: int = 1000,
    *,
    completed: bool = False,
    updated_at: datetime = T0,
) -> ProgressRow:
    return ProgressRow(content_id, position, duration, completed, "tv-1", updated_at)


# --- completion ----------------------------------------------------------------------------


def test_completion_at_ninety_percent_and_not_before() -> None:
    # 10-minute clip: shorter than ten times the credits window, so only the ratio counts
    assert not RULE.completed(539, 600)
    assert RULE.completed(540, 600)
    assert RULE.completed(600, 600)


def test_completion_within_the_credits_of_a_long_title() -> None:
    # two hours at 90%: 6480 s completes by ratio, 6479 s is neither 90% nor in the credits
    assert RULE.completed(6480, 7200)
    assert not RULE.completed(6479, 7200)
    long_rule = CompletionRule(threshold=0.95, credits_seconds=600)
    assert long_rule.completed(6600, 7200)  # 91.7% < 95% but inside the 10-minute credits
    assert not long_rule.completed(6599, 7200)


def test_credits_rule_does_not_complete_short_titles_early() -> None:
    rule = CompletionRule(threshold=0.9, credits_seconds=120)
    assert not rule.completed(100, 300)  # 200 s left > credits, and a 5-minute title is short
    assert not rule.completed(200, 300)  # 100 s left is within "credits" but the title is short


def test_clamp_keeps_positions_within_the_duration() -> None:
    assert RULE.clamp(-5, 100) == 0
    assert RULE.clamp(150.7, 100) == 100
    assert RULE.clamp(42.9, 100) == 42
    assert RULE.completed(10_000, 100)


def test_in_progress_bounds_are_exclusive() -> None:
    assert not RULE.in_progress(50, 1000, completed=False)  # exactly 5%
    assert RULE.in_progress(51, 1000, completed=False)
    assert RULE.in_progress(899, 1000, completed=False)
    assert not RULE.in_progress(900, 1000, completed=False)  # exactly 90%
    assert not RULE.in_progress(400, 1000, completed=True)


# --- continue watching ---------------------------------------------------------------------


def test_continue_watching_keeps_in_progress_rows_newest_first() -> None:
    rows = [
        row("old", 400, updated_at=T0),
        row("newest", 300, updated_at=T0 + timedelta(minutes=5)),
        row("barely-started", 20, updated_at=T0 + timedelta(minutes=9)),
        row("nearly-done", 950, updated_at=T0 + timedelta(minutes=8)),
        row("completed", 500, completed=True, updated_at=T0 + timedelta(minutes=7)),
        row("middle", 600, updated_at=T0 + timedelta(minutes=2)),
    ]
    kept = continue_watching(rows, RULE, limit=10)
    assert [r.content_id for r in kept] == ["newest", "middle", "old"]
    assert [r.content_id for r in continue_watching(rows, RULE, limit=2)] == ["newest", "middle"]


def test_continue_items_carry_title_and_deep_link_and_skip_unknown_titles() -> None:
    netflix = next(p for p in PLATFORMS if p["id"] == "netflix")
    catalog: ContentCatalog = InMemoryCatalog(
        [
            ContentInfo("a", "Alpha", "movie", 1000, (entry(netflix, "80012345"),)),
            ContentInfo("b", "Bravo", "episode", 1000, ()),
        ]
    )
    rows = [
        row("a", 300, updated_at=T0),
        row("b", 500, updated_at=T0 + timedelta(minutes=1)),
        row("gone", 500, updated_at=T0 + timedelta(minutes=2)),
        row("done", 500, completed=True, updated_at=T0 + timedelta(minutes=3)),
    ]
    items = asyncio.run(continue_items(rows, catalog, RULE, 10, "tv"))
    assert [(i.content_id, i.title) for i in items] == [("b", "Bravo"), ("a", "Alpha")]
    assert items[0].deep_link is None
    link = items[1].deep_link
    assert link is not None
    assert link.web_url == "https://www.netflix.com/title/80012345"
    assert link.chosen_url == link.app_url == "nflx://www.netflix.com/title/80012345"
    assert items[1].progress == 0.3


# --- deep links ----------------------------------------------------------------------------


@pytest.mark.parametrize("platform", PLATFORMS, ids=[p["id"] for p in PLATFORMS])
def test_deep_link_templates_render_well_formed_urls(platform: dict[str, str]) -> None:
    platform_id = "tt 0123/45?x=1"  # hostile characters must not break out of the id slot
    devices: tuple[Device, ...] = ("web", "ios", "android", "tv")
    for device in devices:
        link = entry(platform, platform_id).link(device)
        assert link.web_url is not None
        assert link.app_url is not None
        web, app = urlsplit(link.web_url), urlsplit(link.app_url)
        assert web.scheme == "https", link.web_url
        assert web.netloc, link.web_url
        assert app.scheme not in {"", "http", "https"}, link.app_url
        for url in (link.web_url, link.app_url):
            assert not {"{", "}", " "} & set(url), url
            assert "/45?" not in url, url
            assert "tt%200123%2F45%3Fx%3D1" in url
        assert link.chosen_url == (link.web_url if device == "web" else link.app_url)


def test_render_link_without_template_is_none() -> None:
    assert render_link(None, "x") is None
    assert render_link("", "x") is None


def test_pick_platform_prefers_the_wanted_one_else_the_first() -> None:
    assert pick_platform(["hulu", "netflix"], None) == "hulu"
    assert pick_platform(["hulu", "netflix"], "netflix") == "netflix"
    assert pick_platform(["hulu"], "max") is None
    assert pick_platform([], None) is None

"""A title changed through ingestion is served changed — by the cached details and by search —
within the documented time (README, "Performance": details and listings are rendered once per
process and dropped when the catalogue version moves).

The change goes the way a platform's would: a feed with the title's item, its synopsis longer
and carrying a word no title has, fetched by the ingestion service from a loopback HTTP server
(the test stack allows plain http from loopback only). Before the change, the details are read
(so they are cached) and the word is searched for (so its empty answer is cached too).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from harness import catalogue
from harness.accounts import Account, expect
from harness.feed_server import FeedServer
from harness.seeding import RUNS, wait_runs

pytestmark = pytest.mark.e2e

FRESH_WITHIN_SECONDS = 10.0
"""What the README promises: the rendered-answer check (1 s) after the event is consumed."""


def content_id_of(api: httpx.Client, platform: str, platform_id: str) -> str:
    """The title's id as users find it: by its platform's id in the details' external ids."""
    item_title = next(i["title"] for i in seed_items(platform) if i["id"] == platform_id)
    found = expect(api.get("/api/v1/search", params={"q": item_title}), 200).json()["items"]
    for hit in found:
        details = expect(api.get(f"/api/v1/content/{hit['id']}"), 200).json()
        if {"platform": platform, "platform_id": platform_id} in details["external_ids"]:
            return str(hit["id"])
    raise AssertionError(f"{platform} {platform_id} ({item_title}) not found by search")


def seed_items(platform: str) -> list[dict[str, Any]]:
    path = catalogue.default_directory() / "feeds" / f"{platform}.json"
    items: list[dict[str, Any]] = json.loads(path.read_text())["items"]
    return items


def search_ids(api: httpx.Client, q: str) -> list[str]:
    """The first page's ids: vector search answers any query, so a word no title has still
    gets neighbours; a title whose text has the word ranks on the page by full text."""
    return [
        hit["id"] for hit in expect(api.get("/api/v1/search", params={"q": q}), 200).json()["items"]
    ]


def until(check: Callable[[], bool], seconds: float) -> float:
    """Seconds until ``check()`` held; fails after ``seconds``."""
    began = time.monotonic()
    while not check():
        assert time.monotonic() - began < seconds, f"not seen within {seconds:g} s"
        time.sleep(0.1)
    return time.monotonic() - began


def test_a_title_changed_through_ingestion_is_served_changed_by_details_and_search(
    api: httpx.Client, admin_account: Account
) -> None:
    item = dict(seed_items("netflix")[7])
    content_id = content_id_of(api, "netflix", item["id"])
    word = f"quokkaverse{uuid.uuid4().hex[:8]}"
    before = expect(api.get(f"/api/v1/content/{content_id}"), 200).json()
    assert word not in (before["overview"] or "")
    assert content_id not in search_ids(api, word)  # … and this answer is cached now

    item["synopsis"] = f"{before['overview'] or ''} Now with a {word} in every scene."
    feed = {None: {"platform": "netflix", "items": [item]}}
    with FeedServer(feed, "/feeds/netflix.json") as server:
        body = {"platform": "netflix", "source": {"type": "http", "url": server.url}}
        run_id = expect(api.post(RUNS, json=body, headers=admin_account.headers), 202).json()
        [result] = wait_runs(api, admin_account, {run_id["run_id"]: "netflix"}, timeout=60)
    assert result.status == "succeeded", result
    changed_at = time.monotonic()

    def details_changed() -> bool:
        details = expect(api.get(f"/api/v1/content/{content_id}"), 200).json()
        return word in (details["overview"] or "")

    def search_finds_it() -> bool:
        return content_id in search_ids(api, word)

    until(details_changed, FRESH_WITHIN_SECONDS)
    until(search_finds_it, FRESH_WITHIN_SECONDS - (time.monotonic() - changed_at))
    print(f"changed title served after {time.monotonic() - changed_at:.2f} s")

"""Feed adapters (a file in the feeds directory, paginated HTTP) and the service's settings.

The HTTP adapter talks to a real HTTP server on a loopback port, started by the test.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from harness.feed_server import FeedServer
from mediagw.common.errors import ApiError
from mediagw.common.settings import ConfigError, load_settings
from mediagw.ingestion.adapters import FeedError, HttpFeedAdapter, JsonFileAdapter
from mediagw.ingestion.settings import IngestionSettings

pytestmark = pytest.mark.unit
FEED_PATH = "/feeds/netflix.json"

STRONG_SECRET = "k7F2pQ9xLm4R8sTv1WbZ6nYc3HdJ0gUe5AoKqXiVr-Mh"


def collect(adapter: JsonFileAdapter | HttpFeedAdapter) -> list[Any]:
    async def main() -> list[Any]:
        return [item async for item in adapter.items()]

    return asyncio.run(main())


@pytest.fixture
def feeds_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "catalogue" / "feeds"
    directory.mkdir(parents=True)
    (directory / "netflix.json").write_text(
        json.dumps({"platform": "netflix", "items": [{"id": "a"}, {"id": "b"}]})
    )
    (directory / "bare.json").write_text(json.dumps([{"id": "c"}]))
    (directory / "broken.json").write_text("{not json")
    (directory / "prime.json").write_text(json.dumps({"platform": "prime", "items": []}))
    (tmp_path / "catalogue" / "secret.json").write_text("{}")
    (directory / "escape.json").symlink_to(tmp_path / "catalogue" / "secret.json")
    return directory


def refusal(excinfo: pytest.ExceptionInfo[ApiError]) -> tuple[int, str, str | None]:
    return excinfo.value.status, excinfo.value.code, excinfo.value.field


def test_file_adapter_reads_items_of_a_document_or_a_bare_list(feeds_dir: Path) -> None:
    netflix = JsonFileAdapter(feeds_dir, "netflix", "netflix", max_bytes=10_000)
    assert netflix.source == "file:netflix"
    assert collect(netflix) == [{"id": "a"}, {"id": "b"}]
    assert collect(JsonFileAdapter(feeds_dir, "bare", "netflix", max_bytes=10_000)) == [{"id": "c"}]


@pytest.mark.parametrize(
    "name", ["../secret", "/etc/passwd", "../../catalogue/secret", "x/../../secret", "escape"]
)
def test_file_adapter_refuses_paths_outside_the_feeds_dir(feeds_dir: Path, name: str) -> None:
    with pytest.raises(ApiError) as info:
        JsonFileAdapter(feeds_dir, name, "netflix", max_bytes=10_000)
    assert refusal(info) == (400, "path_outside_feeds_dir", "source.name")


def test_file_adapter_refuses_a_missing_feed_or_no_feeds_dir(feeds_dir: Path) -> None:
    with pytest.raises(ApiError) as info:
        JsonFileAdapter(feeds_dir, "hulu", "hulu", max_bytes=10_000)
    assert refusal(info) == (404, "unknown_feed", "source.name")
    with pytest.raises(ApiError) as info:
        JsonFileAdapter(None, "netflix", "netflix", max_bytes=10_000)
    assert refusal(info) == (403, "file_feeds_disabled", "source.type")


def test_file_adapter_fails_the_run_on_a_bad_feed(feeds_dir: Path) -> None:
    with pytest.raises(FeedError, match="not valid JSON"):
        collect(JsonFileAdapter(feeds_dir, "broken", "netflix", max_bytes=10_000))
    with pytest.raises(FeedError, match="feed of 'prime', not of 'netflix'"):
        collect(JsonFileAdapter(feeds_dir, "prime", "netflix", max_bytes=10_000))
    with pytest.raises(FeedError, match="exceeds the 10-byte limit"):
        collect(JsonFileAdapter(feeds_dir, "netflix", "netflix", max_bytes=10))


def http_adapter(url: str, **options: Any) -> HttpFeedAdapter:
    settings: dict[str, Any] = {
        "timeout": 5.0,
        "max_pages": 10,
        "max_bytes": 100_000,
        "allow_plain_http": True,
    }
    return HttpFeedAdapter(url, "netflix", **{**settings, **options})


def test_http_adapter_follows_next_page_until_there_is_none() -> None:
    pages: dict[str | None, Any] = {
        None: {"platform": "netflix", "items": [{"id": "1"}, {"id": "2"}], "next_page": 2},
        "2": {"platform": "netflix", "items": [{"id": "3"}], "next_page": "3"},
        "3": {"platform": "netflix", "items": [{"id": "4"}], "next_page": None},
    }
    with FeedServer(pages, FEED_PATH) as server:
        items = collect(http_adapter(server.url + "?region=US"))
    assert [i["id"] for i in items] == ["1", "2", "3", "4"]
    assert server.requests == [
        "/feeds/netflix.json?region=US",
        "/feeds/netflix.json?region=US&page=2",
        "/feeds/netflix.json?region=US&page=3",
    ]


@pytest.mark.parametrize(
    ("pages", "options", "message"),
    [
        ({None: {"items": [], "next_page": 2}, "2": {"items": [], "next_page": 2}}, {},
         "next_page '2' was already fetched"),
        ({None: {"items": [], "next_page": 2}, "2": {"items": []}}, {"max_pages": 1},
         "more than 1 pages"),
        ({None: {"items": [], "next_page": 5}}, {}, "answered 404"),
        ({None: 503}, {}, "answered 503"),
        ({None: {"items": [{"id": "x" * 500}]}}, {"max_bytes": 100}, "more than 100 bytes"),
        ({None: {"platform": "hulu", "items": []}}, {}, "feed of 'hulu', not of 'netflix'"),
        ({None: {"entries": []}}, {}, "no 'items' list"),
    ],
)  # fmt: skip
def test_http_adapter_fails_the_run_on_a_bad_feed(
    pages: dict[str | None, Any], options: dict[str, Any], message: str
) -> None:
    with (
        FeedServer(pages, FEED_PATH) as server,
        pytest.raises(FeedError, match=message),
    ):
        collect(http_adapter(server.url, **options))


def test_http_adapter_fails_the_run_when_the_server_is_unreachable() -> None:
    with FeedServer({}, FEED_PATH) as server:
        url = server.url
    with pytest.raises(FeedError, match="failed: ConnectError"):
        collect(http_adapter(url))


@pytest.mark.parametrize(
    ("url", "options", "status"),
    [
        # A scheme this deployment does not fetch: configuration, so 403 (the API's document
        # refuses other schemes than http(s) before the adapter sees them, with a 422).
        ("http://feeds.example/netflix", {"allow_plain_http": False}, 403),
        ("ftp://feeds.example/netflix", {}, 403),
        ("https://user:pw@feeds.example/netflix", {}, 422),
        ("https:///netflix", {}, 422),
    ],
)
def test_http_adapter_refuses_unsafe_urls(url: str, options: dict[str, Any], status: int) -> None:
    with pytest.raises(ApiError) as info:
        http_adapter(url, **options)
    assert refusal(info) == (status, "invalid_url", "source.url")


def test_http_adapter_fetches_only_from_the_allowed_hosts() -> None:
    allowed = frozenset({"127.0.0.1", "localhost"})
    with pytest.raises(ApiError) as info:
        http_adapter("https://feeds.example/netflix", allowed_hosts=allowed)
    assert refusal(info) == (403, "feed_host_not_allowed", "source.url")
    assert (
        http_adapter("https://LOCALHOST:8443/feed", allowed_hosts=allowed).url.host == "localhost"
    )
    assert http_adapter("https://feeds.example/netflix").url.host == "feeds.example"  # no list


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.upper().startswith("MG_") or name.upper() == "JWT_SECRET":
            monkeypatch.delenv(name)
    monkeypatch.setenv("JWT_SECRET", STRONG_SECRET)
    monkeypatch.setenv("MG_POSTGRES_URL", "postgresql://mg@127.0.0.1:5432/mg")
    monkeypatch.setenv("MG_REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("MG_KAFKA_BOOTSTRAP", "127.0.0.1:9092, kafka-2:9092")
    return monkeypatch


def test_settings_defaults_and_the_platforms_file_beside_the_feeds(
    clean_env: pytest.MonkeyPatch, feeds_dir: Path
) -> None:
    settings = load_settings(IngestionSettings)
    assert (settings.qdrant_url, settings.qdrant_collection) == (
        "qdrant+embedded://memory",
        "content",
    )
    assert (settings.embedder, settings.feeds_dir, settings.platforms_file) == (
        "minilm",
        None,
        None,
    )
    (feeds_dir.parent / "platforms.json").write_text("[]")
    clean_env.setenv("MG_FEEDS_DIR", str(feeds_dir))
    clean_env.setenv("MG_EMBEDDER", "hashing")
    settings = load_settings(IngestionSettings)
    assert settings.feeds_dir == feeds_dir.resolve()
    assert settings.platforms_file == feeds_dir.parent / "platforms.json"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MG_KAFKA_BOOTSTRAP", "kafka"),
        ("MG_KAFKA_BOOTSTRAP", "http://kafka:9092"),
        ("MG_FEEDS_DIR", "/nonexistent/feeds"),
        ("MG_EMBEDDER", "word2vec"),
        ("MG_QDRANT_URL", "qdrant://x"),
        ("MG_OUTBOX_MAX_BACKOFF_SECONDS", "0"),
        ("MG_KAFKA_TOPIC_PREFIX", "bad prefix"),
    ],
)
def test_bad_settings_are_refused_naming_the_variable(
    clean_env: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    clean_env.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        load_settings(IngestionSettings)
    assert variable in str(info.value)


def test_kafka_bootstrap_is_required(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.delenv("MG_KAFKA_BOOTSTRAP")
    with pytest.raises(ConfigError, match="MG_KAFKA_BOOTSTRAP"):
        load_settings(IngestionSettings)

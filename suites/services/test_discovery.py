"""The discovery service against real PostgreSQL, Redis, Kafka and embedded Qdrant.

The catalogue is a slice of ``data/catalogue`` (600 works from ``truth.json``, their details and
offers from the platform feeds) inserted straight into ``content.*`` with ``HashingEmbedder``
vectors over ``content_text`` — what ingestion would write. The app runs its real lifespan
(the embedded index loads itself from PostgreSQL) and is driven over ASGI with httpx.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from confluent_kafka import Producer
from fastapi import FastAPI
from inprocess import app_client, scenario_runner, settings_for
from prometheus_client import REGISTRY
from qdrant_client.models import ScoredPoint
from redis.asyncio import Redis

from harness.backends import Backend
from harness.isolation import IsolatedDatabase, KafkaTopics, RedisDatabase, TemplateDatabases
from mediagw.common.embedding import HashingEmbedder, content_text
from mediagw.common.events import ContentUpdated, Event
from mediagw.common.tokens import TokenCodec
from mediagw.common.vectors import embedded_lock, open_qdrant
from mediagw.discovery.app import create_app
from mediagw.discovery.cache import VERSION_KEY
from mediagw.discovery.context import DiscoveryContext
from mediagw.discovery.index import VectorIndex, qdrant_filter
from mediagw.discovery.query import Filters
from mediagw.discovery.settings import DiscoverySettings

pytestmark = pytest.mark.integration

CATALOGUE = Path(__file__).resolve().parents[2] / "data" / "catalogue"
WORKS = 600
JSON = {"content-type": "application/json"}
PATHS = ("unfiltered", "overfetch", "filtered_ids", "filtered")


# --- the catalogue slice ----------------------------------------------------------------------


@dataclass(frozen=True)
class Title:
    id: str
    work_id: str
    title: str
    type: str
    year: int
    genres: tuple[str, ...]
    moods: tuple[str, ...]
    platform_ids: dict[str, str]
    popularity: float


@dataclass
class Catalogue:
    titles: dict[str, Title] = field(default_factory=dict)
    platforms: dict[str, dict[str, str]] = field(default_factory=dict)

    def by_title(self, name: str) -> Title:
        return next(t for t in self.titles.values() if t.title == name)


def _feed_entries() -> dict[str, dict[str, dict[str, Any]]]:
    entries: dict[str, dict[str, dict[str, Any]]] = {}
    for path in sorted((CATALOGUE / "feeds").glob("*.json")):
        feed = json.loads(path.read_text())
        key = "id" if feed["items"] and "id" in feed["items"][0] else "asset_id"
        entries[feed["platform"]] = {item[key]: item for item in feed["items"]}
    return entries


def seed(conn: psycopg.Connection[Any], works: int = WORKS, *, offset: int = 0) -> Catalogue:
    """Insert ``works`` works of the catalogue (details from their feed entries)."""
    truth = json.loads((CATALOGUE / "truth.json").read_text())[offset : offset + works]
    platforms = json.loads((CATALOGUE / "platforms.json").read_text())
    feeds = _feed_entries()
    catalogue = Catalogue(platforms={p["id"]: p for p in platforms})
    embedder = HashingEmbedder()
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO content.platforms (id, name, web_url_template, app_url_template)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            [(p["id"], p["name"], p["web_url_template"], p["app_url_template"]) for p in platforms],
        )
        contents, externals, offers, vectors = [], [], [], []
        for work in truth:
            content_id = str(uuid.uuid4())
            entries = {p: feeds[p][pid] for p, pid in work["platform_ids"].items()}
            v2 = next((e for e in entries.values() if "asset_id" in e), None)
            standard = next((e for e in entries.values() if "id" in e), None)
            if standard is not None:
                overview, cast, directors = (
                    standard["synopsis"],
                    standard["cast"],
                    standard["directors"],
                )
                rating, votes = round(standard["rating"] * 2, 1), standard["votes"]
                popularity, language = standard["popularity"], standard["language"]
                runtime = standard["runtime_minutes"]
            else:
                assert v2 is not None
                overview, cast = v2["description"], v2["credits"]["actors"]
                directors = v2["credits"]["directors"]
                rating, votes = round(v2["score"] / 10, 1), v2["score_count"]
                popularity, language = v2["trending"], v2["original_language"]
                runtime = v2["duration_seconds"] // 60
            released = date.fromisoformat(v2["release_date"]) if v2 else None
            contents.append(
                (content_id, work["type"], work["title"], overview, released, work["year"],
                 runtime, work["genres"], work["moods"], cast, directors, rating, votes,
                 popularity, language)
            )  # fmt: skip
            vector = embedder.embed(
                [content_text(work["title"], overview, work["genres"], work["moods"])]
            )[0]
            vectors.append((content_id, "hashing", len(vector), vector.tolist()))
            for platform, entry in entries.items():
                platform_id = entry.get("id") or entry["asset_id"]
                externals.append((platform, platform_id, content_id))
                for offer in entry.get("availability") or entry.get("offers") or []:
                    offers.append(
                        (content_id, platform, offer["region"], offer["offer_type"],
                         offer["price"], offer["currency"], offer["deep_link"],
                         offer["available_from"], offer["available_until"])
                    )  # fmt: skip
            catalogue.titles[content_id] = Title(
                id=content_id,
                work_id=work["work_id"],
                title=work["title"],
                type=work["type"],
                year=work["year"],
                genres=tuple(work["genres"]),
                moods=tuple(work["moods"]),
                platform_ids=dict(work["platform_ids"]),
                popularity=float(popularity),
            )
        cursor.executemany(
            "INSERT INTO content.content (id, type, title, overview, release_date, release_year,"
            " runtime_minutes, genres, moods, cast_members, directors, rating, rating_count,"
            " popularity, language) VALUES"
            " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            contents,
        )
        cursor.executemany(
            "INSERT INTO content.external_ids (platform, platform_id, content_id)"
            " VALUES (%s, %s, %s)",
            externals,
        )
        cursor.executemany(
            "INSERT INTO content.availability (content_id, platform, region, offer_type, price,"
            " currency, deep_link, available_from, available_until)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            offers,
        )
        cursor.executemany(
            "INSERT INTO content.embeddings (content_id, model, dim, vector)"
            " VALUES (%s, %s, %s, %s)",
            vectors,
        )
    return catalogue


@pytest.fixture(scope="module")
def catalogue_db(pg_templates: TemplateDatabases) -> Iterator[tuple[IsolatedDatabase, Catalogue]]:
    """One seeded database for the read-only tests of this module (seeding takes a while)."""
    database = pg_templates.clone()
    try:
        with psycopg.connect(database.url, autocommit=True) as conn:
            catalogue = seed(conn)
        yield database, catalogue
    finally:
        pg_templates.drop(database.name)


# --- running the app --------------------------------------------------------------------------


@dataclass
class World:
    app: FastAPI
    client: httpx.AsyncClient
    catalogue: Catalogue
    settings: DiscoverySettings

    @property
    def context(self) -> DiscoveryContext:
        context: DiscoveryContext = self.app.state.discovery
        return context

    async def search(self, **params: Any) -> dict[str, Any]:
        response = await self.client.get("/api/v1/search", params=params)
        assert response.status_code == 200, response.text[:1000]
        body: dict[str, Any] = response.json()
        return body

    async def uncached_search(self, **params: Any) -> dict[str, Any]:
        """The search once the cache was retired: an answer kept by the process may be
        replayed for up to ``catalogue_check_seconds`` after the version moved, not longer."""
        deadline = time.monotonic() + 1 + self.settings.catalogue_check_seconds
        while (found := await self.search(**params))["cached"] is True:
            assert time.monotonic() < deadline, "a retired answer was still served"
            await asyncio.sleep(0.05)
        return found


def make_settings(
    database: IsolatedDatabase, redis_db: RedisDatabase, qdrant_url: str, **extra: Any
) -> DiscoverySettings:
    values: dict[str, Any] = {
        "qdrant_url": qdrant_url,
        "qdrant_collection": f"content_{uuid.uuid4().hex[:10]}",
        "embedder": "hashing",
        "index_sync_interval_seconds": 0.2,
        **extra,
    }
    return settings_for(DiscoverySettings, database, redis_db, **values)


@asynccontextmanager
async def running(settings: DiscoverySettings, catalogue: Catalogue) -> AsyncIterator[World]:
    app = create_app(settings)
    try:
        async with app_client(app, "discovery") as client:
            deadline = time.monotonic() + 30
            while True:
                ready = await client.get("/health/ready")
                if (
                    ready.status_code == 200
                    and ready.json()["dependencies"]["qdrant"]["status"] == "ok"
                ):
                    break
                assert time.monotonic() < deadline, ready.text
                await asyncio.sleep(0.05)
            yield World(app=app, client=client, catalogue=catalogue, settings=settings)
    finally:
        qdrant = open_qdrant(settings.qdrant_url)
        if qdrant.collection_exists(settings.qdrant_collection):
            qdrant.delete_collection(settings.qdrant_collection)
        if not settings.qdrant_url.startswith("qdrant+embedded://"):
            qdrant.close()


Scenario = Callable[[World], Awaitable[None]]


@pytest.fixture
def run_world(
    catalogue_db: tuple[IsolatedDatabase, Catalogue],
    redis_db: RedisDatabase,
    qdrant_backend: Backend,
) -> Callable[..., None]:
    database, catalogue = catalogue_db

    def start(**extra: Any) -> AbstractAsyncContextManager[World]:
        settings = make_settings(database, redis_db, qdrant_backend.url, **extra)
        return running(settings, catalogue)

    return scenario_runner(start)


def counter(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def assert_error(response: httpx.Response, status: int, field: str | None, code: str) -> None:
    assert response.status_code == status, response.text[:500]
    error = response.json()["error"]
    assert set(error) == {"code", "message", "field", "request_id"}
    assert error["field"] == field, error
    assert error["code"] == code, error


# --- search quality ---------------------------------------------------------------------------


def test_funny_scifi_from_the_90s_ranks_90s_scifi_first(run_world: Callable[..., None]) -> None:
    async def scenario(world: World) -> None:
        body = await world.search(q="funny sci-fi from the 90s")
        assert body["parsed"]["genres"] == ["sci-fi"]
        assert body["parsed"]["moods"] == ["funny"]
        assert (body["parsed"]["year_from"], body["parsed"]["year_to"]) == (1990, 1999)
        assert body["parsed"]["text"] == ""
        assert body["prefer_moods"] == ["funny"]
        expected = {
            t.id
            for t in world.catalogue.titles.values()
            if "sci-fi" in t.genres and 1990 <= t.year <= 1999
        }
        assert len(expected) >= 5, "the slice holds enough 90s sci-fi to judge the top 5"
        top = body["items"][:5]
        assert len(top) == 5
        for item in top:
            assert "sci-fi" in item["genres"], item
            assert 1990 <= item["year"] <= 1999, item
        assert {i["id"] for i in body["items"]} <= expected
        funny = [t for t in expected if "funny" in world.catalogue.titles[t].moods]
        assert funny, "the slice holds funny 90s sci-fi"
        assert {i["id"] for i in body["items"][: len(funny)]} == set(funny), (
            "the funny ones rank first"
        )
        assert body["personalised"] is False

    run_world(scenario)


def test_filters_are_honoured_by_every_result(run_world: Callable[..., None]) -> None:
    async def scenario(world: World) -> None:
        body = await world.search(
            q="story", platform="netflix", genre="drama", year_from=2000, year_to=2025,
            type="movie", page_size=50,
        )  # fmt: skip
        assert body["filters"]["platforms"] == ["netflix"]
        assert body["items"], "the slice has netflix dramas since 2000"
        for item in body["items"]:
            assert "drama" in item["genres"]
            assert 2000 <= item["year"] <= 2025
            assert item["type"] == "movie"
            assert "netflix" in {o["platform"] for o in item["availability"]}, item
            assert all(o["region"] == "US" for o in item["availability"])

        # the same filters read from the query itself, in another region
        parsed = await world.search(q="dramas on netflix after 1999", region="gb", page_size=50)
        assert parsed["filters"]["genres"] == ["drama"]
        assert parsed["filters"]["platforms"] == ["netflix"]
        assert parsed["filters"]["year_from"] == 2000
        assert parsed["region"] == "GB"
        assert parsed["items"]
        for item in parsed["items"]:
            assert "drama" in item["genres"]
            assert item["year"] >= 2000
            assert "netflix" in {o["platform"] for o in item["availability"]}
            assert {o["region"] for o in item["availability"]} == {"GB"}

        # explicit beats parsed: the query says sci-fi, the parameter says comedy
        explicit = await world.search(q="sci-fi", genre="comedy", page_size=50)
        assert explicit["parsed"]["genres"] == ["sci-fi"]
        assert explicit["filters"]["genres"] == ["comedy"]
        assert explicit["items"]
        assert all("comedy" in item["genres"] for item in explicit["items"])

        # POST /search/semantic: explicit moods and a rating floor are hard filters
        response = await world.client.post(
            "/api/v1/search/semantic",
            json={
                "query": "a journey into the unknown",
                "filters": {"moods": ["epic"], "types": ["series"], "rating_min": 6.5},
                "page_size": 50,
            },
        )
        assert response.status_code == 200, response.text
        semantic = response.json()
        assert semantic["filters"]["moods"] == ["epic"]
        assert semantic["items"]
        for item in semantic["items"]:
            assert "epic" in item["moods"]
            assert item["type"] == "series"
            assert item["rating"] >= 6.5

    run_world(scenario)


def test_pagination_is_stable_and_pages_do_not_overlap(run_world: Callable[..., None]) -> None:
    async def scenario(world: World) -> None:
        pages = [await world.search(q="dark thriller", page=p, page_size=10) for p in (1, 2, 3)]
        ids = [[i["id"] for i in page["items"]] for page in pages]
        assert all(len(page) == 10 for page in ids)
        flat = [i for page in ids for i in page]
        assert len(set(flat)) == 30, "no title appears on two pages"
        assert pages[0]["total"] == pages[2]["total"] >= 30
        assert pages[0]["has_more"] is True
        again = await world.search(q="dark thriller", page=2, page_size=10)
        assert [i["id"] for i in again["items"]] == ids[1]
        whole = await world.search(q="dark thriller", page=1, page_size=30)
        assert [i["id"] for i in whole["items"]] == flat, "pages are slices of one ranking"
        scores = [i["score"] for i in whole["items"]]
        assert scores == sorted(scores, reverse=True)
        beyond = await world.search(q="dark thriller", page=999, page_size=50)
        assert beyond["items"] == []
        assert beyond["has_more"] is False

    run_world(scenario)


def test_title_words_find_the_title(run_world: Callable[..., None]) -> None:
    async def scenario(world: World) -> None:
        title = world.catalogue.by_title("The Crystal Sword")
        body = await world.search(q="crystal sword")
        assert body["parsed"]["text"] == "crystal sword"
        assert body["items"][0]["id"] == title.id

    run_world(scenario)


# --- autocomplete, details, similar, listings -------------------------------------------------


def test_autocomplete_completes_prefixes_by_popularity(run_world: Callable[..., None]) -> None:
    async def scenario(world: World) -> None:
        response = await world.client.get("/api/v1/search/autocomplete", params={"q": "The Cr"})
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        starting = [t for t in world.catalogue.titles.values() if t.title.startswith("The Cr")]
        assert 0 < len(items) <= 10
        assert all(i["title"].lower().startswith("the cr") for i in items[: len(starting)])
        expected = sorted(starting, key=lambda t: -t.popularity)[:10]
        assert [i["id"] for i in items[: len(expected)]] == [t.id for t in expected]

        # a word inside the title, then a typo: word-prefix and trigram matches
        word = await world.client.get("/api/v1/search/autocomplete", params={"q": "crystal sw"})
        assert "The Crystal Sword" in [i["title"] for i in word.json()["items"]]
        typo = await world.client.get("/api/v1/search/autocomplete", params={"q": "crystl sword"})
        assert "The Crystal Sword" in [i["title"] for i in typo.json()["items"]]
        wildcard = await world.client.get("/api/v1/search/autocomplete", params={"q": "%_"})
        assert wildcard.status_code == 200
        assert wildcard.json()["items"] == [], "LIKE wildcards in the input are literal characters"
        many = await world.client.get("/api/v1/search/autocomplete", params={"q": "the"})
        assert len(many.json()["items"]) == 10

    run_world(scenario)


def test_content_details_have_availability_and_deep_links(run_world: Callable[..., None]) -> None:
    async def scenario(world: World) -> None:
        title = world.catalogue.by_title("The Crystal Sword")
        response = await world.client.get(f"/api/v1/content/{title.id}")
        assert response.status_code == 200, response.text
        details = response.json()
        assert details["title"] == "The Crystal Sword"
        assert details["genres"] == list(title.genres)
        assert {(x["platform"], x["platform_id"]) for x in details["external_ids"]} == set(
            title.platform_ids.items()
        )
        assert {o["platform"] for o in details["availability"]} == set(title.platform_ids)
        assert len({o["region"] for o in details["availability"]}) > 1, "every region listed"
        for offer in details["availability"]:
            platform = world.catalogue.platforms[offer["platform"]]
            platform_id = title.platform_ids[offer["platform"]]
            assert offer["deep_link"] == platform["web_url_template"].format(
                platform_id=platform_id
            )
            assert offer["app_link"] == platform["app_url_template"].format(platform_id=platform_id)
        links = {d["platform"]: d for d in details["deep_links"]}
        assert set(links) == set(title.platform_ids)
        for platform_id, link in links.items():
            assert title.platform_ids[platform_id] in link["web_url"]
            assert link["app_url"].startswith(
                world.catalogue.platforms[platform_id]["app_url_template"].split("{")[0]
            )
        regional = await world.client.get(f"/api/v1/content/{title.id}", params={"region": "us"})
        assert {o["region"] for o in regional.json()["availability"]} <= {"US"}

        missing = await world.client.get(f"/api/v1/content/{uuid.uuid4()}")
        assert_error(missing, 404, "content_id", "not_found")
        # Only a UUID names a title (the documented pattern of `content_id`): any other segment
        # is no resource at all.
        malformed = await world.client.get("/api/v1/content/not-a-uuid")
        assert_error(malformed, 404, None, "not_found")

    run_world(scenario)


def test_similar_titles_share_genres(run_world: Callable[..., None]) -> None:
    async def scenario(world: World) -> None:
        checked = 0
        for title in sorted(world.catalogue.titles.values(), key=lambda t: t.work_id)[:20]:
            response = await world.client.get(
                f"/api/v1/content/{title.id}/similar", params={"limit": 5}
            )
            assert response.status_code == 200, response.text
            items = response.json()["items"]
            assert len(items) == 5
            assert title.id not in {i["id"] for i in items}, "a title is not similar to itself"
            sharing = [i for i in items if set(i["genres"]) & set(title.genres)]
            assert len(sharing) >= 3, (title.title, title.genres, [i["genres"] for i in items])
            scores = [i["score"] for i in items]
            assert all(a >= b - 1e-4 for a, b in itertools.pairwise(scores)), "best first"
            checked += 1
        assert checked == 20
        missing = await world.client.get(f"/api/v1/content/{uuid.uuid4()}/similar")
        assert_error(missing, 404, "content_id", "not_found")

    run_world(scenario)


def test_platforms_and_genres_are_listed_with_counts(run_world: Callable[..., None]) -> None:
    async def scenario(world: World) -> None:
        platforms = (await world.client.get("/api/v1/platforms")).json()["items"]
        assert {p["id"] for p in platforms} == set(world.catalogue.platforms)
        assert all(p["content_count"] > 0 for p in platforms)
        netflix = next(p for p in platforms if p["id"] == "netflix")
        assert netflix["name"] == "Netflix"
        assert netflix["web_url_template"] == "https://www.netflix.com/title/{platform_id}"

        listing = (await world.client.get("/api/v1/genres")).json()
        genres = {g["id"]: g for g in listing["items"]}
        assert genres["sci-fi"]["name"] == "Sci-Fi"
        carried = sum(1 for t in world.catalogue.titles.values() if "sci-fi" in t.genres)
        assert genres["sci-fi"]["content_count"] == carried
        assert {m["id"] for m in listing["moods"]} >= {"funny", "scary", "epic"}

    run_world(scenario)


# --- cache ------------------------------------------------------------------------------------


def test_repeated_search_hits_the_cache_and_a_version_bump_misses(
    run_world: Callable[..., None], redis_db: RedisDatabase
) -> None:
    async def scenario(world: World) -> None:
        hits, misses = (counter("search_cache_total", {"result": r}) for r in ("hit", "miss"))
        first = await world.search(q="haunted house", page_size=5)
        assert first["cached"] is False
        assert counter("search_cache_total", {"result": "miss"}) == misses + 1
        second = await world.search(q="  Haunted   HOUSE ", page_size=5)
        assert second["cached"] is True, "the normalised query is the same"
        assert counter("search_cache_total", {"result": "hit"}) == hits + 1
        assert [i["id"] for i in second["items"]] == [i["id"] for i in first["items"]]
        other_page = await world.search(q="haunted house", page_size=5, page=2)
        assert other_page["cached"] is False

        redis = Redis.from_url(redis_db.url, decode_responses=True)
        try:
            keys = [k async for k in redis.scan_iter("search:cache:*") if k != VERSION_KEY]
            assert len(keys) == 2
            assert all(len(k.removeprefix("search:cache:")) == 64 for k in keys)
            assert 0 < await redis.ttl(keys[0]) <= world.settings.search_cache_ttl_seconds
            await redis.incr(VERSION_KEY)
        finally:
            await redis.aclose()
        after_bump = await world.search(q="haunted house", page_size=5)
        assert after_bump["cached"] is False, "a bumped version misses"
        assert counter("search_cache_total", {"result": "miss"}) == misses + 3
        assert (await world.search(q="haunted house", page_size=5))["cached"] is True

    run_world(scenario)


def test_a_content_event_on_kafka_invalidates_the_cache(
    catalogue_db: tuple[IsolatedDatabase, Catalogue],
    redis_db: RedisDatabase,
    qdrant_backend: Backend,
    kafka_backend: Backend,
    kafka_topics: KafkaTopics,
) -> None:
    database, catalogue = catalogue_db
    topic = kafka_topics.create("content-updated")
    settings = make_settings(
        database, redis_db, qdrant_backend.url,
        kafka_bootstrap=kafka_backend.url,
        cache_invalidation_topics=topic,
        kafka_group_id=f"discovery-cache-{uuid.uuid4().hex[:8]}",
        kafka_session_timeout_ms=3000,
    )  # fmt: skip
    title = catalogue.by_title("The Crystal Sword")
    event = Event.of(
        ContentUpdated(content_id=title.id, changed_fields=["title"], source_platform="prime"),
        key=title.id,
    )
    producer = Producer({"bootstrap.servers": kafka_backend.url})

    async def main() -> None:
        async with running(settings, catalogue) as world:
            await world.search(q="crystal")
            assert (await world.search(q="crystal"))["cached"] is True
            bumps = counter("search_cache_invalidations_total", {"source": "kafka"})
            deadline = time.monotonic() + 30
            # the consumer starts at the latest offset once it joins: send until it sees one
            while counter("search_cache_invalidations_total", {"source": "kafka"}) == bumps:
                assert time.monotonic() < deadline, "the consumer never saw the event"
                producer.produce(topic, key=event.key, value=event.model_dump_json())
                producer.flush(5)
                await asyncio.sleep(0.5)
            # … and the process's kept answers go with it within catalogue_check_seconds
            await world.uncached_search(q="crystal")

    asyncio.run(main())
    assert producer.flush(5) == 0


# --- input validation -------------------------------------------------------------------------


def test_bad_input_gets_a_reason_never_a_500(
    run_world: Callable[..., None], catalogue_db: tuple[IsolatedDatabase, Catalogue]
) -> None:
    async def scenario(world: World) -> None:
        get = world.client.get
        assert_error(await get("/api/v1/search", params={"q": ""}), 422, "q", "validation_failed")
        assert_error(await get("/api/v1/search"), 422, "q", "validation_failed")
        assert_error(
            await get("/api/v1/search", params={"q": "   "}), 422, "q", "validation_failed"
        )
        assert_error(
            await get("/api/v1/search", params={"q": "x" * 10_240}), 422, "q", "validation_failed"
        )
        assert_error(
            await get("/api/v1/search", params={"q": "a\x00b"}), 422, "q", "validation_failed"
        )
        unknown = await get("/api/v1/search", params={"q": "space", "genre": "space-opera-x"})
        assert_error(unknown, 404, "genre", "unknown_filter_value")
        assert "space-opera-x" in unknown.json()["error"]["message"]
        assert_error(
            await get("/api/v1/search", params={"q": "space", "platform": "myspace"}),
            404, "platform", "unknown_filter_value",
        )  # fmt: skip
        assert_error(
            await get("/api/v1/search", params={"q": "space", "type": "podcast"}),
            404, "type", "unknown_filter_value",
        )  # fmt: skip
        inverted = await get(
            "/api/v1/search", params={"q": "space", "year_from": 2000, "year_to": 1990}
        )
        assert inverted.status_code == 200, inverted.text  # read in order: 1990 to 2000
        applied = inverted.json()["filters"]
        assert (applied["year_from"], applied["year_to"]) == (1990, 2000)
        for params, name in (
            ({"q": "space", "page": 0}, "page"),
            ({"q": "space", "page_size": 51}, "page_size"),
            ({"q": "space", "page_size": 0}, "page_size"),
            ({"q": "space", "region": "usa"}, "region"),
            ({"q": "space", "year_from": 1200}, "year_from"),
            ({"q": "space", "rating_min": 11}, "rating_min"),
        ):
            assert_error(await get("/api/v1/search", params=params), 422, name, "validation_failed")

        post = world.client.post
        bad_body = await post(
            "/api/v1/search/semantic", json={"query": "space", "filters": {"genres": ["nope"]}}
        )
        assert_error(bad_body, 404, "filters.genres", "unknown_filter_value")
        assert_error(
            await post("/api/v1/search/semantic", json={"query": "space", "extra": 1}),
            422, "extra", "validation_failed",
        )  # fmt: skip
        assert_error(
            await post("/api/v1/search/semantic", json={"query": " "}),
            422, "query", "validation_failed",
        )  # fmt: skip
        assert_error(
            await post("/api/v1/search/semantic", content=b"{nope", headers=JSON),
            400, "body", "malformed_json",
        )  # fmt: skip
        assert_error(
            await get("/api/v1/search/autocomplete", params={"q": ""}),
            422,
            "q",
            "validation_failed",
        )

        for text in (
            "'; DROP TABLE content.content; --",
            'sci-fi" OR 1=1 --',
            "日本の映画 アニメ",
            "émigré café naïve 🎬🍿",
            '"unbalanced quote -',
            "or or and not !!! ()",
            "the of and",
            "%_\\",
        ):
            response = await get("/api/v1/search", params={"q": text})
            assert response.status_code == 200, (text, response.text[:300])
            assert isinstance(response.json()["items"], list)
            completion = await get("/api/v1/search/autocomplete", params={"q": text[:100]})
            assert completion.status_code == 200, (text, completion.text[:300])
        with psycopg.connect(catalogue_db[0].url) as conn:
            row = conn.execute("SELECT count(*) FROM content.content").fetchone()
        assert row is not None
        assert row[0] == WORKS, "the catalogue is intact"

    run_world(scenario)


# --- personalisation (unpersonalised path) and readiness --------------------------------------


def test_search_without_sona_is_unpersonalised(run_world: Callable[..., None]) -> None:
    async def scenario(world: World) -> None:
        anonymous = await world.search(q="epic fantasy")
        assert anonymous["personalised"] is False
        assert all(i["personal_score"] is None for i in anonymous["items"])

        ready = (await world.client.get("/health/ready")).json()
        assert ready["dependencies"]["sona"]["required"] is False
        assert ready["dependencies"]["sona"]["status"] == "down"
        assert {n: d["status"] for n, d in ready["dependencies"].items() if d["required"]} == {
            "postgres": "ok",
            "redis": "ok",
            "qdrant": "ok",
        }

        # signed in, but no SONA anywhere: the fused order stands and the fallback is counted
        token, _ = TokenCodec(world.settings).issue(str(uuid.uuid4()), {"read"})
        before = counter("search_rerank_fallback_total", {"reason": "unavailable"})
        response = await world.client.get(
            "/api/v1/search",
            params={"q": "epic fantasy"},
            headers={"authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text
        signed_in = response.json()
        assert signed_in["personalised"] is False
        assert [i["id"] for i in signed_in["items"]] == [i["id"] for i in anonymous["items"]]
        assert counter("search_rerank_fallback_total", {"reason": "unavailable"}) == before + 1

        bad_token = await world.client.get(
            "/api/v1/search", params={"q": "x"}, headers={"authorization": "Bearer nope"}
        )
        assert_error(bad_token, 401, "Authorization", "invalid_token")

    run_world(scenario)


# --- the embedded index -----------------------------------------------------------------------


def assert_same_ranking(got: list[str], points: list[ScoredPoint], limit: int) -> None:
    """``got`` is the top ``limit`` of ``points`` (Qdrant's filtered answer, fetched a little
    longer), allowing for near-equal scores in either order: the embedded engine's scores move
    in the 7th decimal between calls."""
    scores = {str(p.id): p.score for p in points}
    assert len(got) == min(limit, len(points))
    assert set(got) <= set(scores), "every title passes the filters"
    in_order = [scores[i] for i in got]
    assert all(a >= b - 1e-4 for a, b in itertools.pairwise(in_order)), "best first"
    cut = min(in_order) if in_order else 1.0
    left_out = [s for i, s in scores.items() if i not in set(got)]
    assert all(s <= cut + 1e-4 for s in left_out), "nothing better was left out"


def test_embedded_shortcuts_match_the_filtered_query(run_world: Callable[..., None]) -> None:
    """The over-fetch and the has_id fallback give exactly Qdrant's filtered top list."""

    async def scenario(world: World) -> None:
        engine, index = world.context.engine, world.context.index
        assert index.embedded
        limit = world.settings.vector_candidates
        vector = await engine.embed("a tense story")
        cases = [
            (Filters(types=("movie",)), "overfetch"),  # common: the over-fetch suffices
            (Filters(genres=("sci-fi",), year_from=1990, year_to=1999), "filtered_ids"),  # rare
            (Filters(types=("series",), rating_min=7.0), "filtered_ids"),
        ]
        for filters, expected_path in cases:
            paths = {p: counter("search_vector_path_total", {"path": p}) for p in PATHS}
            got = await engine.nearest(vector, filters, "US")
            direct = world.context.qdrant.query_points(
                world.settings.qdrant_collection,
                query=vector,
                query_filter=qdrant_filter(filters),
                limit=limit + 10,
            )
            assert_same_ranking(got, direct.points, limit)
            used = [
                p for p, n in paths.items() if counter("search_vector_path_total", {"path": p}) > n
            ]
            assert used == [expected_path], filters

        # without the engine's PostgreSQL shortcut, the index falls back to the payload filter
        rare = cases[1][0]
        before = counter("search_vector_path_total", {"path": "filtered"})
        alone = await asyncio.to_thread(index.search, vector, rare, limit)
        assert set(alone) == set(await engine.nearest(vector, rare, "US"))
        assert counter("search_vector_path_total", {"path": "filtered"}) == before + 1

    run_world(scenario)


def test_filters_too_selective_for_the_over_fetch_skip_it_next_time(
    run_world: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A short over-fetch costs as much as the query after it: the same filters (the next page
    of a search) go straight to PostgreSQL's narrowing, with the same answer."""

    async def scenario(world: World) -> None:
        engine, index = world.context.engine, world.context.index
        vector = await engine.embed("a tense story")
        rare, common = (
            Filters(genres=("sci-fi",), year_from=1990, year_to=1999),
            Filters(types=("movie",)),
        )
        first = await engine.nearest(vector, rare, "US")
        tried: list[Filters] = []
        overfetched = index.overfetched

        def counting(vector: list[float], filters: Filters, limit: int) -> list[str] | None:
            tried.append(filters)
            return overfetched(vector, filters, limit)

        monkeypatch.setattr(index, "overfetched", counting)
        ids_path = counter("search_vector_path_total", {"path": "filtered_ids"})
        assert await engine.nearest(vector, rare, "US") == first
        assert tried == [], "the over-fetch was skipped"
        assert counter("search_vector_path_total", {"path": "filtered_ids"}) == ids_path + 1
        await engine.nearest(vector, common, "US")
        assert tried == [common], "filters the over-fetch serves still try it"

    run_world(scenario)


def test_a_failing_vector_index_leaves_full_text_results(run_world: Callable[..., None]) -> None:
    async def scenario(world: World) -> None:
        engine = world.context.engine
        working = engine.index
        engine.index = VectorIndex(
            working.client,
            "no_such_collection",
            overfetch=world.settings.embedded_overfetch,
            lock=embedded_lock(world.settings.qdrant_url),
        )
        failures = counter("search_vector_failures_total", {})
        try:
            body = await world.search(q="crystal sword")
        finally:
            engine.index = working
        assert body["items"][0]["title"] == "The Crystal Sword", "full-text still answers"
        assert counter("search_vector_failures_total", {}) == failures + 1

    run_world(scenario)


def test_a_dropped_collection_is_rebuilt_from_postgres(run_world: Callable[..., None]) -> None:
    async def scenario(world: World) -> None:
        index, name = world.context.index, world.settings.qdrant_collection
        with embedded_lock(world.settings.qdrant_url):
            world.context.qdrant.delete_collection(name)
        deadline = time.monotonic() + 15
        while not world.context.qdrant.collection_exists(name) or (
            await asyncio.to_thread(index.count) < WORKS
        ):
            assert time.monotonic() < deadline, "the collection was not rebuilt"
            await asyncio.sleep(0.1)
        assert await asyncio.to_thread(index.count) == WORKS
        similar = await world.client.get(
            f"/api/v1/content/{next(iter(world.catalogue.titles))}/similar"
        )
        assert similar.status_code == 200
        assert len(similar.json()["items"]) == 10

    run_world(scenario)


def test_embedded_index_loads_at_start_and_follows_postgres(
    pg_database: IsolatedDatabase, redis_db: RedisDatabase, qdrant_backend: Backend
) -> None:
    with psycopg.connect(pg_database.url, autocommit=True) as conn:
        catalogue = seed(conn, 80)
    settings = make_settings(pg_database, redis_db, qdrant_backend.url)

    async def main() -> None:
        async with running(settings, catalogue) as world:
            index = world.context.index
            assert await asyncio.to_thread(index.count) == 80, "loaded from PostgreSQL at start"
            point = world.context.qdrant.retrieve(
                settings.qdrant_collection, ids=[next(iter(catalogue.titles))], with_payload=True
            )[0]
            assert point.payload is not None
            assert set(point.payload) == {
                "title", "type", "genres", "moods", "year", "platforms", "regions", "rating",
                "popularity",
            }  # fmt: skip
            await world.search(q="zanzibar nights")
            assert (await world.search(q="zanzibar nights"))["cached"] is True

            new_id, other_id = str(uuid.uuid4()), str(uuid.uuid4())
            text = content_text("Zanzibar Nights", "A quirky heist.", ["crime"], ["quirky"])
            vector = HashingEmbedder().embed([text])[0].tolist()
            async with await psycopg.AsyncConnection.connect(pg_database.url) as conn:
                for content_id, title, model in (
                    (new_id, "Zanzibar Nights", "hashing"),
                    (other_id, "Zanzibar Other Model", "minilm"),
                ):
                    await conn.execute(
                        "INSERT INTO content.content (id, type, title, overview, release_year,"
                        " genres, moods, popularity) VALUES (%s, 'movie', %s, 'A quirky heist.',"
                        " 2001, '{crime}', '{quirky}', 3.0)",
                        (content_id, title),
                    )
                    await conn.execute(
                        "INSERT INTO content.embeddings (content_id, model, dim, vector)"
                        " VALUES (%s, %s, 384, %s)",
                        (content_id, model, vector),
                    )
                await conn.commit()
            deadline = time.monotonic() + 10
            while await asyncio.to_thread(index.vector_of, new_id) is None:
                assert time.monotonic() < deadline, "the new title never reached the index"
                await asyncio.sleep(0.1)
            assert await asyncio.to_thread(index.count) == 81, "only the service's own model"
            assert await asyncio.to_thread(index.vector_of, other_id) is None
            # the index upkeep retired the cached searches (kept answers follow within a check)
            found = await world.uncached_search(q="zanzibar nights")
            assert found["items"][0]["id"] == new_id
            filtered = await world.search(q="quirky heist", genre="crime", year_from=2001)
            assert new_id in {i["id"] for i in filtered["items"][:2]}
            similar = await world.client.get(f"/api/v1/content/{new_id}/similar")
            assert similar.status_code == 200
            assert similar.json()["items"]

    asyncio.run(main())

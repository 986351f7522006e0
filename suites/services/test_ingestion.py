"""The ingestion service against real PostgreSQL, Redis, Kafka (tansu) and embedded Qdrant.

Feeds are slices of the generated catalogue (``data/catalogue``): works carried by Netflix
(standard format) and Prime Video (catalog-v2 format), some by both, so entity resolution is
checked against ``truth.json``. Events are read back from the topics by a real consumer and
matched, event id by event id, with the outbox.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from inprocess import app_client, scenario_runner, settings_for
from qdrant_client import QdrantClient

from harness import catalogue
from harness.backends import Backend
from harness.feed_server import FeedServer
from harness.isolation import IsolatedDatabase, KafkaTopics, QdrantCollections, RedisDatabase
from harness.topics import consume
from mediagw.common.events import PAYLOADS, Event
from mediagw.common.tokens import TokenCodec
from mediagw.common.vectors import open_qdrant
from mediagw.ingestion.app import create_app
from mediagw.ingestion.context import IngestionContext
from mediagw.ingestion.settings import IngestionSettings

pytestmark = pytest.mark.integration

QDRANT_URL = "qdrant+embedded://memory"
SHARED, NETFLIX_ONLY, PRIME_ONLY = 6, 3, 3
EVENT_TYPES = ("content.ingested", "content.updated", "availability.changed")


# --- the feeds -----------------------------------------------------------------------------------


@dataclass
class Slice:
    """A small catalogue: feeds of netflix and prime in ``feeds_dir``, and their truth."""

    feeds_dir: Path
    works: list[dict[str, Any]]
    items: dict[str, list[dict[str, Any]]]

    def write(self, platform: str, items: list[dict[str, Any]] | None = None) -> None:
        document = {"platform": platform, "items": items or self.items[platform]}
        (self.feeds_dir / f"{platform}.json").write_text(json.dumps(document))

    def offers(self, platform: str) -> int:
        key = "availability" if platform == "netflix" else "offers"
        return sum(len(item[key]) for item in self.items[platform])

    def work_of(self, platform: str, platform_id: str) -> dict[str, Any]:
        return next(w for w in self.works if w["platform_ids"].get(platform) == platform_id)


def _item_id(item: dict[str, Any]) -> str:
    return str(item.get("id") or item.get("asset_id"))


@pytest.fixture
def feeds(tmp_path: Path) -> Slice:
    """12 works: 6 on both platforms (2 of them without an IMDb id, so matched by title),
    3 on each platform only."""
    source = catalogue.default_directory()
    truth = json.loads((source / "truth.json").read_text())
    by_platform = {
        p: {
            _item_id(i): i
            for i in json.loads((source / "feeds" / f"{p}.json").read_text())["items"]
        }
        for p in ("netflix", "prime")
    }

    def imdb(work: dict[str, Any]) -> str | None:
        found = by_platform["netflix"][work["platform_ids"]["netflix"]].get("imdb_id")
        return str(found) if found else None

    both = [w for w in truth if {"netflix", "prime"} <= set(w["platform_ids"])]
    shared = [w for w in both if imdb(w) is None][:2] + [w for w in both if imdb(w)][: SHARED - 2]
    netflix = [w for w in truth if set(w["platform_ids"]) & {"netflix", "prime"} == {"netflix"}]
    prime = [w for w in truth if set(w["platform_ids"]) & {"netflix", "prime"} == {"prime"}]
    works = shared + netflix[:NETFLIX_ONLY] + prime[:PRIME_ONLY]
    items = {
        p: [by_platform[p][w["platform_ids"][p]] for w in works if p in w["platform_ids"]]
        for p in ("netflix", "prime")
    }
    feeds_dir = tmp_path / "catalogue" / "feeds"
    feeds_dir.mkdir(parents=True)
    (feeds_dir.parent / "platforms.json").write_text((source / "platforms.json").read_text())
    (tmp_path / "secret.json").write_text("{}")
    data = Slice(feeds_dir, works, items)
    data.write("netflix")
    data.write("prime")
    return data


# --- the service ---------------------------------------------------------------------------------


@dataclass
class World:
    app: Any
    client: httpx.AsyncClient
    ctx: IngestionContext
    settings: IngestionSettings
    admin: dict[str, str]
    qdrant: QdrantClient
    db_url: str
    topics: dict[str, str] = field(default_factory=dict)

    def db(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.db_url, autocommit=True)

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with self.db() as conn:
            return conn.execute(sql, params).fetchall()

    def scalar(self, sql: str, *params: Any) -> Any:
        return self.rows(sql, *params)[0][0]


@dataclass
class Resources:
    """A test's isolated database, Redis DB, topic prefix and Qdrant collection."""

    db: IsolatedDatabase
    redis: RedisDatabase
    collections: QdrantCollections
    prefix: str = field(default_factory=lambda: f"ing{uuid.uuid4().hex[:10]}.")


@pytest.fixture
def resources(pg_database: IsolatedDatabase, redis_db: RedisDatabase) -> Iterator[Resources]:
    collections = QdrantCollections(open_qdrant(QDRANT_URL))
    found = Resources(pg_database, redis_db, collections)
    try:
        yield found
    finally:
        collections.cleanup()


def ingestion_settings(
    res: Resources, bootstrap: str, feeds: Slice, **extra: Any
) -> IngestionSettings:
    values: dict[str, Any] = {
        "kafka_bootstrap": bootstrap,
        "kafka_topic_prefix": res.prefix,
        "kafka_topic_partitions": 2,
        "kafka_message_timeout_ms": 3000,
        "qdrant_url": QDRANT_URL,
        "qdrant_collection": res.collections.name("content"),
        "embedder": "hashing",
        "feeds_dir": feeds.feeds_dir,
        "ingest_batch_size": 5,
        "outbox_poll_interval_seconds": 0.1,
        "outbox_base_backoff_seconds": 0.2,
        "outbox_max_backoff_seconds": 1.0,
        **extra,
    }
    return settings_for(IngestionSettings, res.db, res.redis, **values)


@asynccontextmanager
async def running(
    settings: IngestionSettings, topics: KafkaTopics | None = None
) -> AsyncIterator[World]:
    """The app with its lifespan running; the topics it creates are left to ``topics`` to
    delete (none for a private broker, which is thrown away)."""
    app = create_app(settings)
    token, _ = TokenCodec(settings).issue(str(uuid.uuid4()), {"admin", "read", "write"})
    async with app_client(app, "ingestion", request_timeout=30) as client:
        world = World(
            app=app,
            client=client,
            ctx=app.state.ingestion,
            settings=settings,
            admin={"Authorization": f"Bearer {token}"},
            qdrant=open_qdrant(QDRANT_URL),
            db_url=settings.postgres_url,
            topics={t: f"{settings.kafka_topic_prefix}{t}" for t in EVENT_TYPES},
        )
        if topics is not None:
            topics.created.extend(t for t in world.topics.values() if t not in topics.created)
        yield world


Scenario = Callable[[World], Awaitable[None]]


@pytest.fixture
def run(
    resources: Resources, kafka_backend: Backend, kafka_topics: KafkaTopics, feeds: Slice
) -> Callable[..., None]:
    """``run(scenario, **settings)``: the scenario against a started app, under asyncio.run."""

    def start(**extra: Any) -> AbstractAsyncContextManager[World]:
        settings = ingestion_settings(resources, kafka_backend.url, feeds, **extra)
        return running(settings, kafka_topics)

    return scenario_runner(start)


# --- helpers -------------------------------------------------------------------------------------


async def start_run(world: World, platform: str, name: str | None = None) -> str:
    body = {"platform": platform, "source": {"type": "file", "name": name or platform}}
    response = await world.client.post("/api/v1/ingestion/runs", json=body, headers=world.admin)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "queued"
    assert response.headers["location"] == f"/api/v1/ingestion/runs/{accepted['run_id']}"
    return str(accepted["run_id"])


async def finished(world: World, run_id: str, within: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        response = await world.client.get(f"/api/v1/ingestion/runs/{run_id}", headers=world.admin)
        assert response.status_code == 200, response.text
        run = response.json()
        if run["status"] in {"succeeded", "failed"}:
            return dict(run)
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish in {within} s")


async def ingest(world: World, platform: str, name: str | None = None) -> dict[str, Any]:
    run = await finished(world, await start_run(world, platform, name))
    assert run["status"] == "succeeded", run
    return run


async def all_sent(world: World, within: float = 60) -> int:
    """Wait until the outbox has no unsent row; returns how many rows it holds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        unsent = world.scalar("SELECT count(*) FROM ingestion.outbox WHERE sent_at IS NULL")
        if unsent == 0:
            return int(world.scalar("SELECT count(*) FROM ingestion.outbox"))
        await asyncio.sleep(0.1)
    raise AssertionError("outbox rows still unsent after the timeout")


def events_on_topics(world: World, expected: int) -> list[dict[str, Any]]:
    """The events on the service's topics, each checked: a valid envelope and payload, on its
    type's topic, keyed by its content id, with its event id in a header."""
    messages = consume(world.settings.kafka_bootstrap, list(world.topics.values()), expected)
    for message in messages:
        event = Event.model_validate(message["value"])
        payload = event.validate_payload()
        assert isinstance(payload, PAYLOADS[event.type])
        assert message["topic"] == world.topics[event.type]
        assert message["key"] == event.key == message["value"]["payload"]["content_id"]
        assert message["headers"]["event_id"] == event.event_id
    return [m["value"] for m in messages]


def outbox(world: World, run_id: str | None = None) -> list[dict[str, Any]]:
    sql = "SELECT event_id::text, event_type, key, payload, sent_at FROM ingestion.outbox"
    rows = world.rows(sql + " WHERE run_id = %s", run_id) if run_id else world.rows(sql)
    keys = ("event_id", "type", "key", "payload", "sent_at")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


# --- tests ---------------------------------------------------------------------------------------


def test_two_feeds_sharing_works_become_one_title_per_work_with_ids_offers_vectors_and_events(
    run: Callable[..., None], feeds: Slice
) -> None:
    bad = {"id": "ne-broken", "year": 2001, "type": "MOVIE"}  # no title
    items = copy.deepcopy(feeds.items["netflix"])
    items[-1]["genres"] = [*items[-1]["genres"], "Mockumentary"]  # unknown: dropped
    feeds.write("netflix", [*items, bad])

    async def scenario(world: World) -> None:
        ready = await world.client.get("/health/ready")
        assert ready.status_code == 200, ready.text
        assert set(ready.json()["dependencies"]) == {"postgres", "redis", "kafka", "qdrant"}

        netflix = await ingest(world, "netflix")
        n_netflix = SHARED + NETFLIX_ONLY
        assert (netflix["fetched"], netflix["new"], netflix["merged"]) == (
            n_netflix + 1,
            n_netflix,
            0,
        )
        assert (netflix["updated"], netflix["failed"]) == (0, 1)
        assert "ne-broken" in netflix["error"]
        assert "title: missing" in netflix["error"]
        assert netflix["source"] == "file:netflix"

        prime = await ingest(world, "prime")
        assert (prime["fetched"], prime["new"], prime["merged"]) == (
            SHARED + PRIME_ONLY,
            PRIME_ONLY,
            SHARED,
        )
        assert (prime["updated"], prime["failed"], prime["error"]) == (0, 0, None)

        # One title per work, holding exactly that work's platform ids (checked against truth).
        assert world.scalar("SELECT count(*) FROM content.content") == len(feeds.works)
        ids = world.rows("SELECT platform, platform_id, content_id::text FROM content.external_ids")
        content_of = {(p, pid): cid for p, pid, cid in ids}
        for work in feeds.works:
            carried = {p: i for p, i in work["platform_ids"].items() if p in {"netflix", "prime"}}
            assert len({content_of[(p, i)] for p, i in carried.items()}) == 1, work
            cid = content_of[next(iter(carried.items()))]
            title, genres, moods, year, kind = world.rows(
                "SELECT title, genres, moods, release_year, type FROM content.content "
                "WHERE id = %s",
                cid,
            )[0]
            assert (title, moods, year) == (work["title"], work["moods"], work["year"])
            assert genres == work["genres"]
            assert kind == work["type"] or (kind, work["type"]) == ("movie", "documentary")
        imdb_ids = {i.get("imdb_id") for i in feeds.items["netflix"]} | {
            i.get("external_ids", {}).get("imdb") for i in feeds.items["prime"]
        }
        imdb_ids.discard(None)
        assert {pid for (p, pid) in content_of if p == "imdb"} == imdb_ids
        assert all(content_of.get(("imdb", i)) for i in imdb_ids)
        assert "Mockumentary" not in str(world.rows("SELECT genres FROM content.content"))

        # Availability: every offer of both feeds, deep links from the feed.
        offers = feeds.offers("netflix") + feeds.offers("prime")
        assert world.scalar("SELECT count(*) FROM content.availability") == offers
        assert world.scalar(
            "SELECT count(*) FROM content.availability WHERE deep_link LIKE "
            "'https://www.primevideo.com/detail/pr-%%'"
        ) == feeds.offers("prime")
        assert world.scalar("SELECT count(*) FROM content.platforms") == len(catalogue.PLATFORMS)

        # One embedding and one Qdrant point per title, the payload built from the database.
        embeddings = world.rows("SELECT model, dim, cardinality(vector) FROM content.embeddings")
        assert embeddings == [("hashing", 384, 384)] * len(feeds.works)
        collection = world.settings.qdrant_collection
        assert world.qdrant.count(collection, exact=True).count == len(feeds.works)
        for work in feeds.works:
            cid = next(
                content_of[(p, i)] for p, i in work["platform_ids"].items() if (p, i) in content_of
            )
            point = world.qdrant.retrieve(collection, [cid], with_payload=True)[0]
            assert point.payload is not None
            expected_platforms = sorted(set(work["platform_ids"]) & {"netflix", "prime"})
            assert point.payload["platforms"] == expected_platforms
            assert point.payload["genres"] == work["genres"]
            assert point.payload["year"] == work["year"]
            regions = world.rows(
                "SELECT DISTINCT region::text FROM content.availability WHERE content_id = %s "
                "ORDER BY 1",
                cid,
            )
            assert point.payload["regions"] == [r for (r,) in regions]

        # Events: exactly one per outbox row, and exactly those the changes call for.
        total = await all_sent(world)
        events = events_on_topics(world, total)
        assert len(events) == total == len({e["event_id"] for e in events})
        assert {e["event_id"] for e in events} == {r["event_id"] for r in outbox(world)}
        kinds = Counter(e["type"] for e in events)
        assert kinds == {
            "content.ingested": len(feeds.works),
            "content.updated": SHARED,
            "availability.changed": offers,
        }
        updated = [e["payload"] for e in events if e["type"] == "content.updated"]
        assert all("platforms" in p["changed_fields"] for p in updated)
        assert {p["source_platform"] for p in updated} == {"prime"}
        changes = {e["payload"]["change"] for e in events if e["type"] == "availability.changed"}
        assert changes == {"added"}
        for run_id, expected in ((netflix["run_id"], "netflix"), (prime["run_id"], "prime")):
            finished_run = await finished(world, run_id)
            sent = len(outbox(world, run_id))
            assert (finished_run["events_sent"], finished_run["events_pending"]) == (sent, 0)
            assert {r["payload"].get("source_platform") for r in outbox(world, run_id)} <= {
                expected,
                None,
            }

    run(scenario)


def test_reingesting_the_same_feed_creates_nothing_and_emits_only_the_changes(
    run: Callable[..., None], feeds: Slice
) -> None:
    async def scenario(world: World) -> None:
        first = await ingest(world, "netflix")
        assert first["new"] == SHARED + NETFLIX_ONLY
        before = await all_sent(world)
        snapshot = world.rows(
            "SELECT id, updated_at FROM content.content UNION ALL "
            "SELECT content_id, updated_at FROM content.embeddings ORDER BY 1, 2"
        )

        collection = world.settings.qdrant_collection
        lost = str(snapshot[0][0])
        world.qdrant.delete(collection, points_selector=[lost])  # an upsert that never happened
        again = await ingest(world, "netflix")
        assert world.qdrant.retrieve(collection, [lost]), "the re-run repaired the index"
        assert (again["fetched"], again["new"], again["updated"]) == (first["fetched"], 0, 0)
        assert (again["merged"], again["failed"], again["events_sent"]) == (0, 0, 0)
        assert outbox(world, again["run_id"]) == []
        assert (
            world.rows(
                "SELECT id, updated_at FROM content.content UNION ALL "
                "SELECT content_id, updated_at FROM content.embeddings ORDER BY 1, 2"
            )
            == snapshot
        ), "an unchanged feed rewrites nothing"

        # The platform changes two titles: a longer synopsis; a new price, a new offer and a
        # withdrawn one.
        items = copy.deepcopy(feeds.items["netflix"])
        richer = items[0]
        richer["synopsis"] += " Now with a director's cut of twenty extra minutes."
        reshuffled = next(
            i
            for i in items[1:]
            if len(i["availability"]) >= 2 and any(o["price"] for o in i["availability"])
        )
        offers = reshuffled["availability"]
        repriced = next(o for o in offers if o["price"])
        repriced["price"] = round(repriced["price"] + 1.25, 2)
        gone = next(o for o in offers if o is not repriced)
        offers.remove(gone)
        taken = {(o["region"], o["offer_type"]) for o in [*offers, gone]}
        region = next(r for r in catalogue.REGIONS if (r, "buy") not in taken)
        offers.append({**repriced, "region": region, "offer_type": "buy", "price": 9.99})
        feeds.write("netflix", items)
        richer_id, reshuffled_id = (
            world.scalar(
                "SELECT content_id::text FROM content.external_ids WHERE platform_id = %s",
                item["id"],
            )
            for item in (richer, reshuffled)
        )

        changed = await ingest(world, "netflix")
        assert (changed["new"], changed["merged"], changed["updated"]) == (0, 0, 2)
        rows = outbox(world, changed["run_id"])
        assert [(r["type"], r["key"]) for r in rows if r["type"] == "content.updated"] == [
            ("content.updated", richer_id)
        ]
        assert next(r for r in rows if r["type"] == "content.updated")["payload"][
            "changed_fields"
        ] == ["overview"]
        availability = sorted(
            (r["payload"]["change"], r["payload"]["region"], r["payload"]["offer_type"])
            for r in rows
            if r["type"] == "availability.changed"
        )
        assert all(r["key"] == reshuffled_id for r in rows if r["type"] == "availability.changed")
        assert availability == sorted(
            [
                ("added", region, "buy"),
                ("removed", gone["region"], gone["offer_type"]),
                ("updated", repriced["region"], repriced["offer_type"]),
            ]
        )
        overview = world.scalar("SELECT overview FROM content.content WHERE id = %s", richer_id)
        assert overview == richer["synopsis"]
        price = world.scalar(
            "SELECT price FROM content.availability WHERE content_id = %s AND region = %s "
            "AND offer_type = %s",
            reshuffled_id,
            repriced["region"],
            repriced["offer_type"],
        )
        assert float(price) == repriced["price"]

        # Only the changes reach the topics, each once.
        total = await all_sent(world)
        assert total == before + len(rows)
        events = events_on_topics(world, total)
        assert len(events) == len({e["event_id"] for e in events}) == total
        assert {r["event_id"] for r in rows} <= {e["event_id"] for e in events}

    run(scenario)


def test_broker_down_events_wait_in_the_outbox_then_each_arrives_once(
    resources: Resources, owned_backend: Callable[[str], Backend], feeds: Slice
) -> None:
    broker = owned_backend("kafka")

    async def scenario() -> None:
        settings = ingestion_settings(resources, broker.url, feeds)
        async with running(settings) as world:  # a private broker: its topics go with it
            assert (await world.client.get("/health/ready")).status_code == 200
            broker.kill()
            down = await world.client.get("/health/ready")
            assert down.status_code == 503
            assert down.json()["dependencies"]["kafka"]["status"] == "down"

            ingested = await ingest(world, "netflix")
            expected = len(outbox(world))
            assert expected == ingested["events_pending"] > 0
            # The relay tries, the producer's 3 s delivery timeout expires, the failure is
            # recorded on the rows: wait for that, not for a fixed time.
            deadline = time.monotonic() + 20
            while not world.scalar(
                "SELECT count(*) FROM ingestion.outbox WHERE last_error IS NOT NULL"
            ):
                assert time.monotonic() < deadline, "no failed delivery recorded within 20 s"
                await asyncio.sleep(0.1)
            assert (
                world.scalar("SELECT count(*) FROM ingestion.outbox WHERE sent_at IS NULL")
                == expected
            )
            assert world.scalar("SELECT max(attempts) FROM ingestion.outbox") >= 1
            metrics = (await world.client.get("/metrics")).text
            assert metric(metrics, "kafka_outbox_pending") == expected
            run_now = await finished(world, ingested["run_id"])
            assert (run_now["events_pending"], run_now["events_sent"]) == (expected, 0)

            broker.restart()
            assert await all_sent(world) == expected
            events = events_on_topics(world, expected)
            ids = [e["event_id"] for e in events]
            assert len(ids) == len(set(ids)) == expected, "each event arrives exactly once"
            assert set(ids) == {r["event_id"] for r in outbox(world)}
            run_after = await finished(world, ingested["run_id"])
            assert (run_after["events_pending"], run_after["events_sent"]) == (0, expected)
            metrics = (await world.client.get("/metrics")).text
            assert metric(metrics, "kafka_outbox_pending") == 0
            assert metric(metrics, "kafka_outbox_dead_letters") == 0
            assert (await world.client.get("/health/ready")).status_code == 200

    asyncio.run(scenario())


def test_bad_requests_get_a_4xx_naming_the_field(run: Callable[..., None], feeds: Slice) -> None:
    async def scenario(world: World) -> None:
        post = world.client.post
        url = "/api/v1/ingestion/runs"
        good = {"platform": "netflix", "source": {"type": "file", "name": "netflix"}}

        async def refused(status: int, field: str | None, **kwargs: Any) -> str:
            response = await post(url, **{"headers": world.admin, **kwargs})
            assert response.status_code == status, response.text
            error = response.json()["error"]
            assert error["field"] == field, error
            return str(error["code"])

        assert await refused(401, "Authorization", json=good, headers={}) == "missing_token"
        reader, _ = TokenCodec(world.settings).issue(str(uuid.uuid4()), {"read", "write"})
        reader_headers = {"Authorization": f"Bearer {reader}"}
        assert (
            await refused(403, "scope", json=good, headers=reader_headers) == "insufficient_scope"
        )
        unknown = {**good, "platform": "nosuchplatform"}
        assert await refused(404, "platform", json=unknown) == "unknown_platform"
        assert await refused(422, "platform", json={**good, "platform": "Bad Name!"}) == (
            "validation_failed"
        )
        # A feed name is one path segment (the documented pattern): nothing climbs out.
        for name in ("../secret", "../../catalogue/platforms", "/etc/passwd", "sub/../../secret"):
            outside = {**good, "source": {"type": "file", "name": name}}
            assert await refused(422, "source.file.name", json=outside) == "validation_failed"
        missing = {**good, "source": {"type": "file", "name": "nosuchfeed"}}
        assert await refused(404, "source.name", json=missing) == "unknown_feed"
        for feed_url in ("ftp://feeds.example/x", "nonsense", "", "https://u:p@feeds.example/x"):
            http = {**good, "source": {"type": "http", "url": feed_url}}
            assert await refused(422, "source.http.url", json=http) == "validation_failed"
        # Well-formed, but a scheme or host this deployment does not fetch from: 403.
        plain = {**good, "source": {"type": "http", "url": "http://feeds.example/netflix"}}
        assert await refused(403, "source.url", json=plain) == "invalid_url"
        empty = {**good, "source": {"type": "file", "name": ""}}
        assert await refused(422, "source.file.name", json=empty) == "validation_failed"
        no_name = {**good, "source": {"type": "file"}}
        assert await refused(422, "source.file.name", json=no_name) == "validation_failed"
        assert (
            await refused(
                400,
                "body",
                content=b"{not json",
                headers={**world.admin, "Content-Type": "application/json"},
            )
            == "malformed_json"
        )
        assert await refused(422, "source", json={"platform": "netflix"}) == "validation_failed"
        extra = {**good, "priority": "high"}
        assert await refused(422, "priority", json=extra) == "validation_failed"
        wrong_type = {**good, "source": {"type": "ftp", "name": "netflix"}}
        assert await refused(422, "source", json=wrong_type) == "validation_failed"

        # Only a UUID names a run (the documented pattern): any other segment is no resource.
        bad_id = await world.client.get("/api/v1/ingestion/runs/not-a-uuid", headers=world.admin)
        assert bad_id.status_code == 404
        assert bad_id.json()["error"]["code"] == "not_found"
        unknown_id = await world.client.get(
            f"/api/v1/ingestion/runs/{uuid.uuid4()}", headers=world.admin
        )
        assert unknown_id.status_code == 404
        assert unknown_id.json()["error"] == {
            "code": "not_found",
            "message": "no ingestion run with this id",
            "field": "run_id",
            "request_id": unknown_id.headers["x-request-id"],
        }
        assert world.scalar("SELECT count(*) FROM ingestion.runs") == 0, "nothing was started"

    run(scenario)


@pytest.mark.slow
def test_the_whole_generated_catalogue_resolves_to_its_truth(
    run: Callable[..., None], feeds: Slice
) -> None:
    """All six feeds (≈4,700 items, two formats): one title per work of ``truth.json``."""
    source = catalogue.default_directory()
    truth = json.loads((source / "truth.json").read_text())
    offers = 0
    for platform in catalogue.PLATFORMS:
        feed = (source / "feeds" / f"{platform.id}.json").read_text()
        (feeds.feeds_dir / f"{platform.id}.json").write_text(feed)
        key = "availability" if platform.feed_format == "standard" else "offers"
        offers += sum(len(item[key]) for item in json.loads(feed)["items"])

    async def scenario(world: World) -> None:
        runs = [await ingest(world, p.id) for p in catalogue.PLATFORMS]
        items = sum(len(w["platform_ids"]) for w in truth)
        assert sum(r["fetched"] for r in runs) == items
        assert sum(r["new"] for r in runs) == len(truth)
        assert sum(r["merged"] for r in runs) == items - len(truth)
        assert sum(r["failed"] + r["updated"] for r in runs) == 0
        content_of = {
            (p, i): c
            for p, i, c in world.rows(
                "SELECT platform, platform_id, content_id FROM content.external_ids"
            )
        }
        for work in truth:
            assert len({content_of[key] for key in work["platform_ids"].items()}) == 1, work
        assert world.scalar("SELECT count(*) FROM content.content") == len(truth)
        assert world.scalar("SELECT count(*) FROM content.availability") == offers
        assert world.scalar("SELECT count(*) FROM content.embeddings") == len(truth)
        collection = world.settings.qdrant_collection
        assert world.qdrant.count(collection, exact=True).count == len(truth)
        total = await all_sent(world, within=120)
        assert total == len(truth) + (items - len(truth)) + offers
        assert sum(r["events_pending"] for r in runs) + sum(r["events_sent"] for r in runs) == total

    run(scenario, ingest_batch_size=64)


def test_an_http_feed_is_ingested_page_by_page_and_a_broken_one_fails_the_run(
    run: Callable[..., None], feeds: Slice
) -> None:
    prime = feeds.items["prime"]
    pages: dict[str | None, Any] = {
        None: {"platform": "prime", "items": prime[:4], "next_page": 2},
        "2": {"platform": "prime", "items": prime[4:7], "next_page": 3},
        "3": {"platform": "prime", "items": prime[7:]},
    }

    async def scenario(world: World) -> None:
        with FeedServer(pages, "/feeds/prime") as feed:
            url = feed.url
            body = {"platform": "prime", "source": {"type": "http", "url": url}}
            response = await world.client.post(
                "/api/v1/ingestion/runs", json=body, headers=world.admin
            )
            assert response.status_code == 202, response.text
            done = await finished(world, response.json()["run_id"])
            assert (done["status"], done["source"]) == ("succeeded", url)
            assert (done["fetched"], done["new"], done["failed"]) == (len(prime), len(prime), 0)
            stored = world.scalar(
                "SELECT count(*) FROM content.external_ids WHERE platform = 'prime'"
            )
            assert stored == len(prime)

            pages["3"] = 500  # the last page breaks: the run fails, what was read is kept
            response = await world.client.post(
                "/api/v1/ingestion/runs", json=body, headers=world.admin
            )
            failed = await finished(world, response.json()["run_id"])
            assert failed["status"] == "failed"
            assert failed["error"] == f"GET {url}?page=3 answered 500"
            assert (failed["fetched"], failed["new"], failed["updated"]) == (7, 0, 0)
            assert failed["finished_at"] is not None

    run(scenario, allow_plain_http_feeds=True)


def test_a_run_cut_short_by_shutdown_is_recorded_as_failed(
    run: Callable[..., None], feeds: Slice, resources: Resources
) -> None:
    whole = (catalogue.default_directory() / "feeds" / "netflix.json").read_text()
    (feeds.feeds_dir / "netflix.json").write_text(whole)
    started: list[str] = []

    async def scenario(world: World) -> None:
        run_id = await start_run(world, "netflix")
        started.append(run_id)
        deadline = time.monotonic() + 30
        while world.scalar("SELECT fetched_count FROM ingestion.runs WHERE id = %s", run_id) == 0:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        # leaving the scenario stops the service in the middle of the run

    run(scenario)
    with psycopg.connect(resources.db.url) as conn:
        status, error, fetched, new, finished_at = (
            conn.execute(
                "SELECT status, error, fetched_count, new_count, finished_at FROM ingestion.runs "
                "WHERE id = %s",
                (started[0],),
            ).fetchone()
            or (None,) * 5
        )
        stored = conn.execute("SELECT count(*) FROM content.content").fetchone()
    assert (status, error) == ("failed", "interrupted: the service stopped during the run")
    assert finished_at is not None
    assert 0 < fetched < len(json.loads(whole)["items"])
    assert stored is not None
    assert new <= stored[0] <= fetched, "what was stored before the stop is kept and counted"


def test_events_that_can_never_be_sent_become_dead_letters_and_the_rest_flow(
    run: Callable[..., None],
) -> None:
    async def scenario(world: World) -> None:
        content_id = str(uuid.uuid4())
        huge = {
            "content_id": content_id,
            "changed_fields": [f"field-{i:07d}" for i in range(120_000)],  # > 1 MB
            "source_platform": "netflix",
        }
        invalid = {"content_id": content_id, "changed_fields": [], "source_platform": "netflix"}
        good = {"content_id": content_id, "changed_fields": ["overview"], "source_platform": "x"}
        topic = world.topics["content.updated"]
        ids = [str(uuid.uuid4()) for _ in range(3)]
        with world.db() as conn:
            for event_id, payload in zip(ids, (huge, invalid, good), strict=True):
                conn.execute(
                    "INSERT INTO ingestion.outbox (event_id, topic, event_type, key, payload) "
                    "VALUES (%s, %s, 'content.updated', %s, %s)",
                    (event_id, topic, content_id, json.dumps(payload)),
                )
        world.ctx.relay.wake()
        deadline = time.monotonic() + 30
        while (
            world.scalar(
                "SELECT count(*) FROM ingestion.outbox WHERE last_error IS NOT NULL "
                "OR sent_at IS NOT NULL"
            )
            < 3
        ):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        rows = {
            str(event_id): (sent_at, next_attempt.year, last_error)
            for event_id, sent_at, next_attempt, last_error in world.rows(
                "SELECT event_id, sent_at, next_attempt_at, last_error FROM ingestion.outbox"
            )
        }
        huge_row, invalid_row, good_row = (rows[i] for i in ids)
        assert huge_row[0] is None
        assert huge_row[1] == 9999, "a dead letter: never retried"
        assert huge_row[2].startswith("MSG_SIZE_TOO_LARGE")
        assert invalid_row[0] is None
        assert invalid_row[1] == 9999
        assert invalid_row[2].startswith("invalid_event: changed_fields: List should have")
        assert good_row[0] is not None
        assert good_row[2] is None
        # The relay refreshes its outbox gauges just after the batch's transaction commits, so
        # the rows above can be visible a moment before the gauge is: wait for the gauge too.
        metrics = (await world.client.get("/metrics")).text
        while metric(metrics, "kafka_outbox_dead_letters") != 2:
            assert time.monotonic() < deadline, "kafka_outbox_dead_letters never reached 2"
            await asyncio.sleep(0.05)
            metrics = (await world.client.get("/metrics")).text
        for reason in ("MSG_SIZE_TOO_LARGE", "invalid_event"):
            series = f'kafka_events_failed_total{{reason="{reason}",topic="{topic}"}}'
            assert metric(metrics, series) == 1
        assert metric(metrics, "kafka_outbox_pending") == 0
        events = events_on_topics(world, 1)
        assert [e["event_id"] for e in events] == [ids[2]]

    run(scenario)


def test_a_new_vector_collection_is_filled_from_the_database(
    run: Callable[..., None], feeds: Slice
) -> None:
    first: dict[str, Any] = {}

    async def ingest_once(world: World) -> None:
        await ingest(world, "netflix")
        first["collection"] = world.settings.qdrant_collection

    async def restart_with_an_empty_index(world: World) -> None:
        collection = world.settings.qdrant_collection
        assert collection != first["collection"]
        expected = SHARED + NETFLIX_ONLY
        deadline = time.monotonic() + 30
        while world.qdrant.count(collection, exact=True).count < expected:
            assert time.monotonic() < deadline, "the index was not rebuilt"
            await asyncio.sleep(0.05)
        stored = dict(world.rows("SELECT content_id::text, vector FROM content.embeddings"))
        points = world.qdrant.scroll(collection, limit=100, with_vectors=True)[0]
        assert {str(p.id) for p in points} == set(stored)
        old = {str(p.id): p for p in world.qdrant.scroll(first["collection"], limit=100)[0]}
        for point in points:
            assert point.vector == pytest.approx(stored[str(point.id)])
            assert point.payload == old[str(point.id)].payload

    run(ingest_once)
    run(restart_with_an_empty_index)


@pytest.mark.slow
def test_concurrent_runs_of_three_platforms_still_make_one_title_per_work(
    run: Callable[..., None], feeds: Slice
) -> None:
    """Three whole feeds ingested at the same time: items of one work from different
    platforms race each other, and the resolution locks keep them to one title."""
    source = catalogue.default_directory()
    platforms = ("netflix", "prime", "disney")
    for platform in platforms:
        feed = (source / "feeds" / f"{platform}.json").read_text()
        (feeds.feeds_dir / f"{platform}.json").write_text(feed)
    truth = json.loads((source / "truth.json").read_text())
    works = [w for w in truth if set(w["platform_ids"]) & set(platforms)]

    async def scenario(world: World) -> None:
        run_ids = [await start_run(world, p) for p in platforms]
        runs = [await finished(world, r, within=120) for r in run_ids]
        assert {r["status"] for r in runs} == {"succeeded"}
        assert sum(r["new"] for r in runs) == len(works)
        assert world.scalar("SELECT count(*) FROM content.content") == len(works)
        content_of = {
            (p, i): c
            for p, i, c in world.rows(
                "SELECT platform, platform_id, content_id FROM content.external_ids"
            )
        }
        for work in works:
            ids = {content_of[(p, i)] for p, i in work["platform_ids"].items() if p in platforms}
            assert len(ids) == 1, work

    run(scenario, max_concurrent_runs=3)

"""Playback against real PostgreSQL and Redis: sessions, progress, continue watching, history,
deep links and publishing progress to sync.

Each test gets a fresh migrated database and Redis DB, seeds platforms (from
data/catalogue/platforms.json), a few titles with platform ids and two users, runs the app's
lifespan and drives it over ASGI. Sync is a small recording ASGI app registered as the
in-process peer, as the all-in-one gateway would mount the real one.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from inprocess import Signer, app_client, scenario_runner, settings_for
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from harness.accounts import insert_user
from harness.isolation import IsolatedDatabase, RedisDatabase
from mediagw.common import peers
from mediagw.playback.app import create_app
from mediagw.playback.settings import PlaybackSettings

pytestmark = pytest.mark.integration

PLATFORMS: list[dict[str, str]] = json.loads(
    (Path(__file__).parents[2] / "data" / "catalogue" / "platforms.json").read_text()
)
SESSIONS = "/api/v1/playback/sessions"
RUNTIME_MINUTES = 100
DURATION = RUNTIME_MINUTES * 60


@dataclass
class Seed:
    alice: str
    bob: str
    movie: str  # on every platform, 100 minutes
    episode: str  # on hulu only, 100 minutes
    no_runtime: str  # on netflix, runtime unknown
    platform_ids: dict[str, str]


@dataclass
class FakeSync:
    """Records what playback publishes; answers ``status``."""

    status: int = 202
    calls: list[tuple[str | None, dict[str, Any]]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def ops(request: Request) -> JSONResponse:
            self.calls.append((request.headers.get("authorization"), await request.json()))
            return JSONResponse({"accepted": 1}, status_code=self.status)

        return Starlette(routes=[Route("/api/v1/internal/sync/ops", ops, methods=["POST"])])


@dataclass
class World:
    client: httpx.AsyncClient
    signer: Signer
    seed: Seed
    db_url: str
    sync: FakeSync

    def headers(self, user: str, scopes: tuple[str, ...] = ("read", "write")) -> dict[str, str]:
        return self.signer.headers(user, scopes)

    async def start(
        self, user: str, content_id: str, device_id: str, **extra: Any
    ) -> httpx.Response:
        body = {"content_id": content_id, "device_id": device_id, **extra}
        return await self.client.post(SESSIONS, json=body, headers=self.headers(user))

    async def beat(
        self, user: str, session: str, position: float, state: str = "playing"
    ) -> httpx.Response:
        return await self.client.post(
            f"{SESSIONS}/{session}/heartbeat",
            json={"position_seconds": position, "state": state},
            headers=self.headers(user),
        )

    async def stop(self, user: str, session: str, position: float) -> httpx.Response:
        return await self.client.post(
            f"{SESSIONS}/{session}/stop",
            json={"position_seconds": position},
            headers=self.headers(user),
        )

    async def get(self, user: str, path: str, **params: Any) -> dict[str, Any]:
        response = await self.client.get(path, params=params, headers=self.headers(user))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def count(self, table: str) -> int:
        with psycopg.connect(self.db_url) as conn:
            row = conn.execute(f"SELECT count(*) FROM playback.{table}").fetchone()
        assert row is not None
        return int(row[0])


def seed(conn: psycopg.Connection[Any]) -> Seed:
    for p in PLATFORMS:
        conn.execute(
            "INSERT INTO content.platforms (id, name, web_url_template, app_url_template)"
            " VALUES (%s, %s, %s, %s)",
            (p["id"], p["name"], p["web_url_template"], p["app_url_template"]),
        )

    def user(name: str) -> str:
        return insert_user(conn, name)

    def title(name: str, kind: str, runtime: int | None, platforms: dict[str, str]) -> str:
        row = conn.execute(
            "INSERT INTO content.content (type, title, runtime_minutes) VALUES (%s, %s, %s)"
            " RETURNING id",
            (kind, name, runtime),
        ).fetchone()
        assert row is not None
        for platform, platform_id in platforms.items():
            conn.execute(
                "INSERT INTO content.external_ids (platform, platform_id, content_id)"
                " VALUES (%s, %s, %s)",
                (platform, platform_id, row[0]),
            )
        return str(row[0])

    ids = {p["id"]: f"{p['id'][:3]}-{secrets.token_hex(4)}" for p in PLATFORMS}
    return Seed(
        alice=user("alice"),
        bob=user("bob"),
        movie=title("The Long Voyage", "movie", RUNTIME_MINUTES, {**ids, "imdb": "tt0000001"}),
        episode=title("Pilot", "episode", RUNTIME_MINUTES, {"hulu": "hulu-ep-1"}),
        no_runtime=title("Mystery Cut", "movie", None, {"netflix": "80000001"}),
        platform_ids=ids,
    )


@asynccontextmanager
async def running(
    settings: PlaybackSettings, data: Seed, sync: FakeSync | None
) -> AsyncIterator[World]:
    app = create_app(settings)
    if sync is not None:
        peers.register("sync", sync.app())
    try:
        async with app_client(app, "playback") as client:
            yield World(client, Signer(settings), data, settings.postgres_url, sync or FakeSync())
    finally:
        peers.unregister("sync")


Scenario = Callable[[World], Awaitable[None]]


@pytest.fixture
def seeded(pg_database: IsolatedDatabase) -> Seed:
    with psycopg.connect(pg_database.url, autocommit=True) as conn:
        return seed(conn)


@pytest.fixture
def run(
    pg_database: IsolatedDatabase, redis_db: RedisDatabase, seeded: Seed
) -> Callable[..., None]:
    """``run(scenario, sync=FakeSync() | None, **settings)`` under asyncio.run."""

    def start(sync: FakeSync | None = None, **extra: Any) -> AbstractAsyncContextManager[World]:
        values = {"heartbeat_write_interval_seconds": 0, **extra}
        settings = settings_for(PlaybackSettings, pg_database, redis_db, **values)
        return running(settings, seeded, sync)

    return scenario_runner(start)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def assert_error(response: httpx.Response, status: int, code: str, field: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (code, field), error


def assert_well_formed(link: dict[str, Any], platform: str) -> None:
    template = next(p for p in PLATFORMS if p["id"] == platform)
    web, app = urlsplit(link["web_url"]), urlsplit(link["app_url"])
    assert web.scheme == "https"
    assert web.netloc == urlsplit(template["web_url_template"]).netloc
    assert app.scheme == urlsplit(template["app_url_template"]).scheme != "https"


# --- tests ---------------------------------------------------------------------------------------


def test_journey_resume_continue_watching_finish_and_history(run: Callable[..., None]) -> None:
    sync = FakeSync()

    async def scenario(w: World) -> None:
        alice, movie = w.seed.alice, w.seed.movie
        started = await w.start(alice, movie, "phone-1", platform="netflix", device="ios")
        assert started.status_code == 201, started.text
        body = started.json()
        session = body["session_id"]
        assert body["position_seconds"] == 0
        assert body["duration_seconds"] == DURATION
        assert body["deep_link"]["platform"] == "netflix"
        assert body["deep_link"]["chosen_url"].startswith("nflx://")
        assert body["deep_link"]["web_url"].startswith("https://www.netflix.com/title/")

        for position, state in ((60, "playing"), (600, "buffering"), (1200, "paused")):
            beat = await w.beat(alice, session, position, state)
            assert beat.status_code == 200, beat.text
            assert beat.json()["progress_written"] is True
        stopped = await w.stop(alice, session, 0.4 * DURATION)
        assert stopped.status_code == 200, stopped.text
        assert stopped.json()["completed"] is False

        # another device of the same user sees it in continue watching
        listing = await w.get(alice, "/api/v1/playback/continue-watching", device="tv")
        [item] = listing["items"]
        assert item["content_id"] == movie
        assert item["title"] == "The Long Voyage"
        assert item["position_seconds"] == 0.4 * DURATION
        assert item["progress"] == 0.4
        assert item["deep_link"]["chosen_url"] == item["deep_link"]["app_url"]
        assert (await w.get(w.seed.bob, "/api/v1/playback/continue-watching"))["items"] == []

        resumed = await w.start(alice, movie, "tv-1")
        assert resumed.status_code == 201, resumed.text
        assert resumed.json()["position_seconds"] == 0.4 * DURATION
        session2 = resumed.json()["session_id"]
        assert (await w.beat(alice, session2, 0.8 * DURATION)).status_code == 200
        finished = await w.stop(alice, session2, 0.95 * DURATION)
        assert finished.json()["completed"] is True

        listing = await w.get(alice, "/api/v1/playback/continue-watching")
        assert listing["items"] == []
        history = await w.get(alice, "/api/v1/playback/history")
        assert [h["session_id"] for h in history["items"]] == [session2, session]
        assert [h["completed"] for h in history["items"]] == [True, False]
        assert history["items"][0]["title"] == "The Long Voyage"
        assert history["items"][1]["device_id"] == "phone-1"
        assert history["items"][1]["platform"] == "netflix"
        again = await w.start(alice, movie, "tv-1")
        assert again.json()["position_seconds"] == 0  # completed: start from the beginning

        # every progress write was published to sync, with the caller's token
        assert len(sync.calls) == 6
        authorization, published = sync.calls[-1]
        assert authorization is not None
        assert authorization.startswith("Bearer ")
        assert published["user_id"] == alice
        [op] = published["ops"]
        assert op["kind"] == "lww_set"
        assert op["key"] == f"progress/{movie}"
        assert op["value"]["position_seconds"] == int(0.95 * DURATION)
        assert op["value"]["duration_seconds"] == DURATION
        assert op["value"]["completed"] is True
        assert op["value"]["device_id"] == "tv-1"
        assert len({call[1]["ops"][0]["op_id"] for call in sync.calls}) == 6

    run(scenario, sync=sync)


def test_heartbeats_write_progress_at_most_once_per_interval(run: Callable[..., None]) -> None:
    async def scenario(w: World) -> None:
        alice = w.seed.alice
        writes = metric("playback_progress_writes_total", trigger="heartbeat")
        beats = metric("playback_heartbeats_total", state="playing")
        session = (await w.start(alice, w.seed.movie, "phone-1")).json()["session_id"]
        flags = [(await w.beat(alice, session, p)).json()["progress_written"] for p in (30, 60, 90)]
        assert flags == [True, False, False]
        assert metric("playback_progress_writes_total", trigger="heartbeat") == writes + 1
        assert metric("playback_heartbeats_total", state="playing") == beats + 3
        with psycopg.connect(w.db_url) as conn:
            row = conn.execute("SELECT position_seconds FROM playback.progress").fetchone()
        assert row == (30,)
        assert (await w.stop(alice, session, 120)).status_code == 200  # stop always writes
        with psycopg.connect(w.db_url) as conn:
            row = conn.execute("SELECT position_seconds FROM playback.progress").fetchone()
        assert row == (120,)

    run(scenario, heartbeat_write_interval_seconds=3600)


def test_positions_past_the_end_are_clamped_and_complete(run: Callable[..., None]) -> None:
    async def scenario(w: World) -> None:
        session = (await w.start(w.seed.alice, w.seed.episode, "tv-1")).json()["session_id"]
        beat = await w.beat(w.seed.alice, session, DURATION + 500)
        assert beat.json()["position_seconds"] == DURATION
        assert beat.json()["completed"] is True
        with psycopg.connect(w.db_url) as conn:
            row = conn.execute(
                "SELECT position_seconds, completed FROM playback.progress"
            ).fetchone()
        assert row == (DURATION, True)

    run(scenario)


def test_deep_links_for_every_platform_are_well_formed(run: Callable[..., None]) -> None:
    async def scenario(w: World) -> None:
        path = f"/api/v1/content/{w.seed.movie}/deep-link"
        for platform, platform_id in w.seed.platform_ids.items():
            for device in ("web", "ios", "android", "tv"):
                link = await w.get(w.seed.alice, path, platform=platform, device=device)
                assert link["platform"] == platform
                assert platform_id in link["web_url"]
                assert platform_id in link["app_url"]
                assert_well_formed(link, platform)
                expected = link["web_url"] if device == "web" else link["app_url"]
                assert link["chosen_url"] == expected
        # no platform named: the first carrying the title; no token needed
        first = await w.client.get(f"/api/v1/content/{w.seed.episode}/deep-link")
        assert first.status_code == 200, first.text
        assert first.json()["platform"] == "hulu"
        assert first.json()["web_url"] == "https://www.hulu.com/watch/hulu-ep-1"

    run(scenario)


def test_deep_link_errors_name_the_platform_or_content(run: Callable[..., None]) -> None:
    async def scenario(w: World) -> None:
        missing = await w.client.get(
            f"/api/v1/content/{w.seed.episode}/deep-link", params={"platform": "netflix"}
        )
        assert_error(missing, 404, "platform_not_available", "platform")
        assert "'netflix'" in missing.json()["error"]["message"]
        imdb = await w.client.get(
            f"/api/v1/content/{w.seed.movie}/deep-link", params={"platform": "imdb"}
        )
        assert_error(imdb, 404, "platform_not_available", "platform")
        unknown = await w.client.get(f"/api/v1/content/{uuid.uuid4()}/deep-link")
        assert_error(unknown, 404, "content_not_found", "content_id")
        malformed = await w.client.get("/api/v1/content/not-a-uuid/deep-link")
        assert malformed.status_code == 404, malformed.text  # only a UUID names a title
        device = await w.client.get(
            f"/api/v1/content/{w.seed.movie}/deep-link", params={"device": "fridge"}
        )
        assert_error(device, 422, "validation_failed", "device")

    run(scenario)


def test_bad_input_names_the_field_and_persists_nothing(run: Callable[..., None]) -> None:
    async def scenario(w: World) -> None:
        alice, bob = w.seed.alice, w.seed.bob
        assert_error(
            await w.start(alice, str(uuid.uuid4()), "tv-1"), 404, "content_not_found", "content_id"
        )
        assert_error(
            await w.start(alice, "not-a-uuid", "tv-1"), 422, "validation_failed", "content_id"
        )
        assert_error(await w.start(alice, w.seed.movie, ""), 422, "validation_failed", "device_id")
        assert_error(
            await w.start(alice, w.seed.episode, "tv-1", platform="netflix"),
            404,
            "platform_not_available",
            "platform",
        )
        assert_error(
            await w.start(alice, w.seed.no_runtime, "tv-1"),
            422,
            "validation_failed",
            "duration_seconds",
        )
        session = (await w.start(alice, w.seed.movie, "tv-1")).json()["session_id"]
        assert_error(await w.beat(alice, session, -1), 422, "validation_failed", "position_seconds")
        assert_error(
            await w.beat(alice, session, 10, state="rewinding"), 422, "validation_failed", "state"
        )
        assert_error(await w.stop(alice, session, -5), 422, "validation_failed", "position_seconds")
        nope = await w.beat(alice, "nope", 10)
        assert nope.status_code == 404, nope.text  # only a UUID names a session
        assert_error(
            await w.beat(alice, str(uuid.uuid4()), 10), 404, "session_not_found", "session_id"
        )
        # another user's session does not exist for them, and they cannot stop it
        assert_error(await w.beat(bob, session, 10), 404, "session_not_found", "session_id")
        assert_error(await w.stop(bob, session, 10), 404, "session_not_found", "session_id")
        unauthenticated = await w.client.post(
            f"{SESSIONS}/{session}/heartbeat", json={"position_seconds": 1, "state": "playing"}
        )
        assert_error(unauthenticated, 401, "missing_token", "Authorization")
        read_only = await w.client.post(
            f"{SESSIONS}/{session}/stop",
            json={"position_seconds": 1},
            headers=w.headers(alice, ("read",)),
        )
        assert_error(read_only, 403, "insufficient_scope", "scope")
        assert (w.count("progress"), w.count("history")) == (0, 0)

    run(scenario)


def test_expired_and_stopped_sessions_answer_410(run: Callable[..., None]) -> None:
    async def scenario(w: World) -> None:
        alice = w.seed.alice
        session = (await w.start(alice, w.seed.movie, "tv-1")).json()["session_id"]
        assert (await w.beat(alice, session, 30)).status_code == 200
        await asyncio.sleep(0.6)  # TTL 0.4 s after the last heartbeat
        assert_error(await w.beat(alice, session, 60), 410, "session_expired", "session_id")
        with psycopg.connect(w.db_url) as conn:
            row = conn.execute("SELECT position_seconds FROM playback.progress").fetchone()
        assert row == (30,)  # the late heartbeat persisted nothing
        assert_error(await w.stop(w.seed.bob, session, 60), 404, "session_not_found", "session_id")
        assert_error(await w.beat(w.seed.bob, session, 60), 404, "session_not_found", "session_id")

        # A stop after the heartbeats lapsed keeps the user's final position, once.
        stopped = await w.stop(alice, session, 75)
        assert stopped.status_code == 200, stopped.text
        assert stopped.json()["position_seconds"] == 75
        with psycopg.connect(w.db_url) as conn:
            row = conn.execute("SELECT position_seconds FROM playback.progress").fetchone()
        assert row == (75,)
        assert w.count("history") == 1
        assert_error(await w.stop(alice, session, 80), 410, "session_ended", "session_id")
        assert w.count("history") == 1

        other = (await w.start(alice, w.seed.movie, "tv-1")).json()["session_id"]
        assert (await w.stop(alice, other, 90)).status_code == 200
        assert_error(await w.stop(alice, other, 95), 410, "session_ended", "session_id")
        assert_error(await w.beat(alice, other, 95), 410, "session_ended", "session_id")
        assert w.count("history") == 2

    run(scenario, session_ttl_seconds=0.4)


def test_a_stop_that_cannot_be_written_is_given_back_and_a_retry_keeps_the_position(
    run: Callable[..., None],
) -> None:
    """The stop takes the session from Redis before writing; when the write fails (here the
    history table is renamed away under the service) the session is put back, so the user's
    retry records the final position instead of meeting 410 session_ended. Both a session
    whose heartbeats lapsed and a live one."""

    async def scenario(w: World) -> None:
        def rename(table: str, to: str) -> None:
            with psycopg.connect(w.db_url, autocommit=True) as conn:
                conn.execute(f"ALTER TABLE playback.{table} RENAME TO {to}")

        alice = w.seed.alice
        lapsed = (await w.start(alice, w.seed.movie, "phone-1")).json()["session_id"]
        assert (await w.beat(alice, lapsed, 40)).status_code == 200
        await asyncio.sleep(0.6)  # TTL 0.4 s after the last heartbeat
        live = (await w.start(alice, w.seed.movie, "tv-1")).json()["session_id"]
        rename("history", "history_away")
        try:
            for session in (lapsed, live):
                failed = await w.stop(alice, session, 50)
                assert failed.status_code >= 500, failed.text
        finally:
            rename("history_away", "history")
        assert w.count("history") == 0
        for session in (lapsed, live):
            retried = await w.stop(alice, session, 50)
            assert retried.status_code == 200, retried.text
            assert retried.json()["position_seconds"] == 50
            assert_error(await w.stop(alice, session, 55), 410, "session_ended", "session_id")
        assert w.count("history") == 2

    run(scenario, session_ttl_seconds=0.4)


def test_history_pages_newest_first_with_before(run: Callable[..., None]) -> None:
    async def scenario(w: World) -> None:
        alice = w.seed.alice
        sessions = []
        for content in (w.seed.movie, w.seed.episode, w.seed.movie):
            session = (await w.start(alice, content, "tv-1")).json()["session_id"]
            assert (await w.stop(alice, session, 100)).status_code == 200
            sessions.append(session)
        page = await w.get(alice, "/api/v1/playback/history", limit=2)
        assert [h["session_id"] for h in page["items"]] == sessions[::-1][:2]
        assert page["next_before"] == page["items"][-1]["ended_at"]
        rest = await w.get(alice, "/api/v1/playback/history", before=page["next_before"])
        assert [h["session_id"] for h in rest["items"]] == [sessions[0]]
        assert rest["next_before"] is None
        assert (await w.get(w.seed.bob, "/api/v1/playback/history"))["items"] == []

    run(scenario)


def test_sync_failures_are_counted_and_never_fail_the_request(run: Callable[..., None]) -> None:
    async def scenario(w: World) -> None:
        before = metric("playback_sync_publish_failures_total", reason="status")
        session = (await w.start(w.seed.alice, w.seed.movie, "tv-1")).json()["session_id"]
        assert (await w.beat(w.seed.alice, session, 600)).status_code == 200
        assert (await w.stop(w.seed.alice, session, 700)).status_code == 200
        assert len(w.sync.calls) == 2
        assert metric("playback_sync_publish_failures_total", reason="status") == before + 2
        assert w.count("progress") == 1
        assert w.count("history") == 1

    run(scenario, sync=FakeSync(status=500))


def test_publishing_is_skipped_and_counted_without_sync(run: Callable[..., None]) -> None:
    async def scenario(w: World) -> None:
        before = metric("playback_sync_publish_failures_total", reason="unavailable")
        session = (await w.start(w.seed.alice, w.seed.movie, "tv-1")).json()["session_id"]
        assert (await w.stop(w.seed.alice, session, 700)).status_code == 200
        assert metric("playback_sync_publish_failures_total", reason="unavailable") == before + 1
        ready = await w.client.get("/health/ready")
        assert ready.status_code == 200, ready.text
        assert set(ready.json()["dependencies"]) == {"postgres", "redis"}

    run(scenario, sync=None)


def test_active_sessions_gauge_and_metrics_endpoint(run: Callable[..., None]) -> None:
    async def scenario(w: World) -> None:
        first = (await w.start(w.seed.alice, w.seed.movie, "tv-1")).json()["session_id"]
        await w.start(w.seed.bob, w.seed.movie, "phone-1")
        assert metric("playback_sessions_active") == 2
        await w.stop(w.seed.alice, first, 10)
        assert metric("playback_sessions_active") == 1
        text = (await w.client.get("/metrics")).text
        for name in (
            "playback_sessions_active",
            "playback_heartbeats_total",
            "playback_progress_writes_total",
            "playback_sync_publish_failures_total",
        ):
            assert name in text
        spec = (await w.client.get("/openapi.json")).json()
        assert {
            "/api/v1/playback/sessions",
            "/api/v1/playback/sessions/{session_id}/heartbeat",
            "/api/v1/playback/sessions/{session_id}/stop",
            "/api/v1/playback/continue-watching",
            "/api/v1/playback/history",
            "/api/v1/content/{content_id}/deep-link",
        } <= set(spec["paths"])

    run(scenario)

"""SONA against real PostgreSQL and Redis: interactions, profiles, recommendations, re-ranking.

Each test gets a fresh migrated database and Redis DB, seeds 200 titles across ten genres with
hashing-embedder vectors (content.content + content.embeddings) and real users in auth.users,
runs the app's lifespan (catalogue load, background refreshers) and drives it over ASGI.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
import redis
from inprocess import Signer, app_client, scenario_runner, settings_for

from harness.isolation import IsolatedDatabase, RedisDatabase
from mediagw.common.embedding import HashingEmbedder, content_text
from mediagw.sona.app import create_app
from mediagw.sona.settings import SonaSettings

pytestmark = pytest.mark.integration

GENRE_WORDS = {
    "sci-fi": ("starship", "android", "galaxy", "orbit", "alien colony"),
    "comedy": ("wedding", "roommates", "hilarious", "road trip", "awkward office"),
    "drama": ("grieving", "family", "small town", "letters", "homecoming"),
    "horror": ("haunted", "cursed", "ritual", "cellar", "whisper"),
    "romance": ("love", "kiss", "proposal", "paris", "second chance"),
    "action": ("commando", "pursuit", "explosion", "heist", "rogue agent"),
    "documentary": ("oceans", "glaciers", "bees", "scientists", "ecosystem"),
    "thriller": ("witness", "conspiracy", "hostage", "hacker", "signal"),
    "western": ("frontier", "sheriff", "outlaw", "canyon", "saloon"),
    "fantasy": ("sorcerer", "dragon", "prophecy", "crown", "realm"),
}
MOODS = {"sci-fi": "thoughtful", "comedy": "funny", "horror": "scary", "romance": "romantic"}
PER_GENRE = 20
REFRESH_SECONDS = 0.2


@dataclass
class Title:
    id: str
    title: str
    genre: str
    popularity: float


@dataclass
class World:
    app: Any
    client: httpx.AsyncClient
    titles: list[Title]
    by_id: dict[str, Title]
    signer: Signer
    db_url: str
    redis_url: str

    def of_genre(self, genre: str) -> list[Title]:
        return [t for t in self.titles if t.genre == genre]

    def headers(self, user_id: str, scopes: tuple[str, ...] = ("read", "write")) -> dict[str, str]:
        return self.signer.headers(user_id, scopes)


def insert_title(
    conn: psycopg.Connection[Any], title: str, genre: str, popularity: float, year: int
) -> str:
    words = GENRE_WORDS[genre]
    overview = f"A {genre} film: {', '.join(words)}."
    moods = [MOODS[genre]] if genre in MOODS else []
    row = conn.execute(
        """
        INSERT INTO content.content (type, title, overview, release_year, genres, moods, popularity)
        VALUES ('movie', %s, %s, %s, %s, %s, %s) RETURNING id::text
        """,
        (title, overview, year, [genre], moods, popularity),
    ).fetchone()
    assert row is not None
    content_id = str(row[0])
    vector = HashingEmbedder().embed([content_text(title, overview, [genre], moods)])[0]
    conn.execute(
        "INSERT INTO content.embeddings (content_id, model, dim, vector) VALUES (%s, %s, %s, %s)",
        (content_id, "hashing", len(vector), vector.tolist()),
    )
    return content_id


def seed_titles(conn: psycopg.Connection[Any]) -> list[Title]:
    """200 titles, 20 per genre; comedy is the most popular genre, sci-fi the least."""
    rng = random.Random(42)
    titles = []
    genres = list(GENRE_WORDS)
    for g, genre in enumerate(genres):
        base = {"comedy": 900.0, "sci-fi": 10.0}.get(genre, 100.0 + 10 * g)
        for i in range(PER_GENRE):
            words = GENRE_WORDS[genre]
            name = f"{words[i % 5].title()} {genre.title()} {i}"
            popularity = base + rng.uniform(0, 50)
            year = 1990 + rng.randrange(34)
            titles.append(
                Title(insert_title(conn, name, genre, popularity, year), name, genre, popularity)
            )
    return titles


def sona_settings(db: IsolatedDatabase, redis_db: RedisDatabase, **extra: Any) -> SonaSettings:
    """Refreshers fast enough for a test to see their effect."""
    values = {"item_refresh_seconds": REFRESH_SECONDS, "similarity_refresh_seconds": 0.3}
    return settings_for(SonaSettings, db, redis_db, **{**values, **extra})


@asynccontextmanager
async def running(settings: SonaSettings, titles: list[Title]) -> AsyncIterator[World]:
    app = create_app(settings)
    async with app_client(app, "sona") as client:
        yield World(
            app=app,
            client=client,
            titles=titles,
            by_id={t.id: t for t in titles},
            signer=Signer(settings),
            db_url=settings.postgres_url,
            redis_url=settings.redis_url,
        )


Scenario = Callable[[World], Awaitable[None]]


@pytest.fixture
def seeded(pg_database: IsolatedDatabase) -> list[Title]:
    with psycopg.connect(pg_database.url, autocommit=True) as conn:
        return seed_titles(conn)


@pytest.fixture
def run(
    pg_database: IsolatedDatabase, redis_db: RedisDatabase, seeded: list[Title]
) -> Callable[..., None]:
    """``run(scenario, **settings)``: the scenario against a started app, under asyncio.run."""

    def start(**extra: Any) -> AbstractAsyncContextManager[World]:
        return running(sona_settings(pg_database, redis_db, **extra), seeded)

    return scenario_runner(start)


# --- helpers -------------------------------------------------------------------------------------


async def interact(
    world: World, user: str, content_id: str, kind: str, value: float | None = None, **extra: Any
) -> httpx.Response:
    body: dict[str, Any] = {"content_id": content_id, "kind": kind, **extra}
    if value is not None:
        body["value"] = value
    return await world.client.post("/api/v1/interactions", json=body, headers=world.headers(user))


async def recommendations(world: World, user: str, **params: Any) -> dict[str, Any]:
    response = await world.client.get(
        "/api/v1/recommendations", params=params, headers=world.headers(user)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def rerank(
    world: World, user: str, candidates: list[str], token_user: str | None = None, **extra: Any
) -> httpx.Response:
    return await world.client.post(
        "/api/v1/internal/rerank",
        json={"user_id": user, "candidates": candidates, **extra},
        headers=world.headers(token_user or user, ("read",)),
    )


def genres_of(world: World, items: list[dict[str, Any]]) -> list[str]:
    return [world.by_id[item["content_id"]].genre for item in items]


def assert_field_error(response: httpx.Response, status: int, field: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["field"] == field, error
    if status == 422:
        assert error["message"].startswith(field.split("[", maxsplit=1)[0]), error


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


# --- tests ---------------------------------------------------------------------------------------


def test_interactions_move_recommendations_towards_the_watched_genre(
    run: Callable[..., None], new_user: Callable[[], str]
) -> None:
    user = new_user()

    async def scenario(world: World) -> None:
        before = await recommendations(world, user, limit=10)
        assert before["personalised"] is False
        scifi_before = genres_of(world, before["items"]).count("sci-fi")
        watched = world.of_genre("sci-fi")[:4]
        for title in watched:
            assert (await interact(world, user, title.id, "complete")).status_code == 202
        after = await recommendations(world, user, limit=10)
        genres = genres_of(world, after["items"])
        assert after["personalised"] is True
        assert genres[0] == "sci-fi", genres
        assert genres.count("sci-fi") >= 3
        assert genres.count("sci-fi") > scifi_before
        watched_titles = {t.title for t in watched}
        reasons = [i["reason"] for i in after["items"] if i["genres"] == ["sci-fi"]]
        assert any(r.removeprefix("because you watched ") in watched_titles for r in reasons)
        assert len(set(genres)) >= 3, "diversity: the list is not one genre"

    run(scenario)


def test_completed_titles_are_excluded_from_recommendations(
    run: Callable[..., None], new_user: Callable[[], str]
) -> None:
    user = new_user()

    async def scenario(world: World) -> None:
        first = await recommendations(world, user, limit=5)
        completed = [item["content_id"] for item in first["items"][:3]]
        for content_id in completed:
            assert (await interact(world, user, content_id, "complete")).status_code == 202
        # a view of 95% counts as completed too
        viewed = first["items"][3]["content_id"]
        assert (await interact(world, user, viewed, "view", 0.95)).status_code == 202
        after = await recommendations(world, user, limit=100)
        shown = {item["content_id"] for item in after["items"]}
        assert len(after["items"]) == 100
        assert shown.isdisjoint([*completed, viewed])

    run(scenario)


def test_rerank_personalises_for_a_user_with_history_only(
    run: Callable[..., None], new_user: Callable[[], str]
) -> None:
    fan, newcomer = new_user(), new_user()

    async def scenario(world: World) -> None:
        scifi = world.of_genre("sci-fi")
        for title in scifi[:3]:
            assert (await interact(world, fan, title.id, "complete")).status_code == 202
        others = [t.id for t in world.titles if t.genre != "sci-fi"][:40]
        candidates = others + [t.id for t in scifi[3:13]]  # sci-fi last in the given order

        personal = await rerank(world, fan, candidates)
        assert personal.status_code == 200, personal.text
        body = personal.json()
        assert body["personalised"] is True
        ranked = [item["content_id"] for item in body["items"]]
        assert sorted(ranked) == sorted(candidates)
        assert ranked != candidates
        top = genres_of(world, body["items"][:5])
        assert top.count("sci-fi") >= 3, top
        scores = [item["score"] for item in body["items"]]
        assert scores == sorted(scores, reverse=True)

        plain = await rerank(world, newcomer, candidates)
        assert plain.status_code == 200
        assert plain.json()["personalised"] is False
        assert [item["content_id"] for item in plain.json()["items"]] == candidates

        limited = await rerank(world, fan, [*candidates[:5], candidates[0]], limit=3)
        assert [i["content_id"] for i in limited.json()["items"]] == ranked_subset(
            ranked, candidates[:5]
        )[:3]

    run(scenario)


def ranked_subset(ranked: list[str], subset: list[str]) -> list[str]:
    return [cid for cid in ranked if cid in set(subset)]


def test_rerank_needs_the_users_own_token_or_admin(
    run: Callable[..., None], new_user: Callable[[], str]
) -> None:
    alice, mallory = new_user(), new_user()

    async def scenario(world: World) -> None:
        candidates = [t.id for t in world.titles[:5]]
        forbidden = await rerank(world, alice, candidates, token_user=mallory)
        assert_field_error(forbidden, 403, "user_id")
        missing = await world.client.post(
            "/api/v1/internal/rerank", json={"user_id": alice, "candidates": candidates}
        )
        assert missing.status_code == 401
        admin = await world.client.post(
            "/api/v1/internal/rerank",
            json={"user_id": alice, "candidates": candidates},
            headers=world.headers(mallory, ("read", "admin")),
        )
        assert admin.status_code == 200
        assert (await rerank(world, alice, candidates)).status_code == 200

    run(scenario)


def test_event_id_makes_an_interaction_idempotent(
    run: Callable[..., None], new_user: Callable[[], str], pg_database: IsolatedDatabase
) -> None:
    user = new_user()

    async def scenario(world: World) -> None:
        event = str(uuid.uuid4())
        title = world.titles[0].id
        first = await interact(world, user, title, "rate", 4.5, event_id=event)
        again = await interact(world, user, title, "rate", 4.5, event_id=event)
        assert (first.status_code, again.status_code) == (202, 202)
        assert first.json() == {"status": "accepted", "event_id": event, "duplicate": False}
        assert again.json() == {"status": "accepted", "event_id": event, "duplicate": True}
        reused = await interact(world, user, world.titles[1].id, "complete", event_id=event)
        assert_field_error(reused, 409, "event_id")

    run(scenario)
    with psycopg.connect(pg_database.url) as conn:
        count = conn.execute("SELECT count(*) FROM sona.interactions").fetchone()
        vector = conn.execute(
            "SELECT interaction_count, cardinality(vector) FROM sona.user_vectors"
            " WHERE user_id = %s",
            (user,),
        ).fetchone()
    assert count == (1,)
    assert vector == (1, 384)


BAD_INTERACTIONS = [
    ({"kind": "like"}, "kind"),
    ({"content_id": "not-a-uuid"}, "content_id"),
    ({"kind": "rate"}, "value"),
    ({"kind": "rate", "value": 7}, "value"),
    ({"kind": "view", "value": 3}, "value"),
    ({"kind": "view", "value": -0.1}, "value"),
    ({"occurred_at": "2030-01-01T00:00:00"}, "occurred_at"),  # no time zone
    ({"event_id": "123"}, "event_id"),
    ({"extra": 1}, "extra"),
]


def test_bad_input_is_a_4xx_naming_the_field(
    run: Callable[..., None], new_user: Callable[[], str]
) -> None:
    user = new_user()

    async def scenario(world: World) -> None:
        for change, field in BAD_INTERACTIONS:
            body = {"content_id": world.titles[0].id, "kind": "complete", **change}
            response = await world.client.post(
                "/api/v1/interactions", json=body, headers=world.headers(user)
            )
            assert_field_error(response, 422, field)
        # A device clock ahead of the server's is no reason to lose the event: it is recorded
        # as happening now.
        future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        ahead = await world.client.post(
            "/api/v1/interactions",
            json={"content_id": world.titles[1].id, "kind": "view", "occurred_at": future},
            headers=world.headers(user),
        )
        assert ahead.status_code == 202, ahead.text
        unknown = await interact(world, user, str(uuid.uuid4()), "complete")
        assert_field_error(unknown, 404, "content_id")

        put = world.client.put
        headers = world.headers(user)
        for body, field in [
            ({"genres": ["sci-fi", "scifi"]}, "genres[1]"),
            ({"moods": ["grumpy"]}, "moods[0]"),
            ({"platforms": ["Not A Platform"]}, "platforms[0]"),
            ({"genres": "sci-fi"}, "genres"),
        ]:
            response = await put("/api/v1/profile/preferences", json=body, headers=headers)
            assert_field_error(response, 422, field)

        many = [str(uuid.uuid4()) for _ in range(501)]
        assert_field_error(await rerank(world, user, many), 422, "candidates")
        assert_field_error(
            await rerank(world, user, [world.titles[0].id, "x"]), 422, "candidates[1]"
        )
        assert_field_error(await rerank(world, user, [], limit=0), 422, "limit")
        assert_field_error(await rerank(world, "someone", []), 422, "user_id")

        get = world.client.get
        for params, field in [
            ({"limit": 0}, "limit"),
            ({"limit": 101}, "limit"),
            ({"context": "bogus"}, "context"),
        ]:
            response = await get("/api/v1/recommendations", params=params, headers=headers)
            assert_field_error(response, 422, field)
        # `similar` without a title: the title to start from is not found (documented 404).
        response = await get(
            "/api/v1/recommendations", params={"context": "similar"}, headers=headers
        )
        assert_field_error(response, 404, "content_id")
        response = await get(
            "/api/v1/recommendations",
            params={"context": "similar", "content_id": str(uuid.uuid4())},
            headers=headers,
        )
        assert_field_error(response, 404, "content_id")
        read_only = world.headers(user, ("read",))
        response = await interact_with(world, read_only, world.titles[0].id)
        assert_field_error(response, 403, "scope")

    run(scenario)


async def interact_with(world: World, headers: dict[str, str], content_id: str) -> httpx.Response:
    return await world.client.post(
        "/api/v1/interactions", json={"content_id": content_id, "kind": "view"}, headers=headers
    )


def test_preferences_round_trip_and_drive_the_cold_start(
    run: Callable[..., None], new_user: Callable[[], str]
) -> None:
    user = new_user()

    async def scenario(world: World) -> None:
        headers = world.headers(user)
        empty = await world.client.get("/api/v1/profile/preferences", headers=headers)
        assert empty.json() == {"genres": [], "moods": [], "platforms": [], "updated_at": None}
        body = {"genres": ["horror", "horror"], "moods": ["scary"], "platforms": ["netflix"]}
        put = await world.client.put("/api/v1/profile/preferences", json=body, headers=headers)
        assert put.status_code == 200, put.text
        stored = (await world.client.get("/api/v1/profile/preferences", headers=headers)).json()
        assert (stored["genres"], stored["moods"], stored["platforms"]) == (
            ["horror"],
            ["scary"],
            ["netflix"],
        )
        assert stored["updated_at"] is not None
        recs = await recommendations(world, user, limit=10)
        assert recs["personalised"] is False
        genres = genres_of(world, recs["items"])
        assert genres[0] == "horror"
        assert genres.count("horror") == 5, "at most half of the list from one genre"
        assert recs["items"][0]["reason"] == "matches your interest in horror"
        assert all(item["reason"] for item in recs["items"])

    run(scenario)


def test_new_titles_appear_after_the_refresh_interval(
    run: Callable[..., None], new_user: Callable[[], str]
) -> None:
    user = new_user()

    async def scenario(world: World) -> None:
        headers = world.headers(user)
        with psycopg.connect(world.db_url, autocommit=True) as conn:
            new_id = insert_title(conn, "Quantum Starship Zero", "sci-fi", 1e9, 2024)
        similar = {"context": "similar", "content_id": new_id}
        response = await world.client.get(
            "/api/v1/recommendations", params=similar, headers=headers
        )
        assert response.status_code == 404, "not loaded yet: the refresh has not run"

        async def loaded() -> bool:
            answer = await world.client.get(
                "/api/v1/recommendations", params=similar, headers=headers
            )
            return answer.status_code == 200

        started = time.monotonic()
        await eventually(loaded)
        assert time.monotonic() - started < 5.0, "a few refresh intervals at most"
        popular = await recommendations(world, user, limit=5)
        assert popular["items"][0]["content_id"] == new_id, "the most popular title now"
        assert popular["items"][0]["title"] == "Quantum Starship Zero"

    run(scenario)


def test_item_similarity_is_recomputed_from_interactions_and_used(
    run: Callable[..., None], new_user: Callable[[], str]
) -> None:
    users = [new_user() for _ in range(3)]
    newcomer = new_user()

    async def scenario(world: World) -> None:
        western = world.of_genre("western")[0]
        scifi = world.of_genre("sci-fi")[0]
        for user in users:  # people who like this western also like this sci-fi title
            assert (await interact(world, user, western.id, "complete")).status_code == 202
            assert (await interact(world, user, scifi.id, "rate", 5)).status_code == 202

        def neighbours() -> list[tuple[str, float]]:
            with psycopg.connect(world.db_url) as conn:
                return [
                    (str(r[0]), float(r[1]))
                    for r in conn.execute(
                        "SELECT neighbour_id, score FROM sona.item_similarity"
                        " WHERE content_id = %s",
                        (western.id,),
                    )
                ]

        async def computed() -> bool:
            return bool(neighbours())

        await eventually(computed)
        assert neighbours() == [(scifi.id, 1.0)]

        # a newcomer who completes the western: the co-liked sci-fi title comes first
        assert (await interact(world, newcomer, western.id, "complete")).status_code == 202
        others = [t.id for t in world.titles if t.genre not in {"western", "sci-fi"}][:30]

        async def in_use() -> bool:  # loaded into memory just after the table is written
            body = (await rerank(world, newcomer, [*others, scifi.id])).json()
            return bool(body["items"][0]["content_id"] == scifi.id)

        await eventually(in_use, seconds=5)
        similar = await recommendations(
            world, newcomer, context="similar", content_id=western.id, limit=25
        )
        first_other = next(i for i in similar["items"] if i["genres"] != ["western"])
        assert first_other["content_id"] == scifi.id
        assert first_other["score"] > 0.4, "the co-occurrence part (0.4 x 1.0) is in"
        recs = await recommendations(world, newcomer, limit=5)
        reasons = {i["content_id"]: i["reason"] for i in recs["items"]}
        assert reasons.get(scifi.id) == f"because you watched {western.title}"

    run(scenario, similarity_refresh_seconds=0.2)


def test_profile_is_persisted_and_served_from_redis_then_the_database(
    pg_database: IsolatedDatabase,
    redis_db: RedisDatabase,
    seeded: list[Title],
    new_user: Callable[[], str],
) -> None:
    user = new_user()
    candidates = [t.id for t in seeded if t.genre != "horror"][:30] + [
        t.id for t in seeded if t.genre == "horror"
    ][:5]
    settings = sona_settings(pg_database, redis_db)

    async def first_process() -> list[str]:
        async with running(settings, seeded) as world:
            for title in [t for t in seeded if t.genre == "horror"][5:8]:
                assert (await interact(world, user, title.id, "complete")).status_code == 202
            body = (await rerank(world, user, candidates)).json()
            return [i["content_id"] for i in body["items"]]

    async def another_process() -> tuple[list[str], dict[str, int]]:
        async with running(settings, seeded) as world:
            body = (await rerank(world, user, candidates)).json()
            assert body["personalised"] is True
            hits = dict(world.app.state.sona.profiles.hits)
            return [i["content_id"] for i in body["items"]], hits

    order = asyncio.run(first_process())
    client = redis.Redis.from_url(redis_db.url)
    try:
        assert client.exists(f"sona:profile:{user}")
        from_redis, hits = asyncio.run(another_process())
        assert (from_redis, hits["redis"], hits["database"]) == (order, 1, 0)
        client.delete(f"sona:profile:{user}")
    finally:
        client.close()
    from_db, hits = asyncio.run(another_process())
    assert (hits["redis"], hits["database"]) == (0, 1)
    assert from_db == order
    assert [seeded_genre(seeded, cid) for cid in order[:3]] == ["horror"] * 3


def seeded_genre(titles: list[Title], content_id: str) -> str:
    return next(t.genre for t in titles if t.id == content_id)


def test_continue_context_lists_titles_in_progress_newest_first(
    run: Callable[..., None], new_user: Callable[[], str]
) -> None:
    user = new_user()

    async def scenario(world: World) -> None:
        a, b, c, d = (t.id for t in world.titles[:4])
        now = datetime.now(UTC)
        for content_id, value, ago in [(a, 0.3, 30), (b, 0.6, 10), (c, 0.95, 5), (d, 0.01, 1)]:
            at = (now - timedelta(minutes=ago)).isoformat()
            response = await interact(world, user, content_id, "view", value, occurred_at=at)
            assert response.status_code == 202
        body = await recommendations(world, user, context="continue")
        assert [i["content_id"] for i in body["items"]] == [b, a]
        assert body["items"][0]["reason"] == "continue watching"

    run(scenario)


def test_health_and_metrics(run: Callable[..., None], new_user: Callable[[], str]) -> None:
    user = new_user()

    async def scenario(world: World) -> None:
        ready = await world.client.get("/health/ready")
        assert ready.status_code == 200
        assert set(ready.json()["dependencies"]) == {"postgres", "redis"}
        await rerank(world, user, [t.id for t in world.titles[:10]])
        await recommendations(world, user)
        metrics = (await world.client.get("/metrics")).text
        assert 'sona_rerank_duration_seconds_bucket{le="0.0005"}' in metrics
        assert 'sona_recommendations_duration_seconds_bucket{le="0.005"}' in metrics
        paths = (await world.client.get("/openapi.json")).json()["paths"]
        assert {
            "/api/v1/interactions",
            "/api/v1/recommendations",
            "/api/v1/profile/preferences",
            "/api/v1/internal/rerank",
        } <= set(paths)

    run(scenario)

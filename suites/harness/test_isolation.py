"""Per-test isolation: every test gets fresh resources, and they are gone afterwards."""

from __future__ import annotations

import textwrap
from pathlib import Path

import psycopg
import pytest
import redis
from qdrant_client import QdrantClient, models

from harness.backends import Backend
from harness.backends.kafka import admin_client
from harness.isolation import (
    IsolatedDatabase,
    KafkaTopics,
    QdrantCollections,
    RedisDatabase,
    RedisDatabases,
    TemplateDatabases,
    with_database,
)

pytestmark = pytest.mark.integration

pytest_plugins = ["pytester"]
REPO_ROOT = Path(__file__).resolve().parents[2]


def database_exists(server_url: str, name: str) -> bool:
    with psycopg.connect(server_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
    return row is not None and row[0] == 1


@pytest.mark.parametrize("round_", [1, 2])
def test_each_test_gets_an_empty_migrated_database(
    round_: int, pg_conn: psycopg.Connection[tuple[object, ...]]
) -> None:
    """Run twice: the second run must not see the first run's row."""
    assert pg_conn.execute("SELECT count(*) FROM auth.users").fetchone() == (0,)
    pg_conn.execute(
        "INSERT INTO auth.users (email, display_name) VALUES (%s, 'x')", (f"u{round_}@example.org",)
    )
    applied = pg_conn.execute("SELECT count(*) FROM schema_migrations").fetchone()
    assert applied is not None
    assert applied[0] >= 9


def test_clones_are_dropped(postgres_backend: Backend, pg_templates: TemplateDatabases) -> None:
    clone = pg_templates.clone()
    conn = psycopg.connect(clone.url, autocommit=True)  # an open session must not block the drop
    conn.execute("SELECT 1")
    pg_templates.drop(clone.name)
    conn.close()
    assert not database_exists(postgres_backend.url, clone.name)


def test_template_is_dropped_on_close(postgres_backend: Backend) -> None:
    templates = TemplateDatabases(postgres_backend.url)
    template = templates.prepare()
    clone = templates.clone()
    templates.close()
    assert not database_exists(postgres_backend.url, template)
    assert not database_exists(postgres_backend.url, clone.name)


def test_redis_databases_are_private_and_flushed(redis_pool: RedisDatabases) -> None:
    first, second = redis_pool.acquire(), redis_pool.acquire()
    try:
        assert first.index != second.index
        with first.client() as a, second.client() as b:
            a.set("shared-name", "first")
            assert b.get("shared-name") is None
    finally:
        redis_pool.release(second)
    redis_pool.release(first)
    with redis.Redis.from_url(first.url) as client:
        assert client.dbsize() == 0


def test_redis_db_fixture_starts_empty(redis_db: RedisDatabase) -> None:
    with redis_db.client() as client:
        assert client.dbsize() == 0
        client.set("left-behind", "1")


def test_kafka_topics_are_deleted_by_cleanup(kafka_backend: Backend) -> None:
    topics = KafkaTopics(kafka_backend.url)
    name = topics.create("gone")
    assert name in admin_client(kafka_backend.url).list_topics(timeout=5).topics
    topics.cleanup()
    assert name not in admin_client(kafka_backend.url).list_topics(timeout=5).topics


def test_cleanup_happens_even_when_the_test_fails(
    pytester: pytest.Pytester,
    postgres_backend: Backend,
    redis_backend: Backend,
    kafka_backend: Backend,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An inner pytest run attached to our backends fails mid-test; nothing it made survives."""
    monkeypatch.setenv("MG_POSTGRES_URL", postgres_backend.url)
    monkeypatch.setenv("MG_REDIS_URL", redis_backend.url)
    monkeypatch.setenv("MG_KAFKA_BOOTSTRAP", kafka_backend.url)
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))  # where the fixtures package lives
    record = pytester.path / "made.txt"
    pytester.makeconftest('pytest_plugins = ["harness.pytest_plugin.plugin"]')
    pytester.makepyfile(
        textwrap.dedent(
            f"""
            def test_fails(pg_database, redis_db, kafka_topics, qdrant_collections):
                topic = kafka_topics.create("doomed")
                with redis_db.client() as client:
                    client.set("doomed", "1")
                with open({str(record)!r}, "w") as out:
                    out.write(f"{{pg_database.name}} {{redis_db.index}} {{topic}}")
                raise AssertionError("deliberate failure")
            """
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(failed=1)
    database, index, topic = record.read_text().split()
    assert not database_exists(postgres_backend.url, database)
    with redis.Redis.from_url(with_database(redis_backend.url, index)) as client:
        assert client.dbsize() == 0
    with redis.Redis.from_url(redis_backend.url, db=0) as control:
        assert control.get(f"mgh:claim:{index}") is None
    assert topic not in admin_client(kafka_backend.url).list_topics(timeout=5).topics


def test_database_url_points_at_the_clone(pg_database: IsolatedDatabase) -> None:
    with psycopg.connect(pg_database.url) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (pg_database.name,)


def test_qdrant_collection_names_are_unique(
    qdrant_client: QdrantClient, qdrant_collections: QdrantCollections
) -> None:
    names = {qdrant_collections.name("c") for _ in range(5)}
    assert len(names) == 5
    for name in names:
        qdrant_client.create_collection(
            name, vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE)
        )

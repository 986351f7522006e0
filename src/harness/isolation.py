"""Per-test isolation on shared backends: databases, Redis DB indexes, topics, collections.

Each class hands out a fresh, uniquely named resource and removes it again; the pytest plugin
``harness.pytest_plugin`` wraps them so cleanup happens even when a test fails. Names carry a
random suffix, so parallel sessions (several CI jobs on one server, pytest-xdist workers)
never collide.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
from confluent_kafka.cimpl import NewTopic
from psycopg import sql

from harness.backends.kafka import admin_client
from harness.migrations import Migrator

if TYPE_CHECKING:  # the client library costs 0.6 s to import; a test using it has it already
    from qdrant_client import QdrantClient


def unique_suffix() -> str:
    return uuid.uuid4().hex[:10]


def with_database(url: str, database: str) -> str:
    """``url`` pointing at another database on the same server."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def create_migrated_database(
    admin: psycopg.Connection[tuple[object, ...]],
    server_url: str,
    name: str,
    migrations_dir: Path | None = None,
) -> str:
    """Create database ``name`` with every migration applied; returns its URL."""
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_database(server_url, name)
    Migrator(url, migrations_dir).up()  # closes its connection: the database can be a template
    return url


def drop_database(admin: psycopg.Connection[tuple[object, ...]], name: str) -> None:
    """Drop ``name`` even with sessions still connected."""
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@dataclass(frozen=True)
class IsolatedDatabase:
    name: str
    url: str


class TemplateDatabases:
    """Fresh PostgreSQL databases cloned from one migrated template.

    Migrating once and cloning with ``CREATE DATABASE … TEMPLATE`` costs a file copy per test
    instead of replaying every migration.
    """

    def __init__(self, server_url: str, migrations_dir: Path | None = None) -> None:
        self.server_url = server_url
        self.migrations_dir = migrations_dir
        self.template = f"mgh_tpl_{os.getpid()}_{unique_suffix()}"
        self._admin = psycopg.connect(server_url, autocommit=True)
        self._created: set[str] = set()
        self._ready = False

    def prepare(self) -> str:
        """Create and migrate the template once; returns its name."""
        if not self._ready:
            create_migrated_database(
                self._admin, self.server_url, self.template, self.migrations_dir
            )
            self._ready = True
        return self.template

    def clone(self) -> IsolatedDatabase:
        template = self.prepare()
        name = f"mgh_t_{unique_suffix()}"
        self._admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
        self._created.add(name)
        return IsolatedDatabase(name, with_database(self.server_url, name))

    def drop(self, name: str) -> None:
        drop_database(self._admin, name)
        self._created.discard(name)

    def close(self) -> None:
        """Drop every clone still around and the template."""
        for name in list(self._created):
            self.drop(name)
        if self._ready:
            self.drop(self.template)
            self._ready = False
        self._admin.close()


@dataclass(frozen=True)
class RedisDatabase:
    index: int
    url: str
    namespace: str
    """Prefix for pub/sub channels, which Redis shares across DB indexes."""

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


class RedisDatabases:
    """Hands each test its own logical Redis database, flushed before and after use.

    Index 0 is kept for the claims that make the pool safe across processes: a test owns an
    index while ``mgh:claim:<index>`` exists in DB 0. Point the harness only at a Redis that is
    dedicated to tests — claimed indexes are flushed.
    """

    CLAIM_TTL_SECONDS = 3600

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self._control = redis.Redis.from_url(with_database(server_url, "0"))
        self._owner = f"{os.getpid()}:{unique_suffix()}"
        self.size = self._database_count()

    def _database_count(self) -> int:
        try:
            reply = self._control.config_get("databases")
            return int(str(reply.get("databases", 16)))
        except redis.ResponseError:  # CONFIG disabled (managed Redis): assume the default
            return 16

    def acquire(self) -> RedisDatabase:
        for index in range(1, self.size):
            if self._control.set(
                f"mgh:claim:{index}", self._owner, nx=True, ex=self.CLAIM_TTL_SECONDS
            ):
                url = with_database(self.server_url, str(index))
                database = RedisDatabase(index, url, f"t{unique_suffix()}:")
                with database.client() as client:
                    client.flushdb()
                return database
        raise RuntimeError(
            f"all {self.size - 1} Redis databases of {self.server_url} are claimed; start Redis "
            "with more (--databases N) or run fewer tests in parallel"
        )

    def release(self, database: RedisDatabase) -> None:
        with database.client() as client:
            client.flushdb()
        self._control.delete(f"mgh:claim:{database.index}")

    def close(self) -> None:
        self._control.close()


class KafkaTopics:
    """Creates uniquely named topics for one test and deletes them afterwards."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.created: list[str] = []
        # One client for the lifetime of the helper: librdkafka fails the pending futures of an
        # admin client that is garbage-collected before they resolve.
        self._admin = admin_client(bootstrap)

    def create(self, base: str = "test", partitions: int = 1) -> str:
        name = f"{base}.{unique_suffix()}"
        futures = self._admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1)],
            operation_timeout=10,
            request_timeout=15,
        )
        futures[name].result(timeout=15)
        self.created.append(name)
        return name

    def cleanup(self) -> None:
        if not self.created:
            return
        futures = self._admin.delete_topics(self.created, request_timeout=15)
        for future in futures.values():
            future.result(timeout=15)
        self.created.clear()


@dataclass
class QdrantCollections:
    """Uniquely named Qdrant collections for one test, deleted afterwards."""

    client: QdrantClient
    created: list[str] = field(default_factory=list)

    def name(self, base: str = "test") -> str:
        """A fresh collection name, remembered for cleanup (create it with the client)."""
        name = f"{base}_{unique_suffix()}"
        self.created.append(name)
        return name

    def cleanup(self, names: Iterable[str] | None = None) -> None:
        for name in list(names if names is not None else self.created):
            if self.client.collection_exists(name):
                self.client.delete_collection(name)
            if name in self.created:
                self.created.remove(name)

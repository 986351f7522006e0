"""The soak's sampler against real PostgreSQL and Redis, watching a real process."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest

from harness.isolation import IsolatedDatabase, RedisDatabase
from harness.soak.sampler import Sampler, open_fds, rss_megabytes

pytestmark = pytest.mark.integration


def test_one_round_reads_every_series(
    pg_database: IsolatedDatabase, redis_db: RedisDatabase
) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        sampler = Sampler(
            {"child": lambda: child.pid, "gone": lambda: None}, pg_database.url, redis_db.url
        )
        with (
            psycopg.connect(pg_database.url, autocommit=True) as conn,
            psycopg.connect(pg_database.url),  # another client of the database
        ):
            client = redis_db.client()
            sampler.sample(conn, client)
            client.close()
    finally:
        child.kill()
        child.wait()
    keys = set(sampler.series)
    assert keys == {
        "rss[child]",
        "open_fds[child]",
        "db_connections[stack]",
        "redis_memory[stack]",
        "outbox_pending[stack]",
    }, "a process with no pid (not running) is skipped"
    assert 1 < sampler.series["rss[child]"].values[0] < 500
    assert sampler.series["open_fds[child]"].values[0] >= 3
    assert sampler.series["db_connections[stack]"].values[0] >= 1, "the other connection"
    assert sampler.series["redis_memory[stack]"].values[0] > 0
    assert sampler.series["outbox_pending[stack]"].values[0] == 0
    assert sampler.errors == []


def test_proc_readings_of_this_process() -> None:
    assert rss_megabytes(os.getpid()) > 10
    assert open_fds(os.getpid()) >= 3

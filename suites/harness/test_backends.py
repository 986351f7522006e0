"""Each backend starts or attaches, answers, and — where we own the process — survives faults."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
import redis

from harness.backends import SPECS, Backend, FaultNotSupported, Mode, resolve

pytestmark = pytest.mark.integration

SERVERS = ["postgres", "redis", "kafka", "influxdb"]
"""Backends that run as a local server process here (Qdrant is embedded on this machine)."""


@pytest.mark.parametrize("name", [*SERVERS, "qdrant"])
def test_session_backend_answers(name: str, request: pytest.FixtureRequest) -> None:
    backend: Backend = request.getfixturevalue(f"{name}_backend")
    assert backend.health() is None
    assert backend.mode in set(Mode)


@pytest.mark.parametrize("name", SERVERS)
def test_killed_server_is_down_then_restarts(
    name: str, owned_backend: Callable[[str], Backend]
) -> None:
    backend = owned_backend(name)
    assert backend.mode is Mode.PROCESS
    backend.kill()
    assert backend.health() is not None
    backend.restart()
    assert backend.health() is None


@pytest.mark.parametrize("name", SERVERS)
def test_paused_server_times_out_then_resumes(
    name: str, owned_backend: Callable[[str], Backend]
) -> None:
    backend = owned_backend(name)
    backend.pause()
    try:
        assert backend.health() is not None
    finally:
        backend.resume()
    backend.wait_healthy(10)


def test_postgres_keeps_committed_data_across_a_crash(
    owned_backend: Callable[[str], Backend],
) -> None:
    backend = owned_backend("postgres")
    with psycopg.connect(backend.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE crash_probe (v int)")
        conn.execute("INSERT INTO crash_probe VALUES (42)")
        conn.execute("CHECKPOINT")  # the throwaway cluster runs with fsync off
    backend.kill()
    backend.restart()
    with psycopg.connect(backend.url) as conn:
        assert conn.execute("SELECT v FROM crash_probe").fetchall() == [(42,)]


def test_redis_restart_starts_empty(owned_backend: Callable[[str], Backend]) -> None:
    """The throwaway Redis keeps nothing on disk: a restart is a clean slate, by design."""
    backend = owned_backend("redis")
    with redis.Redis.from_url(backend.url) as client:
        client.set("k", "v")
    backend.restart()
    with redis.Redis.from_url(backend.url) as client:
        assert client.get("k") is None


def test_stop_removes_the_process_and_its_directory(
    owned_backend: Callable[[str], Backend],
) -> None:
    backend = owned_backend("redis")
    process = backend.extras["process"]
    backend.stop()
    assert not process.alive
    assert not process.workdir.exists()


@pytest.mark.parametrize("name", SERVERS)
def test_env_url_attaches_without_owning(
    name: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    running: Backend = request.getfixturevalue(f"{name}_backend")
    monkeypatch.setenv(SPECS[name].env_var, running.url)
    attached = resolve(SPECS[name])
    assert attached.mode is Mode.ENV
    assert attached.url == running.url
    with pytest.raises(FaultNotSupported):
        attached.kill()
    attached.stop()  # a no-op: the server belongs to someone else
    assert running.health() is None


def test_embedded_qdrant_refuses_faults(qdrant_backend: Backend) -> None:
    if qdrant_backend.mode is not Mode.EMBEDDED:
        pytest.skip(f"qdrant runs in {qdrant_backend.mode} mode here, not embedded")
    with pytest.raises(FaultNotSupported, match="embedded engine runs inside this Python process"):
        qdrant_backend.kill()

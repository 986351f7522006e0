"""The Docker ping that selects the testcontainers branch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.backends.docker_engine import docker_available

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    docker_available.cache_clear()
    yield
    docker_available.cache_clear()


def test_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MG_USE_DOCKER", "0")
    assert docker_available() is False


def test_missing_socket_means_no_engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MG_USE_DOCKER", raising=False)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'docker.sock'}")
    assert docker_available() is False


def test_refused_tcp_endpoint_means_no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MG_USE_DOCKER", raising=False)
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
    assert docker_available() is False

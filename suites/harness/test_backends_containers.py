"""The testcontainers branch: real containers, selected when a Docker engine answers.

Skipped where no engine answers (see fixtures.plugin), and only there.
"""

from __future__ import annotations

import pytest

from harness.backends import SPECS, Mode, resolve

pytestmark = [pytest.mark.integration, pytest.mark.docker, pytest.mark.slow]


@pytest.mark.parametrize("name", sorted(SPECS))
def test_container_backend_answers_and_restarts(name: str) -> None:
    backend = resolve(SPECS[name], mode=Mode.CONTAINER, wait=120)
    try:
        assert backend.health() is None
        backend.restart(timeout=120)
        assert backend.health() is None
    finally:
        backend.stop()


@pytest.mark.parametrize("name", sorted(SPECS))
def test_container_is_preferred_over_local_process(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SPECS[name].env_var, raising=False)
    assert SPECS[name].available_modes()[0] is Mode.CONTAINER

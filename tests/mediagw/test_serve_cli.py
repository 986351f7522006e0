"""``mediagw serve``: one worker per core unless told, each worker told its share of the cores,
and one /metrics over all of them."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from click.testing import CliRunner

from mediagw.cli import main

pytestmark = pytest.mark.unit


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What ``uvicorn.run`` was asked to do (nothing is served)."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append(options))
    monkeypatch.setenv("JWT_SECRET", secrets.token_urlsafe(48))
    monkeypatch.setenv("MG_ENV", "test")
    monkeypatch.setenv("MG_POSTGRES_URL", "postgresql://unused")
    monkeypatch.setenv("MG_REDIS_URL", "redis://unused")
    for variable in ("MG_SERVE_WORKERS", "PROMETHEUS_MULTIPROC_DIR"):
        # serve sets these in os.environ: setenv first records their state before the test,
        # so both are put back afterwards (a leaked PROMETHEUS_MULTIPROC_DIR would switch every
        # later /metrics of this process to the multi-process collector).
        monkeypatch.setenv(variable, "")
        monkeypatch.delenv(variable)
    return calls


def test_workers_default_to_one_per_core(
    served: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mediagw.cli.os.cpu_count", lambda: 3)
    result = CliRunner().invoke(main, ["serve", "sync", "--port", "1"])
    assert result.exit_code == 0, result.output
    assert served[0]["workers"] == 3
    assert os.environ["MG_SERVE_WORKERS"] == "3"
    metrics_dir = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    assert metrics_dir.is_dir()
    assert metrics_dir.name.startswith("mediagw-metrics-")


def test_one_worker_needs_no_shared_metrics_directory(served: list[dict[str, Any]]) -> None:
    result = CliRunner().invoke(main, ["serve", "sync", "--port", "1", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert served[0]["workers"] == 1
    assert os.environ["MG_SERVE_WORKERS"] == "1"
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ


def test_the_environment_is_as_before_after_these_tests() -> None:
    """Runs after the others in this module (pytest keeps file order)."""
    assert "mediagw-metrics-" not in os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    assert "MG_SERVE_WORKERS" not in os.environ


def test_zero_workers_is_refused_by_name(served: list[dict[str, Any]]) -> None:
    result = CliRunner().invoke(main, ["serve", "sync", "--workers", "0"])
    assert result.exit_code == 2
    assert "--workers" in result.output
    assert served == []

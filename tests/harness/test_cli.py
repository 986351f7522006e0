"""The ``mgh`` command line: usage errors are clear and name what is missing."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main

pytestmark = pytest.mark.unit


def test_db_lint_passes_on_the_repository() -> None:
    result = CliRunner().invoke(main, ["db", "lint"])
    assert result.exit_code == 0, result.output
    assert "all consistent" in result.output


def test_db_lint_fails_with_the_problems(tmp_path: Path) -> None:
    (tmp_path / "001_a.up.sql").write_text("-- service: auth\nSELECT 1;\n")
    result = CliRunner().invoke(main, ["db", "lint", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "001_a: missing its .down.sql" in result.output


def test_migrate_without_url_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MG_POSTGRES_URL", raising=False)
    result = CliRunner().invoke(main, ["db", "migrate", "status"])
    assert result.exit_code == 2
    assert "MG_POSTGRES_URL" in result.output


def test_unknown_backend_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["backends", "check", "mysql"])
    assert result.exit_code == 2
    assert "'mysql' is not one of" in result.output


def test_contracts_commands_find_the_repository_documents() -> None:
    """Without --dir, the commands read the clone's contracts/openapi (not a path inside src/)."""
    result = CliRunner().invoke(main, ["contracts", "since", "HEAD"])
    assert "is not in a git checkout" not in result.output, result.output
    assert "gateway:" in result.output


def test_load_profiles_lists_every_profile_with_its_presets() -> None:
    result = CliRunner().invoke(main, ["load", "profiles"])
    assert result.exit_code == 0, result.output
    for name in ("baseline", "stress", "spike", "soak"):
        assert f"{name}:" in result.output
    assert "--preset smoke" in result.output

"""The linter that keeps the migration sequence sound (file level, no database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.migrations import MigrationError, default_directory, discover, lint

pytestmark = pytest.mark.unit

GOOD_UP = "-- service: auth\n-- why\nCREATE TABLE t (id int);\n"
GOOD_DOWN = "-- service: auth\n-- why\nDROP TABLE t;\n"


def write_pair(directory: Path, label: str, up: str = GOOD_UP, down: str = GOOD_DOWN) -> None:
    (directory / f"{label}.up.sql").write_text(up)
    (directory / f"{label}.down.sql").write_text(down)


def test_repository_sequence_is_sound() -> None:
    assert lint(default_directory()) == []
    migrations = discover()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert all(m.service for m in migrations)


def test_every_service_of_the_system_owns_a_migration() -> None:
    owners = {m.service for m in discover()}
    assert owners == {"auth", "content", "users", "sona", "playback", "sync", "ingestion"}


def test_clean_sequence_has_no_problems(tmp_path: Path) -> None:
    write_pair(tmp_path, "001_first")
    write_pair(tmp_path, "002_second")
    assert lint(tmp_path) == []


def test_missing_down_is_reported(tmp_path: Path) -> None:
    write_pair(tmp_path, "001_first")
    (tmp_path / "002_second.up.sql").write_text(GOOD_UP)
    assert lint(tmp_path) == ["002_second: missing its .down.sql"]


def test_gap_in_numbering_is_reported(tmp_path: Path) -> None:
    write_pair(tmp_path, "001_first")
    write_pair(tmp_path, "003_third")
    assert lint(tmp_path) == ["numbering must run from 001 with no gaps; missing: 002"]


def test_sequence_must_start_at_001(tmp_path: Path) -> None:
    write_pair(tmp_path, "002_second")
    assert lint(tmp_path) == ["numbering must run from 001 with no gaps; missing: 001"]


def test_two_migrations_with_one_number_are_reported(tmp_path: Path) -> None:
    write_pair(tmp_path, "001_first")
    write_pair(tmp_path, "001_other")
    assert lint(tmp_path) == ["001: used by several migrations: first, other"]


@pytest.mark.parametrize("name", ["1_short.up.sql", "001-dash.up.sql", "001_Upper.up.sql", "x.sql"])
def test_badly_named_files_are_reported(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text(GOOD_UP)
    assert lint(tmp_path) == [f"{name}: name is not NNN_snake_name.up.sql or .down.sql"]


@pytest.mark.parametrize(
    ("up", "problem"),
    [
        ("CREATE TABLE t (id int);\n", "first line must be '-- service: <owner>'"),
        ("-- service: billing\nSELECT 1;\n", "unknown service 'billing'"),
        ("-- service: auth\nBEGIN;\nSELECT 1;\nCOMMIT;\n", "must not manage transactions"),
        ("-- service: auth\nCREATE INDEX CONCURRENTLY i ON t (id);\n", "CONCURRENTLY cannot run"),
        ("-- service: auth\n\\i other.sql\n", "psql meta-commands are not SQL"),
    ],
)
def test_file_content_rules(tmp_path: Path, up: str, problem: str) -> None:
    write_pair(tmp_path, "001_first", up=up)
    problems = lint(tmp_path)
    assert len(problems) == 1
    assert problems[0].startswith("001_first.up.sql: ")
    assert problem in problems[0]


def test_discover_refuses_an_inconsistent_set(tmp_path: Path) -> None:
    write_pair(tmp_path, "002_second")
    with pytest.raises(MigrationError, match="missing: 001"):
        discover(tmp_path)


def test_discover_names_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="does not exist"):
        discover(tmp_path / "nope")

"""The migration sequence on a real PostgreSQL: round trips, exact reversal, safety rails."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from harness.backends import Backend
from harness.backends.postgres import postgres_bindir
from harness.isolation import unique_suffix, with_database
from harness.migrations import MigrationError, Migrator, default_directory, discover

pytestmark = pytest.mark.integration


@pytest.fixture
def empty_database(postgres_backend: Backend) -> Iterator[str]:
    """A brand-new database with no migrations (not cloned from the template)."""
    name = f"mgh_empty_{unique_suffix()}"
    with psycopg.connect(postgres_backend.url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield with_database(postgres_backend.url, name)
        finally:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def schema_dump(url: str) -> str:
    """``pg_dump --schema-only`` minus the bookkeeping table and the per-dump random lines."""
    bindir = postgres_bindir()
    pg_dump = str(bindir / "pg_dump") if bindir else shutil.which("pg_dump") or "pg_dump"
    output = subprocess.run(
        [
            pg_dump,
            "--schema-only",
            "--no-owner",
            "--no-privileges",
            "--exclude-table=public.schema_migrations",
            f"--dbname={url}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # pg_dump ≥ 15.14 brackets the dump with \restrict / \unrestrict and a random key.
    return re.sub(r"^\\(un)?restrict .*$", "", output, flags=re.MULTILINE)


def user_objects(url: str) -> list[tuple[str, str]]:
    """Every schema and relation outside the system catalogs, and the bookkeeping table."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """
            SELECT 'schema', nspname FROM pg_namespace
             WHERE nspname NOT LIKE 'pg\\_%' AND nspname NOT IN ('information_schema', 'public')
            UNION ALL
            SELECT c.relkind::text, n.nspname || '.' || c.relname
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
               AND c.relname <> 'schema_migrations' AND c.relname <> 'schema_migrations_pkey'
            ORDER BY 1, 2
            """
        ).fetchall()
    return [(str(kind), str(name)) for kind, name in rows]


def test_up_down_up_round_trip_leaves_an_empty_schema_between(empty_database: str) -> None:
    empty = schema_dump(empty_database)
    migrator = Migrator(empty_database)
    count = len(migrator.migrations)

    assert len(migrator.up()) == count
    full = schema_dump(empty_database)
    assert ("schema", "auth") in user_objects(empty_database)

    assert len(migrator.down(steps=None)) == count
    assert user_objects(empty_database) == []
    assert schema_dump(empty_database) == empty

    assert len(migrator.up()) == count
    assert schema_dump(empty_database) == full
    assert all(status.applied_at is not None for status in migrator.status())


def test_each_down_exactly_reverses_its_up(empty_database: str) -> None:
    migrator = Migrator(empty_database)
    for migration in migrator.migrations:
        before = schema_dump(empty_database)
        assert migrator.up(target=migration.version) == [migration]
        assert schema_dump(empty_database) != before, f"{migration.label} changed nothing"
        assert migrator.down(steps=1) == [migration]
        after = schema_dump(empty_database)
        assert after == before, f"{migration.label}.down.sql does not reverse its up"
        migrator.up(target=migration.version)


def test_up_is_idempotent(empty_database: str) -> None:
    migrator = Migrator(empty_database)
    migrator.up()
    assert migrator.up() == []


def copy_migrations(tmp_path: Path, upto: int) -> Path:
    target = tmp_path / "migrations"
    target.mkdir()
    for migration in discover()[:upto]:
        shutil.copy(migration.up_path, target)
        shutil.copy(migration.down_path, target)
    return target


def test_a_failing_migration_is_rolled_back_whole(empty_database: str, tmp_path: Path) -> None:
    directory = copy_migrations(tmp_path, upto=1)
    (directory / "002_broken.up.sql").write_text(
        "-- service: auth\nCREATE TABLE auth.half_done (id int);\nSELECT no_such_function();\n"
    )
    (directory / "002_broken.down.sql").write_text("-- service: auth\nDROP TABLE auth.half_done;\n")
    migrator = Migrator(empty_database, directory)
    with pytest.raises(MigrationError, match=r"002_broken\.up\.sql failed and was rolled back"):
        migrator.up()
    assert [s.applied_at is not None for s in migrator.status()] == [True, False]
    assert ("r", "auth.half_done") not in user_objects(empty_database)


def test_editing_an_applied_migration_is_refused(empty_database: str, tmp_path: Path) -> None:
    directory = copy_migrations(tmp_path, upto=2)
    Migrator(empty_database, directory).up()
    edited = directory / discover()[0].up_path.name
    edited.write_text(edited.read_text() + "\n-- an innocent-looking edit\n")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        Migrator(empty_database, directory).up()


def test_unknown_applied_migration_is_refused(empty_database: str, tmp_path: Path) -> None:
    Migrator(empty_database).up(target=3)
    with pytest.raises(MigrationError, match="has migration 003 applied but no such file"):
        Migrator(empty_database, copy_migrations(tmp_path, upto=2)).down()


def test_down_to_a_target_keeps_earlier_migrations(empty_database: str) -> None:
    migrator = Migrator(empty_database)
    migrator.up()
    reverted = migrator.down(steps=None, target=3)
    assert [m.version for m in reverted] == list(range(len(migrator.migrations), 3, -1))
    applied = [s.migration.version for s in migrator.status() if s.applied_at]
    assert applied == [1, 2, 3]


def test_repository_directory_is_the_default() -> None:
    assert default_directory().name == "migrations"
    assert default_directory().is_dir()

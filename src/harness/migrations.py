"""One migration sequence for every service: discover, lint, apply and revert.

Files live in ``migrations/`` as ``NNN_name.up.sql`` / ``NNN_name.down.sql``, numbered from 001
with no gaps, each starting with ``-- service: <owner>``. Each migration runs in its own
transaction together with its row in ``schema_migrations``, so a failing migration leaves
nothing half-applied. A checksum of each applied up-file is stored: editing a migration after it
was applied is refused rather than silently diverging between environments.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg

FILE_PATTERN = re.compile(
    r"^(?P<version>\d{3})_(?P<name>[a-z0-9]+(?:_[a-z0-9]+)*)\.(?P<dir>up|down)\.sql$"
)
HEADER_PATTERN = re.compile(r"^-- service: (?P<service>[a-z_]+)\s*$")
SERVICES = frozenset({"auth", "content", "users", "sona", "playback", "sync", "ingestion"})
LOCK_KEY = 0x6D67_6D69_6772  # "mgmigr": one migrator at a time per database
TABLE_DDL = """
CREATE TABLE IF NOT EXISTS public.schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(RuntimeError):
    """A migration could not be discovered, applied or reverted; the message says which."""


def default_directory() -> Path:
    """``migrations/`` at the repository root (the package is installed from a checkout)."""
    return Path(__file__).resolve().parents[2] / "migrations"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    up_path: Path
    down_path: Path

    @property
    def label(self) -> str:
        return f"{self.version:03d}_{self.name}"

    @property
    def up_sql(self) -> str:
        return self.up_path.read_text(encoding="utf-8")

    @property
    def down_sql(self) -> str:
        return self.down_path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.up_path.read_bytes()).hexdigest()

    @property
    def service(self) -> str | None:
        first = self.up_sql.splitlines()[:1]
        match = HEADER_PATTERN.match(first[0]) if first else None
        return match["service"] if match else None


def lint(directory: Path) -> list[str]:
    """Every problem with the file set, one line each (empty when the sequence is sound)."""
    problems: list[str] = []
    pairs: dict[tuple[int, str], set[str]] = {}
    names_by_version: dict[int, set[str]] = {}
    for path in sorted(directory.iterdir()):
        if path.is_dir() or path.name.startswith("."):
            continue
        match = FILE_PATTERN.match(path.name)
        if match is None:
            problems.append(f"{path.name}: name is not NNN_snake_name.up.sql or .down.sql")
            continue
        version = int(match["version"])
        pairs.setdefault((version, match["name"]), set()).add(match["dir"])
        names_by_version.setdefault(version, set()).add(match["name"])
        problems.extend(_lint_content(path))
    for (version, name), directions in sorted(pairs.items()):
        for missing in sorted({"up", "down"} - directions):
            problems.append(f"{version:03d}_{name}: missing its .{missing}.sql")
    for version, names in sorted(names_by_version.items()):
        if len(names) > 1:
            problems.append(
                f"{version:03d}: used by several migrations: {', '.join(sorted(names))}"
            )
    versions = sorted(names_by_version)
    expected = list(range(1, len(versions) + 1))
    if versions != expected:
        gaps = sorted(set(range(1, (versions[-1] if versions else 0) + 1)) - set(versions))
        problems.append(
            "numbering must run from 001 with no gaps; missing: "
            + ", ".join(f"{v:03d}" for v in gaps)
        )
    return problems


def _lint_content(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    problems: list[str] = []
    header = HEADER_PATTERN.match(lines[0]) if lines else None
    if header is None:
        problems.append(f"{path.name}: first line must be '-- service: <owner>'")
    elif header["service"] not in SERVICES:
        problems.append(f"{path.name}: unknown service {header['service']!r}")
    if re.search(r"^\s*(BEGIN|COMMIT|ROLLBACK)\s*;", text, re.IGNORECASE | re.MULTILINE):
        problems.append(f"{path.name}: must not manage transactions (the runner does)")
    if re.search(r"\bCONCURRENTLY\b", text, re.IGNORECASE):
        problems.append(f"{path.name}: CONCURRENTLY cannot run inside the migration transaction")
    if re.search(r"^\s*\\", text, re.MULTILINE):
        problems.append(f"{path.name}: psql meta-commands are not SQL")
    return problems


def discover(directory: Path | None = None) -> list[Migration]:
    """The migrations in order; raises MigrationError if the set fails :func:`lint`."""
    directory = directory or default_directory()
    if not directory.is_dir():
        raise MigrationError(f"migrations directory {directory} does not exist")
    problems = lint(directory)
    if problems:
        raise MigrationError("migration files are inconsistent:\n  " + "\n  ".join(problems))
    found: dict[int, Migration] = {}
    for up in sorted(directory.glob("*.up.sql")):
        match = FILE_PATTERN.match(up.name)
        assert match is not None  # lint() rejected every other name
        version = int(match["version"])
        down = up.with_name(up.name.replace(".up.sql", ".down.sql"))
        found[version] = Migration(version, match["name"], up, down)
    return [found[v] for v in sorted(found)]


@dataclass(frozen=True)
class Status:
    migration: Migration
    applied_at: datetime | None


class Migrator:
    """Apply and revert the sequence on one database, under an advisory lock."""

    def __init__(self, conninfo: str, directory: Path | None = None) -> None:
        self.conninfo = conninfo
        self.migrations = discover(directory)

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        conn = psycopg.connect(self.conninfo, autocommit=True)
        conn.execute(TABLE_DDL)
        return conn

    def _applied(
        self, conn: psycopg.Connection[tuple[object, ...]]
    ) -> dict[int, tuple[str, datetime]]:
        rows = conn.execute(
            "SELECT version, checksum, applied_at FROM schema_migrations"
        ).fetchall()
        return {int(str(v)): (str(c), a) for v, c, a in rows if isinstance(a, datetime)}

    def _check_consistent(self, applied: dict[int, tuple[str, datetime]]) -> None:
        known = {m.version: m for m in self.migrations}
        for version, (checksum, _) in sorted(applied.items()):
            migration = known.get(version)
            if migration is None:
                raise MigrationError(
                    f"database has migration {version:03d} applied but no such file exists"
                )
            if migration.checksum != checksum:
                raise MigrationError(
                    f"{migration.label}.up.sql changed after it was applied; add a new "
                    "migration instead of editing an applied one"
                )

    def status(self) -> list[Status]:
        with self._connect() as conn:
            applied = self._applied(conn)
        return [
            Status(m, applied[m.version][1] if m.version in applied else None)
            for m in self.migrations
        ]

    @contextmanager
    def _locked(
        self,
    ) -> Iterator[tuple[psycopg.Connection[tuple[object, ...]], dict[int, tuple[str, datetime]]]]:
        """A connection holding the migration lock, and the consistent set of applied versions."""
        with self._connect() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
            try:
                applied = self._applied(conn)
                self._check_consistent(applied)
                yield conn, applied
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))

    def up(self, target: int | None = None) -> list[Migration]:
        """Apply pending migrations up to ``target`` (all by default); returns those applied."""
        done: list[Migration] = []
        with self._locked() as (conn, applied):
            for migration in self.migrations:
                if migration.version in applied:
                    continue
                if target is not None and migration.version > target:
                    break
                self._run(conn, migration, migration.up_sql, "up")
                done.append(migration)
        return done

    def down(self, steps: int | None = 1, target: int | None = None) -> list[Migration]:
        """Revert the newest ``steps`` migrations, or down to (not including) ``target``.

        ``steps=None`` with ``target=None`` reverts everything.
        """
        done: list[Migration] = []
        with self._locked() as (conn, applied):
            for migration in reversed(self.migrations):
                if migration.version not in applied:
                    continue
                if target is not None and migration.version <= target:
                    break
                if steps is not None and len(done) >= steps:
                    break
                self._run(conn, migration, migration.down_sql, "down")
                done.append(migration)
        return done

    def _run(
        self,
        conn: psycopg.Connection[tuple[object, ...]],
        migration: Migration,
        sql: str,
        direction: str,
    ) -> None:
        try:
            with conn.transaction():
                conn.execute(sql.encode())  # bytes: no client-side placeholder parsing of % in SQL
                if direction == "up":
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum)"
                        " VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
                else:
                    conn.execute(
                        "DELETE FROM schema_migrations WHERE version = %s", (migration.version,)
                    )
        except psycopg.Error as exc:
            raise MigrationError(
                f"{migration.label}.{direction}.sql failed and was rolled back: {exc}"
            ) from exc

"""``mgh`` — the harness command line.

Subcommands stay thin: they parse options, call the library, and print. Exit codes: 0 success,
1 a check failed (unhealthy backend, migration error), 2 bad usage (click's own).
"""

from __future__ import annotations

import importlib
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import click

from harness.backends import SPECS, Backend, BackendUnavailable, BackendUnhealthy, resolve
from harness.contracts import openapi as openapi_contract
from harness.contracts.history import RevisionError, documents_at
from harness.contracts.openapi import Change
from harness.migrations import (
    Migration,
    MigrationError,
    Migrator,
    default_directory,
    lint,
)
from harness.service_processes import StackError
from harness.stack import launch


def _fail(message: str) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(1)


class _LazyGroup(click.Group):
    """Command groups with a module of their own register themselves when that module is
    imported, which happens only when one of them runs or help lists them: the gate's modules
    import scipy and ruptures, and `mgh run` need not wait for them (1.9 s → 1 s here)."""

    MODULES: ClassVar[dict[str, str]] = {
        "gate": "harness.cli.gate",
        "baseline": "harness.cli.gate",
        "load": "harness.cli.load",
        "run": "harness.cli.load",
        "obs": "harness.cli.obs",
        "faults": "harness.cli.faults",
        "soak": "harness.cli.soak",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.MODULES})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.MODULES and cmd_name not in self.commands:
            importlib.import_module(self.MODULES[cmd_name])
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup)
@click.version_option(package_name="media-gateway-harness")
def main() -> None:
    """Media Gateway harness: backends, stack, suites, load profiles and reports."""


# --- backends ------------------------------------------------------------------------------


@contextmanager
def _backends(names: tuple[str, ...], timeout: float) -> Iterator[list[Backend]]:
    """Provide each named backend, printing one line per backend as it becomes healthy."""
    started: list[Backend] = []
    try:
        for name in names or tuple(SPECS):
            begun = time.monotonic()
            try:
                backend = resolve(SPECS[name], wait=timeout)
            except (BackendUnavailable, BackendUnhealthy) as exc:
                _fail(str(exc))
            started.append(backend)
            click.echo(
                f"  {backend.name:<9} {backend.mode:<9} healthy in "
                f"{time.monotonic() - begun:5.2f}s  {backend.url}"
            )
        yield started
    finally:
        for backend in reversed(started):
            backend.stop()


def _run_until_interrupted(tick: Callable[[], None] | None = None) -> None:
    """Block until Ctrl-C or SIGTERM (calling ``tick`` every second, if given); the caller's
    context managers then stop what it started."""
    click.echo("\nrunning; Ctrl-C to stop")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # A shell without job control starts `mgh … &` with SIGINT ignored, and Python keeps it
    # so: a script's `kill -INT` then left the whole stack running. Interrupts stop it always.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        while True:
            if tick is None:
                signal.pause()
            else:
                tick()
                time.sleep(1)
    except KeyboardInterrupt:
        click.echo("stopping")


_names = click.argument("names", nargs=-1, type=click.Choice(sorted(SPECS)))
_timeout = click.option(
    "--timeout", default=60.0, show_default=True, help="Seconds to wait for each backend."
)


@main.group()
def backends() -> None:
    """Start, attach to and check the backends (PostgreSQL, Redis, Kafka, Qdrant)."""


@backends.command("check")
@_names
@_timeout
def backends_check(names: tuple[str, ...], timeout: float) -> None:
    """Bring the backends up, report their health, and bring them down again."""
    click.echo("backends (resolution: env URL → container → local process → embedded):")
    with _backends(names, timeout) as started:
        problems = [(b.name, p) for b in started if (p := b.health()) is not None]
    for name, problem in problems:
        click.secho(f"  {name}: unhealthy: {problem}", fg="red")
    if problems:
        sys.exit(1)
    click.secho(f"all {len(started)} backends healthy; stopped the ones started here", fg="green")


@backends.command("up")
@_names
@_timeout
def backends_up(names: tuple[str, ...], timeout: float) -> None:
    """Bring the backends up and keep them running until Ctrl-C; prints env exports."""
    with _backends(names, timeout) as started:
        click.echo("\n# point other shells at these backends:")
        for backend in started:
            if backend.name == "qdrant" and backend.mode == "embedded":
                click.echo(
                    "# qdrant is embedded (in-process only): other processes embed their own"
                )
                continue
            click.echo(f"export {SPECS[backend.name].env_var}={backend.url}")
        _run_until_interrupted()


# --- database ------------------------------------------------------------------------------

_url = click.option(
    "--url",
    envvar="MG_POSTGRES_URL",
    show_envvar=True,
    help="Database to migrate, postgresql://user@host:port/dbname.",
)
_dir = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Migrations directory (default: the repository's migrations/).",
)


@main.group()
def db() -> None:
    """Database schema: one migration sequence for every service."""


@db.command("lint")
@_dir
def db_lint(directory: Path | None) -> None:
    """Check migration file names, pairs, numbering and headers."""
    directory = directory or default_directory()
    problems = lint(directory)
    for problem in problems:
        click.secho(f"  {problem}", fg="red")
    if problems:
        sys.exit(1)
    click.echo(f"{directory}: {len(list(directory.glob('*.up.sql')))} migrations, all consistent")


@db.group()
def migrate() -> None:
    """Apply, revert or list migrations (each in its own transaction)."""


def _migrator(url: str | None, directory: Path | None) -> Migrator:
    if not url:
        raise click.UsageError("no database given: pass --url or set MG_POSTGRES_URL")
    try:
        return Migrator(url, directory)
    except MigrationError as exc:
        _fail(str(exc))
        raise  # unreachable: _fail exits


def _report(migrations: list[Migration], verb: str) -> None:
    for migration in migrations:
        click.echo(f"  {verb:<8} {migration.label}")
    click.echo(f"{len(migrations)} migration(s) {verb}")


@migrate.command("up")
@_url
@_dir
@click.option("--to", "target", type=int, help="Stop after this version.")
def migrate_up(url: str | None, directory: Path | None, target: int | None) -> None:
    """Apply pending migrations (all, or up to --to)."""
    try:
        applied = _migrator(url, directory).up(target)
    except MigrationError as exc:
        _fail(str(exc))
    _report(applied, "applied")


@migrate.command("down")
@_url
@_dir
@click.option("--steps", type=int, default=1, show_default=True, help="How many to revert.")
@click.option("--to", "target", type=int, help="Revert down to (not including) this version.")
@click.option("--all", "everything", is_flag=True, help="Revert every applied migration.")
def migrate_down(
    url: str | None, directory: Path | None, steps: int, target: int | None, everything: bool
) -> None:
    """Revert the newest migration (or --steps N, --to N, --all)."""
    try:
        reverted = _migrator(url, directory).down(
            steps=None if everything or target is not None else steps,
            target=target,
        )
    except MigrationError as exc:
        _fail(str(exc))
    _report(reverted, "reverted")


@migrate.command("status")
@_url
@_dir
def migrate_status(url: str | None, directory: Path | None) -> None:
    """List every migration with its owner and when it was applied."""
    try:
        rows = _migrator(url, directory).status()
    except MigrationError as exc:
        _fail(str(exc))
    for row in rows:
        when = row.applied_at.isoformat(timespec="seconds") if row.applied_at else "pending"
        click.echo(f"  {row.migration.label:<32} {row.migration.service or '?':<10} {when}")
    pending = sum(1 for r in rows if r.applied_at is None)
    click.echo(f"{len(rows) - pending} applied, {pending} pending")


# --- catalogue ----------------------------------------------------------------------------


@main.group()
def catalogue() -> None:
    """The seed catalogue: platform feeds for ingestion."""


@catalogue.command("generate")
@click.option("--works", default=3000, show_default=True, help="Distinct titles.")
@click.option("--seed", default=20251207, show_default=True, help="Same seed, same files.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory (default: data/catalogue in the repository).",
)
def catalogue_generate(works: int, seed: int, out: Path | None) -> None:
    """Write platforms.json, feeds/<platform>.json and truth.json."""
    from harness import catalogue as generator  # noqa: PLC0415 — a large module, rarely needed

    directory = out or generator.default_directory()
    counts = generator.write(directory, works, seed)
    click.echo(f"{directory}: {counts.pop('works')} works; feed entries: " + ", ".join(
        f"{platform} {count}" for platform, count in counts.items()
    ))  # fmt: skip


# --- contracts ------------------------------------------------------------------------------


def _contracts_dir() -> Path:
    """``contracts/`` at the repository root (the package is installed from a checkout)."""
    return Path(__file__).resolve().parents[3] / "contracts"


def _load_json(path: Path) -> dict[str, Any]:
    try:
        document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        _fail(f"{path}: {exc}")
    return document


def _print_changes(changes: list[Change], indent: str = "") -> None:
    for change in changes:
        colour = "red" if change.kind == "breaking" else None
        click.secho(f"{indent}{change.kind:<10} {change.path}", fg=colour)
        click.echo(f"{indent}           {change.message}")


@main.group()
def contracts() -> None:
    """OpenAPI and event contracts: classify changes, compare with the committed snapshots."""


@contracts.command("diff")
@click.argument("old", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("new", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def contracts_diff(old: Path, new: Path) -> None:
    """Classify every change from OLD to NEW; exit 1 on a breaking change without a major bump."""
    old_doc, new_doc = _load_json(old), _load_json(new)
    changes = openapi_contract.diff(old_doc, new_doc)
    _print_changes(changes)
    count = sum(1 for c in changes if c.kind == "breaking")
    click.echo(f"{len(changes)} change(s), {count} breaking")
    if openapi_contract.needs_version_bump(old_doc, new_doc, changes):
        _fail(
            f"breaking changes need a new major version: info.version "
            f"{old_doc.get('info', {}).get('version')!r} → "
            f"{new_doc.get('info', {}).get('version')!r} keeps the major"
        )


_snapshots_option = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Committed snapshots (default: contracts/openapi in the repository).",
)


@contracts.command("since")
@click.argument("revision")
@_snapshots_option
def contracts_since(revision: str, directory: Path | None) -> None:
    """Classify every change of the committed documents since REVISION (e.g. a pull request's
    base); exit 1 when one breaks clients but keeps its major info.version."""
    snapshots = directory or _contracts_dir() / "openapi"
    try:
        before = documents_at(revision, snapshots)
    except RevisionError as exc:
        _fail(str(exc))
    unbumped = []
    for name, old in before.items():
        new = _load_json(snapshots / f"{name}.json")
        if old is None:
            click.echo(f"{name}: new document (version {new.get('info', {}).get('version')})")
            continue
        changes = openapi_contract.diff(old, new)
        count = sum(1 for c in changes if c.kind == "breaking")
        versions = f"{old.get('info', {}).get('version')} → {new.get('info', {}).get('version')}"
        click.echo(f"{name}: {len(changes)} change(s), {count} breaking, version {versions}")
        if openapi_contract.needs_version_bump(old, new, changes):
            unbumped.append(name)
            _print_changes([c for c in changes if c.kind == "breaking"], indent="  ")
    if unbumped:
        _fail(
            f"breaking changes since {revision} without a new major info.version: "
            f"{', '.join(unbumped)} (bump it in src/mediagw/api_versions.py and re-export)"
        )


@contracts.command("check")
@_snapshots_option
def contracts_check(directory: Path | None) -> None:
    """Compare the committed OpenAPI snapshots with what the services generate now."""
    snapshots = directory or _contracts_dir() / "openapi"
    with tempfile.TemporaryDirectory(prefix="mgh-openapi-") as scratch:
        result = subprocess.run(
            [sys.executable, "-m", "mediagw", "openapi", "export", "--out", scratch],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            _fail(f"`mediagw openapi export` failed: {result.stderr.strip()[-2000:]}")
        generated = {p.stem: _load_json(p) for p in Path(scratch).glob("*.json")}
    committed = {p.stem: _load_json(p) for p in snapshots.glob("*.json")}
    stale = False
    for service in sorted(generated.keys() | committed.keys()):
        if service not in committed:
            click.secho(f"{service}: no committed snapshot", fg="red")
            stale = True
            continue
        if service not in generated:
            click.secho(f"{service}: snapshot of a service that no longer exists", fg="red")
            stale = True
            continue
        old, new = committed[service], generated[service]
        changes = openapi_contract.diff(old, new)
        if old == new:
            click.echo(f"{service}: matches the snapshot")
            continue
        stale = True
        count = sum(1 for c in changes if c.kind == "breaking")
        bump = " — needs a major version bump" if openapi_contract.needs_version_bump(
            old, new, changes
        ) else ""  # fmt: skip
        click.secho(
            f"{service}: differs from the snapshot: {len(changes)} change(s), "
            f"{count} breaking{bump}",
            fg="red" if count else "yellow",
        )
        _print_changes(changes, indent="  ")
    if stale:
        _fail(
            "snapshots are stale: run `python -m mediagw openapi export` (for breaking changes "
            "bump the major in src/mediagw/api_versions.py first)"
        )


@main.command("fuzz")
@click.option(
    "--examples", type=int, default=None, help="Examples per operation (default: the config's)."
)
@click.option("--seed", type=int, default=None, help="Seed (default: the config's).")
@click.option(
    "--only",
    default="",
    help="Comma-separated documents to run (gateway, auth, …); default: all of them.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Report directory (default: reports/out/fuzz).",
)
@click.option(
    "--embedder",
    type=click.Choice(["minilm", "hashing"]),
    default="hashing",
    show_default=True,
    help="Embedder of a launched stack (fuzzing does not judge relevance).",
)
@_timeout
def fuzz(
    examples: int | None,
    seed: int | None,
    only: str,
    out: Path | None,
    embedder: str,
    timeout: float,
) -> None:
    """Schemathesis' CLI with every check: the gateway's document through the gateway, each
    service's document on the service's own address; exit 1 on any failure.

    Against MG_TARGET_URL (and MG_TARGET_SERVICE_URLS) when set, else a launched, seeded stack.
    """
    from harness.contracts import fuzz_stack  # noqa: PLC0415 — starts servers; rarely needed

    wanted = tuple(filter(None, (name.strip() for name in only.split(","))))
    try:
        results = fuzz_stack.run_all(
            out or _contracts_dir().parent / "reports" / "out" / "fuzz",
            documents=wanted,
            examples=examples,
            seed=seed,
            timeout=timeout,
            embedder=embedder,
            progress=click.echo,
        )
    except (fuzz_stack.FuzzSetupError, StackError, BackendUnavailable, BackendUnhealthy) as exc:
        _fail(str(exc))
    for line in fuzz_stack.summary_table(results):
        click.echo(line)
    failed = [r for r in results if not r.passed]
    if failed:
        _fail(f"{len(failed)} of {len(results)} schemathesis run(s) found failures")
    click.secho(f"all {len(results)} schemathesis runs passed", fg="green")


# --- the stack ------------------------------------------------------------------------------


@main.group()
def stack() -> None:
    """The reference Media Gateway stack (gateway + services on real backends)."""


@stack.command("up")
@click.option("--workers", default=1, show_default=True, help="Gateway worker processes.")
@click.option("--port", type=int, default=None, help="Gateway port (default: a free one).")
@click.option("--seed/--no-seed", default=True, show_default=True, help="Ingest the catalogue.")
@click.option("--embedder", type=click.Choice(["minilm", "hashing"]), default="minilm")
@_timeout
def stack_up(workers: int, port: int | None, seed: bool, embedder: str, timeout: float) -> None:
    """Start backends and the all-in-one gateway; keep running until Ctrl-C."""
    if seed:
        click.echo("starting the stack and ingesting the seed catalogue …")
    try:
        running = launch(workers=workers, port=port, seed=seed, embedder=embedder, timeout=timeout)
    except (StackError, BackendUnavailable, BackendUnhealthy) as exc:
        _fail(str(exc))
    with running:
        click.echo(f"gateway   {running.base_url}  (all-in-one, {workers} worker(s))")
        click.echo(f"database  {running.database_url}")
        click.echo(f"redis     {running.redis_url}")
        if running.admin is not None:
            click.echo(f"admin     {running.admin.email} / {running.admin.password}")
        for result in running.seeded:
            click.echo(
                f"ingested  {result.platform:<8} {result.counts.get('fetched', 0):5d} items "
                f"in {result.seconds:5.1f} s"
            )
        if running.seeded:
            click.echo(
                f"seeded    {running.seeded_items} items in {running.seeding_seconds:.1f} s"
                " (the runs overlap)"
            )
        if running.mailbox is not None:
            click.echo(f"mailbox   {running.mailbox.directory}  (e-mails the stack sends)")
        click.echo(f"\nexport MG_TARGET_URL={running.base_url}")
        if running.mailbox is not None:
            click.echo(f"export MG_TARGET_MAILBOX={running.mailbox.directory}")
        if running.admin is not None:
            # `st run` from this clone signs in with these (schemathesis.toml → st_hooks).
            click.echo(f"export MG_FUZZ_EMAIL={running.admin.email}")
            click.echo(f"export MG_FUZZ_PASSWORD={running.admin.password}")
        _run_until_interrupted()

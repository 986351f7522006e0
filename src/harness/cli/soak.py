"""``mgh soak run``: the soak profile, sampled for leaks, judged by slope, drawn as PNG."""

from __future__ import annotations

import signal
import sys
import time

import click

from harness.backends import BackendUnavailable, BackendUnhealthy
from harness.cli import _fail, main
from harness.service_processes import StackError
from harness.soak import runner as soak_runner


@main.group()
def soak() -> None:
    """A long steady load that catches leaks: memory, descriptors, connections, backlogs."""


@soak.command("run")
@click.option(
    "--preset",
    default="local",
    show_default=True,
    type=click.Choice(["smoke", "ci", "local"]),
    help="smoke 1 min, ci 3 min, local 20 min (load/profiles/soak.yaml).",
)
def soak_run(preset: str) -> None:
    """The soak profile against a per-service stack; fails on sustained growth.

    Exit 0 no series grows, 1 some series grows (or a process vanished), 2 the run was too
    short to judge (smoke, ci: their curves are drawn all the same).

    Samples each service's RSS and open file descriptors, the stack's PostgreSQL connections,
    Redis memory and Kafka outbox every few seconds; writes soak.md, soak.json and the curves
    as PNG under reports/out/soak/<run>/.
    """
    began = time.monotonic()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        outcome = soak_runner.run(preset=preset, progress=click.echo)
    except ValueError as exc:
        _fail(str(exc))
    except (StackError, BackendUnavailable, BackendUnhealthy) as exc:
        _fail(str(exc))
    click.echo("")
    for judged in outcome.judged:
        click.echo(judged.trend.describe())
    for error in outcome.sampler_errors:
        click.secho(f"sampler: {error}", fg="red", err=True)
    if not outcome.judgeable:
        verdict = "NOT JUDGED: shorter than 10 minutes, a run cannot tell a leak from a warm-up"
    elif outcome.passed:
        verdict = "PASS"
    else:
        verdict = f"FAIL: growing {', '.join(outcome.growing) or '—'}"
    click.echo(
        f"{verdict} — {time.monotonic() - began:.0f} s in all; report "
        f"{outcome.directory / 'soak.md'}, charts {', '.join(p.name for p in outcome.charts)}"
    )
    sys.exit(0 if outcome.passed else (2 if not outcome.judgeable else 1))

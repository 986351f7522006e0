"""``mgh faults run``: the fault matrix under load, printed as a table, exit 0 when it holds."""

from __future__ import annotations

import signal
import sys
import time

import click

from harness.backends import BackendUnavailable, BackendUnhealthy
from harness.cli import _fail, main
from harness.faults import report
from harness.faults.injections import FAULTS
from harness.faults.runner import RESULTS_DIR, run
from harness.service_processes import StackError


@main.group()
def faults() -> None:
    """Faults injected under load: what users saw, recovery, alerts, lost data."""


@faults.command("run")
@click.option(
    "--only",
    multiple=True,
    help="Run only the faults whose name contains this text (repeatable), e.g. --only kafka",
)
def run_command(only: tuple[str, ...]) -> None:
    """Every fault of the matrix, one after another, under the baseline load.

    Starts its own throwaway PostgreSQL, Redis, Kafka (tansu), InfluxDB, a per-service stack,
    Prometheus and Alertmanager; about 8 minutes for the whole matrix. Writes matrix.md and
    matrix.json under reports/out/faults/<run>/.
    """
    began = time.monotonic()
    # SIGTERM unwinds like Ctrl-C: every backend and service the run started is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # A shell without job control starts `mgh … &` with SIGINT ignored, and children inherit
    # that: the background Locust could then not be stopped by its interrupt.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        outcome = run(progress=click.echo, results_dir=RESULTS_DIR, only=list(only) or None)
    except ValueError as exc:
        _fail(str(exc))
    except (StackError, BackendUnavailable, BackendUnhealthy) as exc:
        _fail(str(exc))
    click.echo("")
    click.echo(report.markdown(outcome.result))
    for row in outcome.result.rows:
        for problem in report.problems(row):
            click.secho(f"FAIL {row.fault}: {problem}", fg="red", err=True)
    verdict = "PASS" if outcome.passed else "FAIL"
    click.echo(
        f"{verdict}: {len(outcome.result.rows) - 1} faults in {time.monotonic() - began:.0f} s; "
        f"report {outcome.directory / 'matrix.md'}"
    )
    sys.exit(0 if outcome.passed else 1)


@faults.command("list")
def list_command() -> None:
    """The faults of the matrix and how each is done."""
    for fault in FAULTS:
        alert = fault.alert.get("alertname", "none (not the system's)")
        click.echo(f"{fault.name:<24} {fault.how}; alert: {alert}")

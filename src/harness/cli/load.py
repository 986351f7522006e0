"""``mgh load run`` and ``mgh run`` (the main job): a load profile against the system."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from harness.backends import BackendUnavailable, BackendUnhealthy
from harness.cli import _fail, main
from harness.load import profiles
from harness.load.pool import PoolError
from harness.load.runner import RESULTS_DIR, LoadRequest, run
from harness.service_processes import StackError

VERDICTS = {0: "pass", 1: "threshold breached", 2: "could not judge"}


def _run(request: LoadRequest) -> None:
    began = time.monotonic()
    try:
        code, results = run(request, progress=click.echo)
    except (profiles.ProfileError, PoolError, StackError, BackendUnavailable) as exc:
        _fail(str(exc))
    except BackendUnhealthy as exc:
        _fail(str(exc))
    if results.exists():
        click.echo(f"results file: {results}")
    else:
        click.secho("the run wrote no results file (see the output above)", fg="red", err=True)
        code = code or 2
    click.echo(
        f"exit {code}: {VERDICTS.get(code, 'error')} — {time.monotonic() - began:.0f} s in all, "
        "everything started here stopped"
    )
    sys.exit(code)


@main.group()
def load() -> None:
    """Load profiles (baseline, stress, spike, soak) with Locust, results in InfluxDB."""


@load.command("run")
@click.argument("profile", type=str)
@click.option("--preset", default="smoke", show_default=True, help="smoke, ci, … or 'none'.")
@click.option("--scale", type=float, default=None, help="Users and rate factor (overrides).")
@click.option("--time-scale", type=float, default=None, help="Duration factor (overrides).")
@click.option("--mix", default="", help="Traffic mix, e.g. search=50,auth=50.")
@click.option("--target", default=None, help="Gateway URL of a running deployment.")
@click.option("--workers", default=1, show_default=True, help="Locust worker processes.")
@click.option("--stack-workers", default=1, show_default=True, help="Gateway workers (launched).")
@click.option("--influx", default=None, help="InfluxDB URL (default: a throwaway influxd).")
@click.option("--accounts", default=None, help="JSON file of existing test accounts.")
@click.option("--pool-size", default=24, show_default=True, help="Test accounts to prepare.")
@click.option(
    "--results-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=RESULTS_DIR,
    show_default=True,
)
@click.option("--abort-on-fail", is_flag=True, help="Stop at the first breached threshold.")
def load_run(
    profile: str,
    preset: str,
    scale: float | None,
    time_scale: float | None,
    mix: str,
    target: str | None,
    workers: int,
    stack_workers: int,
    influx: str | None,
    accounts: str | None,
    pool_size: int,
    results_dir: Path,
    abort_on_fail: bool,
) -> None:
    """Run PROFILE (load/profiles/PROFILE.yaml): starts the stack and InfluxDB unless given,
    shows progress, prints the SLO table; exit 0 pass, 1 threshold breached, 2 could not
    judge (aborted, generator saturated, no samples)."""
    _run(
        LoadRequest(
            profile=profile,
            preset=None if preset == "none" else preset,
            scale=scale,
            time_scale=time_scale,
            mix=mix,
            target=target,
            workers=workers,
            stack_workers=stack_workers,
            influx=influx,
            results_dir=results_dir,
            abort_on_fail=abort_on_fail,
            pool_size=pool_size,
            accounts=accounts,
        )
    )


@load.command("profiles")
def load_profiles() -> None:
    """List the profiles with their presets (duration, peak rate, users)."""
    for name in profiles.available():
        profile = profiles.load(name)
        click.echo(f"{name}: {profile.description}")
        for preset in sorted(profile.presets):
            scaled = profile.scaled(preset=preset)
            click.echo(
                f"  --preset {preset:<6} {scaled.duration:7.0f} s  peak {scaled.peak_rate:6.1f} "
                f"it/s  {scaled.peak_users:5d} users"
            )
        click.echo(
            f"  scale 1.0      {profile.duration:7.0f} s  peak {profile.peak_rate:6.0f} it/s  "
            f"{profile.peak_users:5d} users"
        )


@main.command("run")
def run_main_job() -> None:
    """The main job: backends, stack and InfluxDB up, the baseline profile at its smoke preset,
    the SLO table, the results file and the verdict; everything it started is stopped."""
    click.echo("backends (resolution: env URL → container → local process → embedded):")
    _run(LoadRequest(profile="baseline", preset="smoke"))

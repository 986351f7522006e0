"""``mgh load run``: a target (launched, or given by URL), InfluxDB, and Locust as users run it.

The run itself is ``locust -f load/locustfile.py --headless …`` in a child process — Locust's
own command line, so what the harness runs is what a user runs by hand, and ``--workers N``
is Locust's own ``--processes N`` (master + N workers on this machine; across machines, start
Locust's master and workers yourself with the same options). This module only provides what
that command needs: a stack with a seeded catalogue and a mailbox for test users, and InfluxDB.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from harness.backends import SPECS, Backend, resolve
from harness.load import profiles, runinfo
from harness.stack import Stack, Topology, launch

REPOSITORY = Path(__file__).resolve().parents[3]
LOCUSTFILE = REPOSITORY / "load" / "locustfile.py"
RESULTS_DIR = REPOSITORY / "reports" / "out" / "runs"


@dataclass
class Target:
    base_url: str
    mailbox: str | None
    stack_mode: str
    stack_workers: int
    backends: dict[str, Backend] = field(default_factory=dict)
    stack: Stack | None = None
    """The stack the harness launched (None for a deployment given by URL)."""


@dataclass
class LoadRequest:
    profile: str
    preset: str | None = "smoke"
    scale: float | None = None
    time_scale: float | None = None
    mix: str = ""
    target: str | None = None
    workers: int = 1
    stack_workers: int = 1
    influx: str | None = None
    results_dir: Path = RESULTS_DIR
    abort_on_fail: bool = False
    pool_size: int = 24
    accounts: str | None = None
    slo: Path | None = None
    """Another SLO file than load/slo.yaml."""
    extra_env: dict[str, str] = field(default_factory=dict)
    """Environment for a launched stack (e.g. the fault-injection settings)."""
    topology: Topology = "all-in-one"
    """Of a launched stack: per-service gives each service a process (and pid) of its own."""


@contextmanager
def target_for(request: LoadRequest, progress: Callable[[str], None]) -> Iterator[Target]:
    """The deployment to load: ``--target`` (or MG_TARGET_URL) as is, else a launched stack."""
    url = request.target or os.environ.get("MG_TARGET_URL")
    if url:
        yield Target(url.rstrip("/"), os.environ.get("MG_TARGET_MAILBOX"), "external", 1)
        return
    with ExitStack() as cleanup:
        began = time.monotonic()
        backends: dict[str, Backend] = {}
        for name in ("postgres", "redis", "kafka"):
            backends[name] = resolve(SPECS[name])
            cleanup.callback(backends[name].stop)
            progress(f"  {name:<9} {backends[name].mode:<9} {backends[name].url}")
        progress("starting the stack and ingesting the seed catalogue …")
        stack = cleanup.enter_context(
            launch(
                backends=backends,
                seed=True,
                workers=request.stack_workers,
                extra_env=request.extra_env,
                timeout=120,
                topology=request.topology,
            )
        )
        progress(
            f"stack: gateway at {stack.base_url}, {stack.seeded_items} feed items ingested "
            f"(seeding {stack.seeding_seconds:.0f} s), ready in {time.monotonic() - began:.0f} s"
        )
        mailbox = str(stack.mailbox.directory) if stack.mailbox else None
        yield Target(
            stack.base_url, mailbox, request.topology, request.stack_workers, backends, stack
        )


@contextmanager
def influx_for(request: LoadRequest, progress: Callable[[str], None]) -> Iterator[str]:
    url = request.influx or os.environ.get("MG_INFLUX_URL")
    if url:
        yield url
        return
    backend = resolve(SPECS["influxdb"])
    try:
        progress(f"  influxdb  {backend.mode:<9} {backend.url}")
        yield backend.url
    finally:
        backend.stop()


def locust_command(request: LoadRequest, target: Target, influx_url: str, run_id: str) -> list[str]:
    argv = [
        str(Path(sys.executable).with_name("locust")),
        "-f", str(LOCUSTFILE),
        "--headless", "--only-summary", "--loglevel", "WARNING",
        "--host", target.base_url,
        "--load-profile", request.profile,
        "--preset", request.preset or "none",
        "--influx", influx_url,
        "--results-dir", str(request.results_dir),
        "--run-id", run_id,
        "--stack-mode", target.stack_mode,
        "--stack-workers", str(target.stack_workers),
        "--pool-size", str(request.pool_size),
    ]  # fmt: skip
    for option, value in (
        ("--scale", request.scale),
        ("--time-scale", request.time_scale),
        ("--mix", request.mix or None),
        ("--mailbox", target.mailbox),
        ("--accounts", request.accounts),
        ("--slo", request.slo),
    ):
        if value is not None:
            argv += [option, str(value)]
    if request.abort_on_fail:
        argv.append("--abort-on-fail")
    if request.workers > 1:
        argv += ["--processes", str(request.workers)]
    return argv


def run(request: LoadRequest, progress: Callable[[str], None] = print) -> tuple[int, Path]:
    """Run the profile; the exit code (0 pass, 1 breached, 2 could not judge) and the path
    of the results file."""
    profile = profiles.load(request.profile).scaled(
        preset=request.preset, scale=request.scale, time_scale=request.time_scale
    )
    run_id = runinfo.new_run_id(profile.name, profile.preset)
    with target_for(request, progress) as target, influx_for(request, progress) as influx:
        progress(
            f"run {run_id}: {profile.name} at {profile.preset or 'custom'} — "
            f"{profile.duration:.0f} s, peak {profile.peak_rate:g} it/s, "
            f"{profile.peak_users} users, {request.workers} generator process(es)"
        )
        argv = locust_command(request, target, influx, run_id)
        completed = subprocess.run(argv, cwd=REPOSITORY, check=False)
    return completed.returncode, request.results_dir / run_id / "results.json"

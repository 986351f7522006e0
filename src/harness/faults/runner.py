"""``mgh faults run``: the rig, the background load, the matrix, the report.

The load is the ``baseline`` profile at its ``smoke`` rate (20 iterations/s), stretched to
outlast the whole matrix, run by Locust exactly as ``mgh load run`` runs it, writing to the
rig's own InfluxDB (which one of the faults takes down).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.faults import report
from harness.faults.injections import FAULTS, Fault
from harness.faults.matrix import MatrixResult, planned_seconds, run_matrix
from harness.faults.rig import rig
from harness.load import profiles
from harness.load.runinfo import new_run_id
from harness.load.runner import REPOSITORY, LoadRequest, Target, locust_command

RESULTS_DIR = REPOSITORY / "reports" / "out" / "faults"
LOAD_PROFILE, LOAD_PRESET = "baseline", "smoke"


@dataclass(frozen=True)
class FaultRun:
    result: MatrixResult
    directory: Path

    @property
    def passed(self) -> bool:
        return report.passed(self.result)


def _faults_named(names: list[str] | None) -> tuple[Fault, ...]:
    if not names:
        return FAULTS
    chosen = tuple(f for f in FAULTS if any(n.lower() in f.name.lower() for n in names))
    if not chosen:
        known = ", ".join(f.name for f in FAULTS)
        raise ValueError(f"no fault matches {names}; the faults are: {known}")
    return chosen


def run(
    progress: Callable[[str], None] = print,
    results_dir: Path = RESULTS_DIR,
    only: list[str] | None = None,
) -> FaultRun:
    faults = _faults_named(only)
    base = profiles.load(LOAD_PROFILE)
    run_id = new_run_id("faults", None)
    directory = results_dir / run_id
    request = LoadRequest(
        profile=LOAD_PROFILE,
        preset=LOAD_PRESET,
        time_scale=planned_seconds(faults) / base.duration,
        pool_size=12,
        results_dir=directory / "load",
    )
    load_id = new_run_id(LOAD_PROFILE, LOAD_PRESET)
    progress("starting the rig (every backend a process of its own, per-service stack) …")
    with rig(progress) as running:
        mailbox = str(running.stack.mailbox.directory) if running.stack.mailbox else None
        target = Target(running.stack.base_url, mailbox, "per-service", 1)
        argv = locust_command(request, target, running.backends["influxdb"].url, load_id)
        directory.mkdir(parents=True, exist_ok=True)
        progress(
            f"background load: {LOAD_PROFILE} at {LOAD_PRESET} rate for up to "
            f"{planned_seconds(faults):.0f} s (Locust log: {directory / 'load.log'})"
        )
        with open(directory / "load.log", "wb") as log:
            load = subprocess.Popen(argv, cwd=REPOSITORY, stdout=log, stderr=subprocess.STDOUT)
            result = run_matrix(
                running, load, request.results_dir / load_id / "results.json", progress, faults
            )
    report.write(result, directory)
    return FaultRun(result, directory)

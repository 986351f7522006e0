"""``mgh soak run``: the soak profile against a per-service stack, sampled, judged, charted.

The load is Locust running ``load/profiles/soak.yaml`` exactly as ``mgh load run`` runs it
(its progress lines print every 5 s). Meanwhile the sampler reads each service's memory and
file descriptors and the stack's connections, Redis memory and outbox every few seconds; at the
end each series is judged for sustained growth (:mod:`harness.soak.trend`) and drawn.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.load import profiles
from harness.load.runinfo import new_run_id
from harness.load.runner import REPOSITORY, LoadRequest, influx_for, locust_command, target_for
from harness.soak import report
from harness.soak.sampler import Sampler

RESULTS_DIR = REPOSITORY / "reports" / "out" / "soak"
MIN_JUDGED_SECONDS = 600.0
"""Shorter runs are mostly warm-up (every user's sockets still opening, caches filling): their
slopes are measured and shown, but not judged — a minute cannot tell a leak from a warm-up."""
SAMPLES_WANTED = 240
"""Samples per series over the run (every 5 s over the local preset's 20 minutes)."""


@dataclass(frozen=True)
class SoakRun:
    judged: list[report.Judged]
    directory: Path
    charts: list[Path]
    load_exit: int
    sampler_errors: list[str]
    judged_seconds: float
    """The run's planned length; below :data:`MIN_JUDGED_SECONDS` nothing is judged."""

    @property
    def judgeable(self) -> bool:
        return self.judged_seconds >= MIN_JUDGED_SECONDS

    @property
    def growing(self) -> list[str]:
        return [j.trend.metric for j in self.judged if j.trend.growing]

    @property
    def passed(self) -> bool:
        return self.judgeable and not self.growing and not self.sampler_errors


def interval_for(duration: float) -> float:
    """Every 5 s over 20 minutes; shorter runs sample faster, down to once a second."""
    return max(1.0, min(5.0, duration / SAMPLES_WANTED))


def run(
    preset: str = "local",
    progress: Callable[[str], None] = print,
    results_dir: Path = RESULTS_DIR,
) -> SoakRun:
    profile = profiles.load("soak").scaled(preset=preset)
    run_id = new_run_id("soak", preset)
    directory = results_dir / run_id
    request = LoadRequest(
        profile="soak", preset=preset, topology="per-service", results_dir=directory / "load"
    )
    interval = interval_for(profile.duration)
    with target_for(request, progress) as target, influx_for(request, progress) as influx:
        stack = target.stack
        if stack is None or stack.database_url is None or stack.redis_url is None:
            raise ValueError(
                "the soak samples the processes of a stack it launches: unset MG_TARGET_URL"
            )
        pids = {
            name: (lambda process=process: process.pid if process.alive else None)
            for name, process in stack.processes.items()
        }
        sampler = Sampler(pids, stack.database_url, stack.redis_url, interval)
        progress(
            f"soak {run_id}: {profile.duration / 60:.0f} min at {profile.peak_rate:g} it/s, "
            f"sampling {len(pids)} processes and the stack every {interval:g} s"
        )
        sampler.start()
        began = time.monotonic()
        try:
            argv = locust_command(request, target, influx, new_run_id("soak", preset))
            load_exit = subprocess.run(argv, cwd=REPOSITORY, check=False).returncode
        finally:
            sampler.stop()
        progress(f"load ended after {time.monotonic() - began:.0f} s (exit {load_exit})")
    judged = report.judge_all(sampler.series)
    extra: dict[str, object] = {
        "run_id": run_id,
        "preset": preset,
        "interval_s": interval,
        "load_exit": load_exit,
        "sampler_errors": sampler.errors,
        "judged": profile.duration >= MIN_JUDGED_SECONDS,
    }
    charts = report.write(judged, directory, extra)
    return SoakRun(judged, directory, charts, load_exit, sampler.errors, profile.duration)

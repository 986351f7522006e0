"""Who and where a run is: its id, the code it ran (git), and the environment fingerprint.

Runs are compared only with runs of the same fingerprint (the regression gate refuses the
rest): the same CPU model and core count, Python, and stack mode and size. Machines here differ
from session to session, so the fingerprint is what makes "the same" mean something.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import secrets
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parents[3]


def new_run_id(profile: str, preset: str | None) -> str:
    """Sortable and unique: ``20261202T101500Z-baseline-smoke-3f9a``."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return f"{stamp}-{profile}-{preset or 'custom'}-{secrets.token_hex(2)}"


def _git(*args: str) -> str:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPOSITORY, capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def cpu_model() -> str:
    try:
        for row in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if row.startswith("model name"):
                return row.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@dataclass(frozen=True)
class Environment:
    cpu_model: str
    cores: int
    python: str
    stack_mode: str
    """``all-in-one``, ``per-service`` or ``external`` (a deployment given by URL)."""
    stack_workers: int
    generator_processes: int

    @property
    def fingerprint(self) -> str:
        text = "|".join(str(v) for v in asdict(self).values())
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def describe(self) -> dict[str, Any]:
        return {**asdict(self), "fingerprint": self.fingerprint}


def environment(stack_mode: str, stack_workers: int, generator_processes: int) -> Environment:
    return Environment(
        cpu_model=cpu_model(),
        cores=os.cpu_count() or 1,
        python=platform.python_version(),
        stack_mode=stack_mode,
        stack_workers=stack_workers,
        generator_processes=generator_processes,
    )


REFERENCE_REPEATS = 25
REFERENCE_METHOD = (
    "fastest of 25 runs of a fixed interpreter-bound workload (5,000 dict/str/int steps and a "
    "json.dumps), in the load generator's process before the measured window"
)


def _reference_workload() -> int:
    """Work shaped like a Python request handler's (dicts, strings, small ints), no I/O."""
    total = 0
    counts: dict[str, int] = {}
    for index in range(5000):
        key = f"k{index % 512}"
        counts[key] = counts.get(key, 0) + index
        total += len(key) * (index & 7)
    return total + len(json.dumps(counts))


def machine_reference() -> dict[str, Any]:
    """How fast this machine runs Python right now: the in-run reference of the machine's speed.

    The fingerprint says *which* machine; it cannot say how fast it is today. Two sessions on
    the same CPU model ran every endpoint of the same build at medians 2.1 x apart, so runs
    carry this figure and the regression gate refuses to compare runs whose figures differ by
    more than its tolerance. The fastest of many short repeats is taken: it measures what the
    machine can do, not how busy it happened to be (slower repeats are the other work on the
    box; here they fall into two clusters about 1.5 x apart, as when a sibling vCPU is busy)."""
    times = []
    for _ in range(REFERENCE_REPEATS):
        began = time.perf_counter()
        _reference_workload()
        times.append(time.perf_counter() - began)
    return {"reference_ms": round(1000 * min(times), 4), "method": REFERENCE_METHOD}


def code() -> dict[str, str]:
    """The commit and branch of the harness that ran (``GITHUB_*`` in CI, else git)."""
    sha = os.environ.get("GITHUB_SHA") or _git("rev-parse", "HEAD")
    branch = (
        os.environ.get("GITHUB_HEAD_REF")
        or os.environ.get("GITHUB_REF_NAME")
        or _git("rev-parse", "--abbrev-ref", "HEAD")
    )
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    return {"git_sha": sha[:40], "branch": branch, "dirty": "yes" if dirty else "no"}

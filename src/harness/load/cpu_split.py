"""Where a path's CPU goes: seconds of CPU per request in each process group, from ``/proc``.

On a box of two cores a request's cost is shared by the service's workers, PostgreSQL, Redis
and the load generator itself; a throughput ratio alone cannot say which of them a path is
bound by. Two snapshots of every process's CPU time around a probe, grouped by what the process
is and divided by the requests served, can. Linux only (``/proc``); elsewhere the split is empty.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

Grouper = Callable[[int, int, str], str | None]
"""(pid, parent pid, command line) → the group a process counts in, or None to leave it out."""


@dataclass(frozen=True)
class CpuSnapshot:
    seconds: dict[int, tuple[str, float]]
    """pid → (group, CPU seconds used so far)."""


def snapshot(group_of: Grouper) -> CpuSnapshot:
    seconds: dict[int, tuple[str, float]] = {}
    if not PROC.is_dir():
        return CpuSnapshot(seconds)
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended between the listing and the read
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after the command, which may hold ")"
        group = group_of(pid, int(fields[1]), command)
        if group is None:
            continue
        seconds[pid] = (group, (int(fields[11]) + int(fields[12])) / _TICKS)
    return CpuSnapshot(seconds)


def split(before: CpuSnapshot, after: CpuSnapshot, requests: int) -> dict[str, float]:
    """Milliseconds of CPU per request, per group, between two snapshots (processes born in
    between count from zero; processes that ended are lost, as their last figures are)."""
    totals: dict[str, float] = {}
    for pid, (group, used) in after.seconds.items():
        earlier = before.seconds.get(pid)
        start = earlier[1] if earlier is not None and earlier[0] == group else 0.0
        totals[group] = totals.get(group, 0.0) + max(0.0, used - start)
    if requests <= 0:
        return {}
    return {group: 1000 * used / requests for group, used in sorted(totals.items())}


def stack_groups(gateway_pid: int | None, probe_marker: str) -> Grouper:
    """Groups for a local all-in-one stack: its gateway (the supervisor and its workers),
    PostgreSQL and Redis (every process of theirs on the box) and the probe."""

    def group_of(pid: int, parent: int, command: str) -> str | None:
        if probe_marker in command:
            return "probe"
        if command.startswith("postgres") or "postgres:" in command or "/postgres " in command:
            return "postgres"
        if "redis-server" in command:
            return "redis"
        if gateway_pid is not None and gateway_pid in (pid, parent):
            return "gateway"
        return None

    return group_of


def describe(milliseconds: Mapping[str, float]) -> str:
    """``gateway 1.18 · postgres 0.42 · …`` in a fixed order, for the table."""
    order = ("gateway", "postgres", "redis", "probe")
    return " · ".join(f"{g} {milliseconds[g]:.2f}" for g in order if g in milliseconds) or "—"

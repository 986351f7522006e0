"""CPU per request by process group, read from /proc around a window."""

from __future__ import annotations

import os
import time

import pytest

from harness.load.cpu_split import CpuSnapshot, describe, snapshot, split, stack_groups

pytestmark = pytest.mark.unit


def test_the_split_divides_each_groups_cpu_by_the_requests() -> None:
    before = CpuSnapshot({1: ("gateway", 10.0), 2: ("postgres", 5.0), 3: ("gateway", 1.0)})
    after = CpuSnapshot(
        {1: ("gateway", 12.0), 2: ("postgres", 5.5), 3: ("gateway", 1.5), 4: ("redis", 0.1)}
    )
    per_request = split(before, after, requests=1000)
    assert per_request == pytest.approx({"gateway": 2.5, "postgres": 0.5, "redis": 0.1})
    assert describe(per_request) == "gateway 2.50 · postgres 0.50 · redis 0.10"
    assert split(before, after, requests=0) == {}


def test_a_snapshot_reads_this_processs_cpu_from_proc() -> None:
    me = os.getpid()
    groups = stack_groups(gateway_pid=me, probe_marker="no-such-probe")
    first = snapshot(groups)
    assert first.seconds[me][0] == "gateway"
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:  # burn a third of a second of CPU
        pass
    used = split(first, snapshot(groups), requests=1)["gateway"]
    assert 250 <= used <= 2000, f"{used} ms of CPU for a 300 ms burn"

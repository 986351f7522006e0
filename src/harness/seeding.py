"""Load the seed catalogue into a running stack through its public ingestion API."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from harness.accounts import Account, expect

RUNS = "/api/v1/ingestion/runs"
POLL_SECONDS = 0.5
"""Between polls of the runs: each poll is a request per unfinished run, served by the same
process that ingests (at 0.2 s they took ~7 % of its time during seeding)."""
FINISHED = frozenset({"succeeded", "failed"})


@dataclass(frozen=True)
class RunResult:
    platform: str
    status: str
    counts: dict[str, int]
    seconds: float
    """The run's own duration (the service's started_at → finished_at), queueing excluded."""


def feed_run(platform: str) -> dict[str, Any]:
    """The body of ``POST /api/v1/ingestion/runs`` for one platform's feed file."""
    return {"platform": platform, "source": {"type": "file", "name": platform}}


def start_run(client: httpx.Client, admin: Account, platform: str) -> str:
    """Ask for a run of one platform's feed file; its run id (the run goes on in the service)."""
    response = client.post(RUNS, json=feed_run(platform), headers=admin.headers)
    return str(expect(response, 202).json()["run_id"])


def _result(platform: str, state: dict[str, Any], waited: float) -> RunResult:
    counts = {k: int(v) for k, v in state.items() if isinstance(v, int)}
    seconds = waited
    if state.get("started_at") and state.get("finished_at"):
        started = datetime.fromisoformat(state["started_at"])
        seconds = (datetime.fromisoformat(state["finished_at"]) - started).total_seconds()
    return RunResult(platform, state["status"], counts, seconds)


def wait_runs(
    client: httpx.Client, admin: Account, runs: dict[str, str], timeout: float
) -> list[RunResult]:
    """Poll runs (run id → platform) until every one has finished; results in the order given."""
    began = time.monotonic()
    finished: dict[str, RunResult] = {}
    while True:
        for run_id, platform in runs.items():
            if run_id not in finished:
                state = expect(client.get(f"{RUNS}/{run_id}", headers=admin.headers), 200).json()
                if state["status"] in FINISHED:
                    finished[run_id] = _result(platform, state, time.monotonic() - began)
        if len(finished) == len(runs):
            return [finished[run_id] for run_id in runs]
        if time.monotonic() - began > timeout:
            pending = ", ".join(sorted(runs[r] for r in runs if r not in finished))
            raise TimeoutError(f"ingestion of {pending} still unfinished after {timeout:.0f} s")
        time.sleep(POLL_SECONDS)


def ingest_feed(
    client: httpx.Client, admin: Account, platform: str, timeout: float = 300.0
) -> RunResult:
    """Run one platform's feed file and wait for the run to finish."""
    return wait_runs(client, admin, {start_run(client, admin, platform): platform}, timeout)[0]


def seed_catalogue(
    client: httpx.Client, admin: Account, platforms: list[str], timeout: float = 300.0
) -> list[RunResult]:
    """Ingest every feed, all runs asked for at once (the service runs a few at a time).

    Concurrent runs still make one title per work: resolution takes advisory locks on every
    key an item can match by (suites/services/test_ingestion.py proves it with three platforms at
    once). Only which platform's item counts as "new" and which as "merged" depends on timing.
    While one run waits for PostgreSQL the other computes, which cut seeding by about a sixth.
    """
    runs = {start_run(client, admin, platform): platform for platform in platforms}
    results = wait_runs(client, admin, runs, timeout)
    failed = [r for r in results if r.status != "succeeded"]
    if failed:
        detail = "; ".join(f"{r.platform} {r.counts}" for r in failed)
        raise RuntimeError(f"ingestion failed: {detail}")
    return results

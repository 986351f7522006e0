"""Load the seed catalogue into a running stack through its public ingestion API."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from harness.accounts import Account, expect

RUNS = "/api/v1/ingestion/runs"


@dataclass(frozen=True)
class RunResult:
    platform: str
    status: str
    counts: dict[str, int]
    seconds: float


def ingest_feed(
    client: httpx.Client, admin: Account, platform: str, timeout: float = 300.0
) -> RunResult:
    """Run one platform's feed file and wait for the run to finish."""
    began = time.monotonic()
    body = {"platform": platform, "source": {"type": "file", "name": platform}}
    run = expect(client.post(RUNS, json=body, headers=admin.headers), 202).json()
    deadline = began + timeout
    while True:
        state = expect(client.get(f"{RUNS}/{run['run_id']}", headers=admin.headers), 200).json()
        if state["status"] in {"succeeded", "failed"}:
            counts = {k: int(v) for k, v in state.items() if isinstance(v, int)}
            return RunResult(platform, state["status"], counts, time.monotonic() - began)
        if time.monotonic() > deadline:
            raise TimeoutError(f"ingestion of {platform} still {state['status']} after {timeout}s")
        time.sleep(0.2)


def seed_catalogue(
    client: httpx.Client, admin: Account, platforms: list[str], timeout: float = 300.0
) -> list[RunResult]:
    """Ingest each feed in turn (one at a time, so entity resolution sees earlier platforms)."""
    results = []
    for platform in platforms:
        result = ingest_feed(client, admin, platform, timeout)
        if result.status != "succeeded":
            raise RuntimeError(f"ingestion of {platform} failed: {result.counts}")
        results.append(result)
    return results

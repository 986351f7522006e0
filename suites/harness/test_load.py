"""Load runs for real: Locust (as users run it) against the stack, results in InfluxDB.

Each profile's smoke preset runs against the session's seeded stack and writes to a throwaway
InfluxDB; the points are read back by run id. Then the experiments the gate and the drills rely
on, against a small stack of their own with latency injected on search: the open model keeps
its arrival rate and fails the slowed endpoint's threshold; too few users for the rate drop
iterations (counted); InfluxDB killed mid-run loses points, not the run; two worker processes
merge their histograms; a misspelled threshold is an error.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.backends import Backend
from harness.load import profiles
from harness.load.influx import V1Sink
from harness.load.runinfo import new_run_id
from harness.load.runner import REPOSITORY, LoadRequest, Target, locust_command
from harness.stack import Stack, launch

pytestmark = [pytest.mark.load, pytest.mark.integration, pytest.mark.slow]

JOURNEY_ENDPOINTS = {
    "GET /api/v1/search",
    "GET /api/v1/recommendations",
    "POST /api/v1/playback/sessions",
    "POST /api/v1/auth/token",
    "PUT /api/v1/watchlist/{content_id}",
    "WS /api/v1/sync/ws propagation",
}
"""Endpoints every default-mix run of a minute must have touched."""


def _target(stack: Stack) -> Target:
    mailbox = str(stack.mailbox.directory) if stack.mailbox else None
    return Target(stack.base_url, mailbox, "all-in-one" if stack.launched else "external", 1)


def run_load(
    target: Target, influx: str, tmp_path: Path, request: LoadRequest, timeout: float = 240
) -> tuple[int, dict[str, Any], str]:
    """One locust run; its exit code, results file and output."""
    request.results_dir = tmp_path / "runs"
    run_id = new_run_id(Path(request.profile).stem, request.preset)
    argv = locust_command(request, target, influx, run_id)
    completed = subprocess.run(
        argv, cwd=REPOSITORY, capture_output=True, text=True, timeout=timeout, check=False
    )
    output = completed.stdout + completed.stderr
    path = request.results_dir / run_id / "results.json"
    assert path.exists(), f"no results file; exit {completed.returncode}\n{output[-4000:]}"
    return completed.returncode, json.loads(path.read_text()), output


@pytest.fixture(scope="module")
def influx_url(influxdb_backend: Backend) -> str:
    return influxdb_backend.url


@pytest.fixture
def influx(influx_url: str) -> Iterator[V1Sink]:
    """A reader of the run's points (InfluxQL over the v1 API)."""
    sink = V1Sink(influx_url)
    try:
        yield sink
    finally:
        sink.close()


@pytest.mark.parametrize(
    "name",
    [
        "baseline",
        # A minute each: beyond make test's budget (make test-slow). make test still drives the
        # spike profile in the fire drill and baseline here and in the dashboard queries.
        pytest.param("stress", marks=pytest.mark.long),
        pytest.param("spike", marks=pytest.mark.long),
        pytest.param("soak", marks=pytest.mark.long),
    ],
)
def test_smoke_preset_runs_and_lands_in_influxdb(
    name: str, stack: Stack, influx_url: str, influx: V1Sink, tmp_path: Path
) -> None:
    code, report, output = run_load(
        _target(stack), influx_url, tmp_path, LoadRequest(profile=name, preset="smoke")
    )
    assert code in (0, 1, 2), output[-3000:]
    profile = profiles.load(name).scaled(preset="smoke")
    assert report["profile"]["preset"] == "smoke"
    assert report["machine"]["reference_ms"] > 0  # the machine's speed, for the gate
    assert set(report["endpoints"]) >= JOURNEY_ENDPOINTS, report["endpoints"].keys()
    for summary in report["endpoints"].values():
        assert summary["p99"] <= summary["max"]
        assert summary["p95"] >= summary["p95_actual"]  # corrected includes the wait to start
    # Achieved arrivals follow the target (within 15 %), nothing silently lost.
    due = sum(row["target_rate"] for row in report["timeline"])
    assert report["iterations"] + report["dropped"] == pytest.approx(due, rel=0.15)

    sink = influx
    run = report["run_id"]
    written = {row["endpoint"] for row in sink.query(
        f"SELECT count(\"count\") FROM requests WHERE run_id = '{run}' GROUP BY endpoint"
    )}  # fmt: skip
    assert written == set(report["endpoints"])
    events = [r["kind"] for r in sink.query(
        f"SELECT \"text\", kind FROM events WHERE run_id = '{run}'"
    )]  # fmt: skip
    assert events[0] == "start"
    assert events[-1] == "stop"
    assert events.count("stage") == len(profile.stages)
    # The users recorded per second follow the shape: in the middle of each stage they are
    # what the profile says for that moment (the edges lag: Locust adds and stops users at
    # its spawn rate).
    rows = sink.query(f"SELECT \"users\" FROM run WHERE run_id = '{run}'")
    users_at = {round(row["time"] / 1e9): row["users"] for row in rows}
    begun = report["started_at"]
    for stage in profile.stages:
        middle = begun + stage.duration / 2
        begun += stage.duration
        if stage.duration < 6:
            continue  # too short to have a settled middle
        seen = [users_at[t] for t in range(round(middle) - 1, round(middle) + 2) if t in users_at]
        expected = profile.users_at(middle - report["started_at"])
        assert seen, f"no users recorded around the middle of {stage.name}"
        assert min(abs(u - expected) for u in seen) <= 0.1 * expected + 2, (stage, seen)


# --- experiments on a stack with latency injected on search -------------------------------


@pytest.fixture(scope="module")
def slow_search(
    postgres_backend: Backend, redis_backend: Backend, kafka_backend: Backend
) -> Iterator[Stack]:
    """A small stack (one platform's feed, hashing embedder) whose search takes +250 ms."""
    with launch(
        backends={"postgres": postgres_backend, "redis": redis_backend, "kafka": kafka_backend},
        seed=True,
        seed_platforms=["appletv"],
        embedder="hashing",
        extra_env={"MG_INJECT_LATENCY_MS": "250", "MG_INJECT_ROUTES": r"^/api/v1/search$"},
        timeout=120,
    ) as launched:
        yield launched


def _profile_file(tmp_path: Path, users: int, rate: float, seconds: float) -> str:
    path = tmp_path / "flat.yaml"
    path.write_text(
        "name: flat\n"
        "stages:\n"
        f"  - {{name: flat, duration: {seconds}, users: {users}, rate: {rate}, ramp: false}}\n"
        "mix: {search: 70, recommendations: 30}\n"
    )
    return str(path)


def _slo_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "slo.yaml"
    path.write_text(body)
    return path


SEARCH_SLO = """
endpoints:
  "GET /api/v1/search": {p95_ms: 200}
  "GET /api/v1/recommendations": {p95_ms: 1000}
"""


def test_injected_latency_keeps_the_arrival_rate_and_fails_that_endpoint(
    slow_search: Stack, influx_url: str, tmp_path: Path
) -> None:
    request = LoadRequest(
        profile=_profile_file(tmp_path, users=40, rate=10, seconds=20),
        preset=None,
        slo=_slo_file(tmp_path, SEARCH_SLO),
        pool_size=6,
    )
    code, report, output = run_load(_target(slow_search), influx_url, tmp_path, request)
    assert code == 1, output[-3000:]
    search = report["endpoints"]["GET /api/v1/search"]
    assert search["p50_actual"] >= 250  # the injected delay is measured
    assert search["p99"] >= search["p99_actual"]
    assert search["mean"] > search["mean_actual"]  # corrected: each wait to start counts
    failed = {(t["scope"], t["outcome"]) for t in report["slo"]["thresholds"]}
    assert ("GET /api/v1/search", "fail") in failed
    assert ("GET /api/v1/recommendations", "pass") in failed
    assert report["dropped"] == 0
    assert report["iterations"] == pytest.approx(10 * 20, rel=0.15)  # open model: on target


def test_too_few_users_for_the_rate_count_dropped_iterations(
    slow_search: Stack, influx_url: str, influx: V1Sink, tmp_path: Path
) -> None:
    request = LoadRequest(
        profile=_profile_file(tmp_path, users=2, rate=15, seconds=15), preset=None, pool_size=4
    )
    request.mix = "search=1"
    code, report, output = run_load(_target(slow_search), influx_url, tmp_path, request)
    assert report["dropped"] > 0, output[-3000:]
    assert report["dropped"] + report["iterations"] == pytest.approx(15 * 15, rel=0.15)
    rows = influx.query(f"SELECT sum(dropped) FROM run WHERE run_id = '{report['run_id']}'")
    assert rows
    assert rows[0]["sum"] == report["dropped"]
    assert code in (1, 2)


def test_influxdb_killed_mid_run_loses_points_not_the_run(
    slow_search: Stack, owned_backend: Callable[[str], Backend], tmp_path: Path
) -> None:
    influx = owned_backend("influxdb")
    request = LoadRequest(
        profile=_profile_file(tmp_path, users=20, rate=8, seconds=20), preset=None, pool_size=4
    )
    request.slo = _slo_file(tmp_path, 'endpoints:\n  "GET /api/v1/search": {p95_ms: 60000}\n')
    killer = threading.Timer(8.0, influx.kill)
    killer.start()
    try:
        code, report, output = run_load(_target(slow_search), influx.url, tmp_path, request)
    finally:
        killer.cancel()
    assert code == 0, output[-3000:]
    assert report["iterations"] > 100
    assert report["influx"]["written"] > 0
    assert report["influx"]["dropped"] > 0  # counted, and said in the results
    assert "influxdb:" in output
    assert "dropped" in output


def test_two_worker_processes_merge_their_histograms(
    slow_search: Stack, influx_url: str, tmp_path: Path
) -> None:
    request = LoadRequest(
        profile=_profile_file(tmp_path, users=20, rate=8, seconds=15),
        preset=None,
        workers=2,
        pool_size=4,
    )
    request.slo = _slo_file(tmp_path, 'endpoints:\n  "GET /api/v1/serach": {p95_ms: 500}\n')
    code, report, output = run_load(_target(slow_search), influx_url, tmp_path, request)
    assert report["generator"]["processes"] == 2
    assert report["environment"]["generator_processes"] == 2
    assert report["endpoints"]["GET /api/v1/search"]["count"] > 30
    # Both workers' requests are in: iterations of the whole run, not of one worker.
    assert report["iterations"] == pytest.approx(8 * 15, rel=0.2)
    # The misspelled endpoint cannot be judged: an error, never a pass.
    assert code == 2, output[-3000:]
    assert any("serach" in reason for reason in report["reasons"])


def test_influxdb_2_is_written_through_influxdb_client() -> None:
    """The 2.x path (``influx2://host:port/org/bucket`` + ``INFLUX_TOKEN``): points written
    with ``influxdb-client`` are read back with Flux. Needs a 2.x server: ``MG_INFLUX2_URL``."""
    import os  # noqa: PLC0415 — only this test reads it

    url = os.environ.get("MG_INFLUX2_URL")
    if not url or not os.environ.get("INFLUX_TOKEN"):
        pytest.skip("needs an InfluxDB 2.x server: set MG_INFLUX2_URL and INFLUX_TOKEN")
    from influxdb_client.client.influxdb_client import InfluxDBClient  # noqa: PLC0415

    from harness.backends.influxdb import server_url  # noqa: PLC0415
    from harness.load.influx import InfluxWriter, V2Sink  # noqa: PLC0415

    run = new_run_id("influx2", None)
    writer = InfluxWriter(V2Sink(url))
    writer.point("requests", {"run_id": run, "endpoint": "GET /x"}, {"count": 3}, 1_700_000_000)
    stats = writer.close()
    assert (stats.written, stats.dropped) == (1, 0)
    org, bucket = url.split("/")[-2:]
    with InfluxDBClient(url=server_url(url), token=os.environ["INFLUX_TOKEN"], org=org) as client:
        tables = client.query_api().query(
            f'from(bucket: "{bucket}") |> range(start: 0) |> filter(fn: (r) => r.run_id == "{run}")'
        )
    assert [record.get_value() for table in tables for record in table.records] == [3]

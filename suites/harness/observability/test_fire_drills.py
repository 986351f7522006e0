"""Fire drills: a real fault in a running stack reaches the receiver its alert routes to.

A small stack of the drills' own (its own Redis, one platform's feed, the hashing embedder,
600 ms added to every search, readiness probed every second) is scraped by a real Prometheus
every second with the committed rules scaled by 1/60 — a one-hour burn window becomes one
minute, a ``for: 1m`` becomes two seconds (the floor) — and a real Alertmanager routes with
the committed tree, each receiver delivering to a webhook the test owns. The time from the
fault to the notification is printed.

1. Redis stopped → ``RedisUnavailable`` (P0) reaches PagerDuty's receiver; Redis started
   again → the alert resolves.
2. The ``spike`` profile through the gateway, with every search slower than its 500 ms
   objective → the search latency burn-rate page reaches its receiver; the alert coverage of
   the run (fired / quiet / never possible) is written to ``reports/out/obs/spike-drill/``.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.backends import SPECS, Backend
from harness.load.runinfo import new_run_id
from harness.load.runner import REPOSITORY, LoadRequest, Target, locust_command
from harness.obs import coverage
from harness.obs.alertmanager import route_receivers
from harness.obs.observatory import Observatory, scaled_rules
from harness.obs.prometheus import ScrapeTarget
from harness.stack import Stack, launch

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCALE = 1 / 60
SEARCH_DELAY_MS = 600
COVERAGE_DIR = REPOSITORY / "reports" / "out" / "obs" / "spike-drill"


@pytest.fixture(scope="module")
def own_redis() -> Iterator[Backend]:
    """A Redis of the drills' own (process mode): stopping it hurts no other test."""
    backend = SPECS["redis"].start_process()
    backend.wait_healthy()
    try:
        yield backend
    finally:
        backend.stop()


@pytest.fixture(scope="module")
def drill_stack(
    postgres_backend: Backend, kafka_backend: Backend, own_redis: Backend
) -> Iterator[Stack]:
    with launch(
        backends={"postgres": postgres_backend, "redis": own_redis, "kafka": kafka_backend},
        seed=True,
        seed_platforms=["appletv"],
        embedder="hashing",
        extra_env={
            "MG_READINESS_PROBE_INTERVAL_S": "1",
            "MG_INJECT_LATENCY_MS": str(SEARCH_DELAY_MS),
            "MG_INJECT_ROUTES": r"^/api/v1/search$",
        },
        timeout=120,
    ) as launched:
        yield launched


@pytest.fixture(scope="module")
def observatory(
    drill_stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Observatory]:
    rules = scaled_rules(tmp_path_factory.mktemp("rules"), SCALE)
    target = ScrapeTarget(f"{drill_stack.base_url}/metrics", "all-in-one")
    with Observatory([target], rules, interval=1.0) as running:
        running.wait_for_scrape()
        yield running


def _receiver_for(labels: dict[str, str]) -> str:
    receivers = route_receivers(labels)
    assert len(receivers) == 1, receivers
    return receivers[0]


def test_redis_stopped_pages_through_its_receiver_and_resolves_when_back(
    observatory: Observatory, own_redis: Backend
) -> None:
    labels = {"alertname": "RedisUnavailable", "severity": "P0", "service": "auth"}
    receiver = _receiver_for(labels)
    faulted = time.monotonic()
    own_redis.kill()  # as a crash would: no goodbye to its clients
    try:
        fired = observatory.webhook.wait_for_alert(
            receiver=receiver, timeout=60, alertname="RedisUnavailable"
        )
    finally:
        own_redis.restart()
    seconds = fired.received_monotonic - faulted
    print(f"\nRedis stopped → RedisUnavailable at {receiver!r} after {seconds:.1f} s")
    assert fired.status == "firing"
    services = {a.get("service") for a in fired.alerts}
    assert services <= {"auth", "discovery", "sona", "sync", "playback", "ingestion", "gateway"}
    restarted = time.monotonic()
    resolved = observatory.webhook.wait_for(
        lambda n: (
            n.receiver == receiver and n.status == "resolved" and "RedisUnavailable" in n.alertnames
        ),
        timeout=60,
    )
    print(f"Redis back → resolved after {resolved.received_monotonic - restarted:.1f} s")


def test_spike_with_slow_search_pages_the_latency_burn_rate_alert(
    observatory: Observatory, drill_stack: Stack, influxdb_backend: Backend, tmp_path: Path
) -> None:
    page = {"alertname": "LatencyErrorBudgetBurn", "slo": "get-search-p95", "long": "1h"}
    receiver = _receiver_for({**page, "severity": "P1", "service": "discovery"})
    request = LoadRequest(profile="spike", preset="smoke", time_scale=0.0625, pool_size=12)
    request.results_dir = tmp_path / "runs"
    mailbox = str(drill_stack.mailbox.directory) if drill_stack.mailbox else None
    target = Target(drill_stack.base_url, mailbox, "all-in-one", 1)
    run_id = new_run_id("spike", "smoke")
    argv = locust_command(request, target, influxdb_backend.url, run_id)
    started, window_start = time.monotonic(), time.time()
    with subprocess.Popen(
        argv, cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as load:
        try:
            fired = observatory.webhook.wait_for_alert(receiver=receiver, timeout=90, **page)
        finally:
            output, _ = load.communicate(timeout=180)
    seconds = fired.received_monotonic - started
    print(
        f"\nspike with +{SEARCH_DELAY_MS} ms search → {page['alertname']} ({page['slo']}) "
        f"at {receiver!r} {seconds:.1f} s after the load started"
    )
    assert fired.status == "firing"
    assert (request.results_dir / run_id / "results.json").exists(), output[-3000:]

    # The alert coverage of the run: which rules fired, stayed quiet or could never fire.
    time.sleep(2)  # ALERTS is written at the end of each evaluation: let one more pass
    window_end = time.time()
    report = coverage.coverage(
        observatory.prometheus, observatory.rule_files, window_start, window_end
    )
    markdown, _ = coverage.write(report, window_start, window_end, COVERAGE_DIR)
    fired_rules = sorted(c.identity for c in report if c.state == "fired")
    print(coverage.render_console(report).splitlines()[-1], f"— fired: {fired_rules}")
    print(f"alert coverage: {markdown}")
    burn = [
        c
        for c in report
        if c.alert == "LatencyErrorBudgetBurn"
        and c.labels.get("slo") == "get-search-p95"
        and c.labels.get("long") == "1h"
    ]
    assert [c.state for c in burn] == ["fired"], burn
    assert not [c for c in report if c.state == "can-never-fire"]

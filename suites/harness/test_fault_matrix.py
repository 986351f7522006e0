"""The fault matrix under load (``make test-slow``; about 8 minutes).

``mgh faults run`` as a suite: every backend a throwaway process of the matrix's own, a
per-service stack, the baseline load through the gateway, a real Prometheus and Alertmanager —
then each fault in turn (PostgreSQL restart, Redis down, Kafka unreachable, one service killed,
InfluxDB down, Prometheus down). Each test reads one property off the same run; the table is
printed and written to ``reports/out/faults/<run>/matrix.md``.
"""

from __future__ import annotations

import pytest

from harness.faults import report
from harness.faults.injections import FAULTS, KILLED_SERVICE
from harness.faults.matrix import Row
from harness.faults.runner import FaultRun, run

pytestmark = [pytest.mark.integration, pytest.mark.long, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def matrix() -> FaultRun:
    outcome = run(progress=print)
    print("\n" + report.markdown(outcome.result))
    return outcome


def _row(matrix: FaultRun, name: str) -> Row:
    return next(row for row in matrix.result.rows if row.fault == name)


def test_with_no_fault_the_witness_sees_no_failure(matrix: FaultRun) -> None:
    reference = matrix.result.rows[0]
    assert reference.requests > 0
    assert reference.failed == 0, reference.users_saw


@pytest.mark.parametrize("name", [fault.name for fault in FAULTS])
def test_each_fault_heals_fast_errors_named_alerted_and_nothing_lost(
    matrix: FaultRun, name: str
) -> None:
    row = _row(matrix, name)
    assert report.problems(row) == [], f"{row.fault}: users saw {row.users_saw}"
    assert row.losses.checked > 0, "the witness had accepted writes to check"


@pytest.mark.parametrize("name", ["PostgreSQL restart", "Redis down"])
def test_a_lost_backend_answers_503_dependency_unavailable(matrix: FaultRun, name: str) -> None:
    row = _row(matrix, name)
    assert row.failed > 0, "the fault was felt by the users (else it was not injected)"
    assert "503 dependency_unavailable" in row.users_saw


def test_a_killed_service_answers_through_the_gateway_as_502_or_503(matrix: FaultRun) -> None:
    row = _row(matrix, f"{KILLED_SERVICE} service killed")
    assert row.failed > 0
    failures = [part for part in row.users_saw.split(", ") if not part.startswith("2")]
    assert all(part.startswith(("502", "503", "404", "410")) for part in failures), failures


def test_every_event_reaches_the_deduplicating_consumer_exactly_once(matrix: FaultRun) -> None:
    kafka = _row(matrix, "Kafka unreachable")
    assert kafka.events is not None
    assert kafka.events.produced > 0
    assert kafka.events.pending == 0
    assert kafka.events.consumed == kafka.events.produced
    assert kafka.events.lost == 0


def test_the_load_went_on_through_the_influxdb_outage_and_counted_its_drops(
    matrix: FaultRun,
) -> None:
    load = matrix.result.load
    assert load is not None, "the background load wrote its results"
    influx = load["influx"]
    assert influx["written"] > 0
    assert influx["dropped"] > 0, "InfluxDB was down for 20 s: some points were dropped"


def test_prometheus_down_goes_unnoticed_by_the_system(matrix: FaultRun) -> None:
    row = _row(matrix, "Prometheus down")
    assert row.failed == 0, row.users_saw
    assert row.readiness == "all ready throughout"

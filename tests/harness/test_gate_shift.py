"""The run-wide shift and the noise factor for N runs: what lets the gate tell a machine that
was faster for three minutes from a pull request that slowed one endpoint.

Synthetic runs (``test_gate_judge.write_run``) with known slowdowns: every endpoint slower
alike moves the run-wide p50 shift and no endpoint's p50; one endpoint slower on top of a
run-wide shift is flagged by what it adds. The noise factor is checked against an independent
simulation of the exceedance it promises.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from harness.gate import noise, shift
from harness.gate import runs as gate_runs
from harness.gate.judge import judge
from harness.gate.model import Change, GateResult, MetricComparison, Run, Verdict
from harness.gate.runs import OVERALL, load_run
from harness.load import runinfo
from tests.harness.test_gate_judge import ENDPOINTS, SEARCH, Endpoint, write_run

pytestmark = pytest.mark.unit

SHIFT_P50 = shift.shift_metric("p50")


def _runs(tmp_path: Path, candidate: dict[str, Endpoint]) -> tuple[Run, Run]:
    base = load_run(write_run(tmp_path, "base", seed=1))
    cand = load_run(write_run(tmp_path, "cand", seed=2, endpoints=candidate))
    return base, cand


def _row(result: GateResult, endpoint: str, metric: str) -> MetricComparison:
    return next(r for r in result.comparisons if (r.endpoint, r.metric) == (endpoint, metric))


def test_every_endpoint_slower_alike_is_a_shift_the_gate_cannot_attribute(
    tmp_path: Path,
) -> None:
    everything = {name: replace(spec, slowdown=1.15) for name, spec in ENDPOINTS.items()}
    result = judge(*_runs(tmp_path, everything))
    row = _row(result, OVERALL, SHIFT_P50)
    assert row.ratio == pytest.approx(1.15, abs=0.03)
    assert row.change is Change.SHIFTED, row.evidence
    assert _row(result, OVERALL, shift.shift_metric("p95")).change is Change.SHIFTED
    assert result.verdict is Verdict.CANNOT_JUDGE
    assert result.reason.startswith("could not judge: every endpoint moved alike")
    assert "re-run the candidate" in result.reason
    assert result.regressions == []
    for name in ENDPOINTS:
        p50 = _row(result, name, "p50")
        assert p50.change is Change.UNCHANGED, p50.evidence
        assert p50.shift == pytest.approx(row.ratio)
        assert "relative to the run-wide shift" in p50.evidence
        p95 = _row(result, name, "p95")
        assert p95.change is Change.NOT_JUDGED, p95.evidence
        assert "every endpoint's p95 moved alike" in p95.evidence


def test_a_regression_on_one_endpoint_still_fails_during_a_run_wide_shift(
    tmp_path: Path,
) -> None:
    shifted = {name: replace(spec, slowdown=1.15) for name, spec in ENDPOINTS.items()}
    shifted[SEARCH] = replace(ENDPOINTS[SEARCH], slowdown=1.15 * 1.3)
    result = judge(*_runs(tmp_path, shifted))
    assert result.verdict is Verdict.REGRESSION, result.reason
    assert {(r.endpoint, r.metric) for r in result.regressions} == {(SEARCH, "p50")}


def test_one_endpoint_slower_on_top_of_a_run_wide_shift_is_flagged_by_what_it_adds(
    tmp_path: Path,
) -> None:
    shifted = {name: replace(spec, slowdown=1.10) for name, spec in ENDPOINTS.items()}
    shifted[SEARCH] = replace(ENDPOINTS[SEARCH], slowdown=1.10 * 1.25)
    result = judge(*_runs(tmp_path, shifted))
    search = _row(result, SEARCH, "p50")
    assert search.change is Change.REGRESSION, search.evidence
    assert search.ratio == pytest.approx(1.25, abs=0.04)  # relative to the shift, not 1.375
    others = [n for n in ENDPOINTS if n != SEARCH]
    assert all(_row(result, n, "p50").change is Change.UNCHANGED for n in others)


def test_a_shift_needs_three_endpoints(tmp_path: Path) -> None:
    two = dict(list(ENDPOINTS.items())[:2])
    base = load_run(write_run(tmp_path, "base", seed=1, endpoints=two))
    cand = load_run(write_run(tmp_path, "cand", seed=2, endpoints=two))
    result = judge(base, cand)
    assert all(not shift.is_shift(r.metric) for r in result.comparisons)
    assert any("no run-wide shift" in note for note in result.notes)
    assert all(r.shift == 1.0 for r in result.comparisons)


def test_a_tail_with_too_few_requests_beyond_it_is_not_judged(tmp_path: Path) -> None:
    few = {**ENDPOINTS, SEARCH: replace(ENDPOINTS[SEARCH], count=400, slowdown=3.0)}
    base = load_run(write_run(tmp_path, "base", seed=1, endpoints=few))
    cand = load_run(write_run(tmp_path, "cand", seed=2, endpoints=few))
    result = judge(base, cand)
    p99 = _row(result, SEARCH, "p99")
    assert p99.change is Change.NOT_JUDGED
    assert "4 requests beyond the p99 (< 20)" in p99.evidence
    assert _row(result, SEARCH, "p95").change is not Change.NOT_JUDGED  # 400 * 5 % = 20
    assert _row(result, SEARCH, "p50").change is not Change.NOT_JUDGED


@pytest.mark.parametrize(("runs", "expected"), [(3, 7.44), (5, 2.67), (10, 1.49)])
def test_the_noise_factor_for_n_runs_is_the_documented_one(runs: int, expected: float) -> None:
    assert noise.safety_factor_for(runs) == pytest.approx(expected, abs=0.08)


def test_the_noise_factor_keeps_its_promise_in_an_independent_simulation() -> None:
    """A new pair of normal draws exceeds factor x the range of N draws about 1 % of the
    time: checked with another generator than the one that computed the factor."""
    rng = np.random.default_rng(2026)
    for runs in (4, 6):
        factor = noise.safety_factor_for(runs)
        calibration = rng.standard_normal((200_000, runs))
        spread = calibration.max(axis=1) - calibration.min(axis=1)
        pair = rng.standard_normal((200_000, 2))
        exceeded = np.mean(np.abs(pair[:, 0] - pair[:, 1]) > factor * spread)
        assert 0.007 < exceeded < 0.013, (runs, factor, exceeded)
    assert noise.safety_factor_for(4) > noise.safety_factor_for(6)


def test_calibration_takes_the_factor_for_its_number_of_runs_and_the_shift(
    tmp_path: Path,
) -> None:
    levels = [1.0, 1.04, 0.97, 1.02]
    runs = []
    for index, level in enumerate(levels):
        spec = {name: replace(e, slowdown=level) for name, e in ENDPOINTS.items()}
        runs.append(load_run(write_run(tmp_path, f"aa-{index}", seed=index, endpoints=spec)))
    found = noise.calibrate(runs)
    assert found.safety_factor == noise.safety_factor_for(4)
    shift_effect = found.min_effects[OVERALL][SHIFT_P50]
    # the observed levels are the runs' slowdowns against the first, up to sampling noise
    assert found.observed[OVERALL][SHIFT_P50] == pytest.approx(levels, abs=0.03)
    spread = math.log(max(levels) / min(levels))
    assert math.log1p(shift_effect) / found.safety_factor == pytest.approx(spread, abs=0.03)
    # the shift is taken out of each endpoint's p50 spread: what is left is sampling noise
    observed = found.observed[SEARCH]["p50"]
    raw = math.expm1(found.safety_factor * math.log(max(observed) / min(observed)))
    assert found.min_effects[SEARCH]["p50"] < raw / 1.5
    # the tails are judged raw: the shift stays in their spread
    tails = found.observed[SEARCH]["p95"]
    assert found.min_effects[SEARCH]["p95"] == pytest.approx(
        math.expm1(found.safety_factor * math.log(max(tails) / min(tails)))
    )


def _with_reference(directory: Path, reference_ms: float | None) -> Run:
    results_file = directory / "results.json"
    results = json.loads(results_file.read_text(encoding="utf-8"))
    results["machine"] = None if reference_ms is None else {"reference_ms": reference_ms}
    results_file.write_text(json.dumps(results), encoding="utf-8")
    return load_run(directory)


@pytest.mark.parametrize(
    ("baseline_ms", "candidate_ms", "refused"),
    [(10.0, 14.0, True), (14.0, 10.0, True), (10.0, 12.0, False), (10.0, None, False)],
)
def test_runs_on_a_machine_running_at_another_speed_are_not_compared(
    tmp_path: Path, baseline_ms: float, candidate_ms: float | None, refused: bool
) -> None:
    base = _with_reference(write_run(tmp_path, "base", seed=1), baseline_ms)
    cand = _with_reference(write_run(tmp_path, "cand", seed=2), candidate_ms)
    result = judge(base, cand)
    assert (result.verdict is Verdict.CANNOT_JUDGE) is refused, result.reason
    if refused:
        assert "the machine ran at another speed" in result.reason
        assert f"{baseline_ms:.2f} ms in the baseline" in result.reason


def test_the_machine_reference_is_a_positive_figure_with_its_method() -> None:
    found = runinfo.machine_reference()
    assert found["reference_ms"] > 0
    assert "fastest of 25" in found["method"]


def _with_timeline(directory: Path, medians: list[float]) -> Run:
    results_file = directory / "results.json"
    results = json.loads(results_file.read_text(encoding="utf-8"))
    results["timeline"] = [
        {"stage": "steady", "endpoints": {SEARCH: {"p50": m, "p50_actual": m}}} for m in medians
    ]
    results_file.write_text(json.dumps(results), encoding="utf-8")
    return load_run(directory)


def test_a_run_disturbed_for_part_of_its_window_is_refused_as_unsteady(tmp_path: Path) -> None:
    steady = _with_timeline(
        write_run(tmp_path, "base", seed=1), [10.0 + (i % 3) for i in range(156)]
    )
    disturbed = _with_timeline(
        write_run(tmp_path, "cand", seed=2), [25.0] * 60 + [10.0 + (i % 3) for i in range(96)]
    )
    assert gate_runs.unsteadiness(steady) == pytest.approx(1.0, abs=0.15)
    assert gate_runs.unsteadiness(disturbed) == pytest.approx(2.27, abs=0.1)
    result = judge(steady, disturbed)
    assert result.verdict is Verdict.CANNOT_JUDGE
    assert f"the candidate run {disturbed.run_id} was unsteady" in result.reason
    assert "re-run it" in result.reason
    assert judge(steady, load_run(write_run(tmp_path, "other", seed=3))).verdict is Verdict.PASS

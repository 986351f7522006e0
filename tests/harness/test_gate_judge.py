"""The gate's judge on synthetic runs: real HDR histograms written to run directories in the
exact results.json / histograms.json shape, from known distributions with fixed seeds.

Identical builds pass (over 20 seeds, none regresses at alpha 0.01 with the floors); a 20 %
slowdown on one endpoint fails naming only that endpoint; 1 % passes (significant, but below
the floor); 0 % → 2 % errors on 2,000 requests fails; every like-with-like refusal and the
saturated / aborted ones give CANNOT_JUDGE; noise calibration produces the numbers its formula
says; the baselines store promotes and records.

``write_run`` here is also what tests/harness/test_gate_cli.py builds its runs with.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.gate import history, noise
from harness.gate.judge import FLOORS, GateConfigError, Settings, judge, settings
from harness.gate.model import Change, FiredAlert, GateResult, Run, Verdict
from harness.gate.runs import RunError, load_run
from harness.load import slo as slo_spec
from harness.load.stats import Series, decode, encode, new_histogram

pytestmark = pytest.mark.unit

FINGERPRINT = "0123456789ab"
DURATION_S = 180.0
SEARCH = "GET /api/v1/search"


@dataclass(frozen=True)
class Endpoint:
    """One endpoint's traffic in a synthetic run: lognormal latency around ``median_ms``."""

    count: int = 2000
    median_ms: float = 20.0
    sigma: float = 0.5
    slowdown: float = 1.0
    """Multiplies every latency (1.2 = a 20 % slowdown)."""
    failures: int = 0


ENDPOINTS: Mapping[str, Endpoint] = {
    "GET /api/v1/search": Endpoint(count=3000, median_ms=40.0),
    "GET /api/v1/recommendations": Endpoint(count=2000, median_ms=15.0, sigma=0.4),
    "POST /api/v1/auth/token": Endpoint(count=1000, median_ms=25.0, sigma=0.3),
}


def _histogram(values_us: np.ndarray[Any, Any]) -> Any:
    histogram = new_histogram()
    for value, count in zip(*np.unique(values_us, return_counts=True), strict=True):
        histogram.record_value(int(value), int(count))
    return histogram


def _series(spec: Endpoint, rng: np.random.Generator) -> Series:
    actual_ms = rng.lognormal(math.log(spec.median_ms), spec.sigma, spec.count) * spec.slowdown
    queued_ms = rng.exponential(0.3, spec.count)  # waiting for a late start: corrected ≥ actual
    actual_us = np.clip(np.round(actual_ms * 1000), 1, None).astype(np.int64)
    corrected_us = actual_us + np.round(queued_ms * 1000).astype(np.int64)
    return Series(_histogram(corrected_us), _histogram(actual_us), spec.count, spec.failures)


def write_run(
    root: Path,
    run_id: str,
    *,
    seed: int,
    endpoints: Mapping[str, Endpoint] = ENDPOINTS,
    fingerprint: str = FINGERPRINT,
    profile: str = "baseline",
    preset: str | None = "ci",
    scale: float = 0.025,
    time_scale: float = 0.1,
    iterations: int = 4500,
    dropped: int = 0,
    saturated: bool = False,
    aborted: str | None = None,
    slo: Mapping[str, Any] | None = None,
    started_at: float = 1_767_000_000.0,
    branch: str = "main",
) -> Path:
    """A run directory as the load engine writes it (results.build() / results.write())."""
    rng = np.random.default_rng(seed)
    series = {name: _series(spec, rng) for name, spec in endpoints.items()}
    summaries = {name: s.summary() for name, s in series.items()}
    spec = slo_spec.parse(slo or {"overall": {"error_rate": 0.05, "dropped_rate": 0.05}})
    judgements = slo_spec.evaluate(
        spec, summaries, dropped=dropped, iterations_due=iterations + dropped
    )
    outcome = slo_spec.verdict(judgements)
    results = {
        "run_id": run_id,
        "verdict": {"pass": "PASS", "fail": "FAIL", "error": "COULD NOT JUDGE"}[outcome.value],
        "exit_code": {"pass": 0, "fail": 1, "error": 2}[outcome.value],
        "reasons": [],
        "started_at": started_at,
        "ended_at": started_at + DURATION_S,
        "duration_s": DURATION_S,
        "target": "http://127.0.0.1:8080",
        "profile": {
            "name": profile,
            "preset": preset,
            "scale": scale,
            "time_scale": time_scale,
            "duration_s": DURATION_S,
            "peak_rate": 25.0,
            "peak_users": 250,
            "mix": {"search": 40, "recommendations": 25, "playback": 20, "auth": 10, "sync": 5},
            "stages": [
                {"name": "steady", "duration_s": DURATION_S, "users": 250, "rate": 25.0},
            ],
        },
        "environment": {
            "cpu_model": "Synthetic CPU",
            "cores": 2,
            "python": "3.11.2",
            "stack_mode": "all-in-one",
            "stack_workers": 1,
            "generator_processes": 1,
            "fingerprint": fingerprint,
        },
        "code": {"git_sha": f"{seed:040x}", "branch": branch, "dirty": "no"},
        "tags": {},
        "iterations": iterations,
        "dropped": dropped,
        "dropped_rate": round(dropped / (iterations + dropped), 5),
        "endpoints": {
            name: {**summary, "throughput_rps": round(int(summary["count"]) / DURATION_S, 3)}
            for name, summary in summaries.items()
        },
        "slo": {
            "latency": spec.latency,
            "verdict": outcome.value,
            "thresholds": [
                {
                    "scope": j.threshold.scope,
                    "metric": j.threshold.metric,
                    "limit": j.threshold.limit,
                    "value": j.value,
                    "outcome": j.outcome.value,
                    "detail": j.detail,
                }
                for j in judgements
            ],
        },
        "generator": {"saturated": saturated, "samples": 180, "processes": 1},
        "generator_saturated": saturated,
        "aborted": aborted,
        "influx": None,
        "events": [],
        "timeline": [],
    }
    directory = root / run_id
    directory.mkdir(parents=True)
    (directory / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    histograms = {
        name: {"corrected": encode(s.corrected), "actual": encode(s.actual), "count": s.count}
        for name, s in series.items()
    }
    (directory / "histograms.json").write_text(json.dumps(histograms), encoding="utf-8")
    return directory


def pair(tmp_path: Path, seed: int = 1, **candidate: Any) -> tuple[Run, Run]:
    """A baseline and a candidate of the same build (different samples); ``candidate``
    overrides the candidate's ``write_run`` arguments."""
    base = load_run(write_run(tmp_path, f"base-{seed}", seed=seed))
    cand = load_run(write_run(tmp_path, f"cand-{seed}", seed=seed + 1000, **candidate))
    return base, cand


def slower(name: str, factor: float) -> dict[str, Endpoint]:
    return {**ENDPOINTS, name: replace(ENDPOINTS[name], slowdown=factor)}


def _changed(result: GateResult, change: Change) -> set[tuple[str, str]]:
    return {(row.endpoint, row.metric) for row in result.comparisons if row.change is change}


# --- verdicts -----------------------------------------------------------------------------------


def test_the_same_build_passes(tmp_path: Path) -> None:
    result = judge(*pair(tmp_path))
    assert result.verdict is Verdict.PASS, result.reason
    assert result.reason.startswith("pass: 3 endpoint(s) judged")
    assert result.regressions == []
    metrics = {(row.endpoint, row.metric) for row in result.comparisons}
    for name in ENDPOINTS:
        for metric in ("p50", "p95", "p99", "p95_actual", "error_rate", "throughput_rps"):
            assert (name, metric) in metrics
    assert ("overall", "dropped_rate") in metrics


def test_no_false_regression_over_twenty_seeds(tmp_path: Path) -> None:
    verdicts = []
    for seed in range(20):
        result = judge(*pair(tmp_path / str(seed), seed=seed))
        verdicts.append((seed, result.verdict, result.reason))
    assert [v for v in verdicts if v[1] is not Verdict.PASS] == []


def test_a_twenty_percent_slowdown_fails_naming_only_that_endpoint(tmp_path: Path) -> None:
    slow = "GET /api/v1/recommendations"
    result = judge(*pair(tmp_path, endpoints=slower(slow, 1.2)))
    assert result.verdict is Verdict.REGRESSION
    assert {endpoint for endpoint, _ in _changed(result, Change.REGRESSION)} == {slow}
    assert {"p50", "p95", "p95_actual"} <= {m for _, m in _changed(result, Change.REGRESSION)}
    assert slow in result.reason
    assert all(other not in result.reason for other in ENDPOINTS if other != slow)
    p50 = next(r for r in result.regressions if r.metric == "p50")
    assert p50.ratio == pytest.approx(1.2, abs=0.05)
    assert p50.ci_low is not None
    assert p50.ci_low > 1
    assert p50.p_value is not None
    assert p50.p_value < 0.01
    assert "Mann-Whitney" in p50.evidence


def test_a_one_percent_slowdown_is_evident_but_below_the_floor(tmp_path: Path) -> None:
    """Many samples make 1 % significant: the practical minimum effect is what passes it."""
    steady = Endpoint(count=60_000, median_ms=40.0, sigma=0.1)
    base = load_run(write_run(tmp_path, "base", seed=5, endpoints={"GET /api/v1/search": steady}))
    slowed = {"GET /api/v1/search": replace(steady, slowdown=1.01)}
    cand = load_run(write_run(tmp_path, "cand", seed=6, endpoints=slowed))
    result = judge(base, cand)
    assert result.verdict is Verdict.PASS, result.reason
    p50 = next(r for r in result.comparisons if r.metric == "p50")
    assert p50.change is Change.UNCHANGED
    assert p50.p_value is not None
    assert p50.p_value < 0.01  # the evidence is there…
    assert p50.ci_low is not None
    assert p50.ci_low > 1
    assert p50.ratio < 1 + p50.min_effect  # …the size is not
    assert p50.min_effect == FLOORS["latency"]


def test_a_twenty_percent_speed_up_is_an_improvement_and_passes(tmp_path: Path) -> None:
    fast = "GET /api/v1/search"
    result = judge(*pair(tmp_path, endpoints=slower(fast, 0.8)))
    assert result.verdict is Verdict.PASS
    assert {endpoint for endpoint, _ in _changed(result, Change.IMPROVEMENT)} == {fast}
    assert "1 improved" in result.reason


def test_two_percent_errors_on_two_thousand_requests_fail(tmp_path: Path) -> None:
    name = "GET /api/v1/recommendations"
    failing = {**ENDPOINTS, name: replace(ENDPOINTS[name], failures=40)}
    result = judge(*pair(tmp_path, endpoints=failing))
    assert result.verdict is Verdict.REGRESSION
    assert _changed(result, Change.REGRESSION) == {(name, "error_rate")}
    row = result.regressions[0]
    assert (row.baseline, row.candidate) == (0.0, 0.02)
    assert row.p_value is not None
    assert row.p_value < 1e-6
    assert "Fisher" in row.evidence
    assert result.reason == f"regression: {name} (error_rate +2.00 pp)"


def test_a_few_errors_stay_below_the_floor(tmp_path: Path) -> None:
    name = "GET /api/v1/search"
    failing = {**ENDPOINTS, name: replace(ENDPOINTS[name], failures=6)}  # 0.2 %
    assert judge(*pair(tmp_path, endpoints=failing)).verdict is Verdict.PASS


def test_throughput_counts_only_when_the_run_fell_short_of_its_target(tmp_path: Path) -> None:
    fewer = {name: replace(spec, count=int(spec.count * 0.8)) for name, spec in ENDPOINTS.items()}
    kept_up = judge(*pair(tmp_path / "a", endpoints=fewer))
    short = judge(*pair(tmp_path / "b", endpoints=fewer, iterations=3600, dropped=900))
    assert _changed(kept_up, Change.REGRESSION) == set()
    rows = [r for r in kept_up.comparisons if r.metric == "throughput_rps"]
    assert all("met its target" in r.evidence for r in rows)
    regressed = _changed(short, Change.REGRESSION)
    assert {(name, "throughput_rps") for name in ENDPOINTS} <= regressed
    assert ("overall", "dropped_rate") in regressed


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"fingerprint": "fedcba987654"}, "different environment fingerprint"),
        ({"profile": "stress"}, "different profile"),
        ({"preset": "smoke"}, "different preset"),
        ({"scale": 0.05}, "different scale"),
        ({"time_scale": 0.2}, "different time_scale"),
        ({"saturated": True}, "saturated its load generator"),
        ({"aborted": "interrupted"}, "was aborted: interrupted"),
    ],
)
def test_unlike_or_unusable_runs_are_refused(
    tmp_path: Path, override: dict[str, Any], expected: str
) -> None:
    result = judge(*pair(tmp_path, **override))
    assert result.verdict is Verdict.CANNOT_JUDGE
    assert result.verdict.exit_code == 2
    assert expected in result.reason
    assert result.reason.startswith("could not judge: ")
    assert "\n" not in result.reason
    assert result.comparisons == []


def test_a_saturated_baseline_is_refused_too(tmp_path: Path) -> None:
    base = load_run(write_run(tmp_path, "base", seed=1, saturated=True))
    cand = load_run(write_run(tmp_path, "cand", seed=2))
    result = judge(base, cand)
    assert result.verdict is Verdict.CANNOT_JUDGE
    assert "the baseline run base saturated" in result.reason


def test_a_run_against_itself_is_refused(tmp_path: Path) -> None:
    run = load_run(write_run(tmp_path, "one", seed=1))
    assert "same run" in judge(run, run).reason


def test_an_slo_threshold_without_samples_is_refused(tmp_path: Path) -> None:
    slo = {"endpoints": {"GET /api/v1/misspelt": {"p95_ms": 100}}}
    result = judge(*pair(tmp_path, slo=slo))
    assert result.verdict is Verdict.CANNOT_JUDGE
    assert "SLO GET /api/v1/misspelt p95_ms could not be judged" in result.reason


def test_too_few_samples_are_not_judged_and_none_at_all_is_refused(tmp_path: Path) -> None:
    few = {**ENDPOINTS, "POST /api/v1/auth/token": Endpoint(count=150)}
    result = judge(*pair(tmp_path / "some", endpoints=few))
    assert result.verdict is Verdict.PASS
    assert {m for e, m in _changed(result, Change.NOT_JUDGED)} >= {"p95", "error_rate"}
    assert {e for e, _ in _changed(result, Change.NOT_JUDGED)} == {"POST /api/v1/auth/token"}
    assert "1 not judged" in result.reason
    tiny = {name: Endpoint(count=100) for name in ENDPOINTS}
    none = judge(*pair(tmp_path / "none", endpoints=tiny, iterations=100))
    assert none.verdict is Verdict.CANNOT_JUDGE
    assert "no endpoint has 200 or more requests" in none.reason


def test_endpoints_on_one_side_only_are_notes(tmp_path: Path) -> None:
    extra = {**ENDPOINTS, "GET /api/v1/new": Endpoint()}
    result = judge(*pair(tmp_path, endpoints=extra))
    assert result.verdict is Verdict.PASS
    assert result.notes == ["only in the candidate: GET /api/v1/new"]


# --- SLO and alerts -----------------------------------------------------------------------------


def test_a_failed_slo_is_a_regression_naming_the_threshold(tmp_path: Path) -> None:
    slo = {"endpoints": {"GET /api/v1/search": {"p95_ms": 20}}}  # its p95 is ~90 ms
    result = judge(*pair(tmp_path, slo=slo))
    assert result.verdict is Verdict.REGRESSION
    assert result.regressions == []
    assert result.reason.startswith("regression: SLO GET /api/v1/search p95_ms ")
    assert result.reason.endswith("> 20")
    assert [row.outcome for row in result.slo] == ["fail"]


def test_a_fired_alert_is_a_regression(tmp_path: Path) -> None:
    alert = FiredAlert("SearchLatencyHigh", "P1", "discovery", {"severity": "P1"})
    result = judge(*pair(tmp_path), alerts=[alert])
    assert result.verdict is Verdict.REGRESSION
    assert result.reason == "regression: alert SearchLatencyHigh (P1, discovery) fired"
    assert result.alerts == [alert]


# --- run directories ----------------------------------------------------------------------------


def test_a_missing_or_malformed_file_is_named(tmp_path: Path) -> None:
    directory = write_run(tmp_path, "broken", seed=1)
    (directory / "histograms.json").unlink()
    with pytest.raises(RunError, match=r"broken/histograms.json: missing"):
        load_run(directory)
    (directory / "histograms.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(RunError, match=r"histograms.json: not JSON"):
        load_run(directory)
    name = "GET /api/v1/search"
    (directory / "histograms.json").write_text(
        json.dumps({n: {"corrected": "bm90IGhkcg==", "actual": "x"} for n in ENDPOINTS}),
        encoding="utf-8",
    )
    with pytest.raises(RunError, match=rf"histograms.json: '{name}' corrected: not an encoded"):
        load_run(directory)
    results = json.loads((directory / "results.json").read_text(encoding="utf-8"))
    del results["environment"]["fingerprint"]
    (directory / "results.json").write_text(json.dumps(results), encoding="utf-8")
    with pytest.raises(RunError, match=r"results.json: missing field environment.fingerprint"):
        load_run(directory)


def test_run_ids_resolve_under_the_runs_directory(tmp_path: Path) -> None:
    write_run(tmp_path, "20261202T101500Z-baseline-ci-3f9a", seed=1)
    run = load_run("20261202T101500Z-baseline-ci-3f9a", tmp_path)
    assert run.run_id == "20261202T101500Z-baseline-ci-3f9a"
    with pytest.raises(RunError, match="neither a run directory nor a run id"):
        load_run("no-such-run", tmp_path)


# --- settings -----------------------------------------------------------------------------------


def test_floors_come_from_the_slo_files_gate_section(tmp_path: Path) -> None:
    slo_file = tmp_path / "slo.yaml"
    slo_file.write_text("latency: corrected\n", encoding="utf-8")
    assert settings(slo_file) == Settings()
    slo_file.write_text(
        "gate:\n  alpha: 0.005\n  min_effect: {latency: 0.3, error_rate: 0.01}\n",
        encoding="utf-8",
    )
    found = settings(slo_file)
    assert found.alpha == 0.005
    assert found.floors == {**FLOORS, "latency": 0.3, "error_rate": 0.01}
    slo_file.write_text("gate:\n  min_effect: {latncy: 0.3}\n", encoding="utf-8")
    with pytest.raises(GateConfigError, match="unknown key"):
        settings(slo_file)


def test_a_higher_floor_passes_a_slowdown(tmp_path: Path) -> None:
    base, cand = pair(tmp_path, endpoints=slower("GET /api/v1/search", 1.2))
    lenient = Settings(floors={**FLOORS, "latency": 0.3})
    assert judge(base, cand, settings=lenient).verdict is Verdict.PASS
    assert judge(base, cand).verdict is Verdict.REGRESSION


# --- noise --------------------------------------------------------------------------------------


def _aa_runs(root: Path, medians: list[float], failures: list[int]) -> list[Run]:
    """A/A runs whose one endpoint has a single known latency (every sample the same)."""
    runs = []
    for index, (median, failed) in enumerate(zip(medians, failures, strict=True)):
        spec = {
            "GET /api/v1/search": Endpoint(
                count=2000, median_ms=median, sigma=1e-9, failures=failed
            )
        }
        runs.append(load_run(write_run(root, f"aa-{index}", seed=index, endpoints=spec)))
    return runs


def test_noise_calibration_numbers_on_a_constructed_case(tmp_path: Path) -> None:
    runs = _aa_runs(tmp_path, [20.0, 21.0, 22.0], [0, 10, 20])
    found = noise.calibrate(runs, safety_factor=1.5, now=None)
    effects = found.min_effects["GET /api/v1/search"]
    p50s = []
    for run in runs:  # HdrHistogram's own percentile is the oracle
        data = json.loads((run.directory / "histograms.json").read_text(encoding="utf-8"))
        p50s.append(decode(data["GET /api/v1/search"]["corrected"]).get_value_at_percentile(50))
    assert effects["p50"] == pytest.approx(math.exp(1.5 * math.log(max(p50s) / min(p50s))) - 1)
    assert effects["p50"] == pytest.approx(0.1537, abs=0.005)  # ≈ 1.1^1.5 - 1
    assert effects["error_rate"] == pytest.approx(1.5 * (20 - 0) / 2000)
    assert found.min_effects["overall"]["dropped_rate"] == 0.0
    assert found.runs == ("aa-0", "aa-1", "aa-2")
    assert found.key == (FINGERPRINT, "baseline", "ci")
    path = noise.write(found, tmp_path / "noise.json")
    body = json.loads(path.read_text(encoding="utf-8"))
    assert (body["version"], body["safety_factor"]) == (2, 1.5)
    assert "max pairwise" in body["method"]
    assert body["endpoints"]["GET /api/v1/search"]["p50"]["observed"] == pytest.approx(
        [p / 1000 for p in p50s]
    )
    again = noise.load(path)
    assert again.min_effect("GET /api/v1/search", "p50") == pytest.approx(effects["p50"], rel=1e-5)
    assert again.runs == found.runs


def test_calibration_refuses_too_few_or_unlike_runs(tmp_path: Path) -> None:
    runs = _aa_runs(tmp_path, [20.0, 21.0, 22.0], [0, 0, 0])
    with pytest.raises(noise.NoiseError, match="at least 3 A/A runs, got 2"):
        noise.calibrate(runs[:2])
    other = load_run(write_run(tmp_path, "other", seed=9, preset="smoke"))
    with pytest.raises(noise.NoiseError, match="different preset"):
        noise.calibrate([*runs[:2], other])
    hot = load_run(write_run(tmp_path, "hot", seed=9, saturated=True))
    with pytest.raises(noise.NoiseError, match="saturated"):
        noise.calibrate([*runs[:2], hot])


def test_the_judge_uses_the_larger_of_noise_and_floor(tmp_path: Path) -> None:
    base, cand = pair(tmp_path, endpoints=slower("GET /api/v1/search", 1.2))
    noisy = noise.Noise(
        FINGERPRINT,
        "baseline",
        "ci",
        ("aa-1", "aa-2", "aa-3"),
        {"GET /api/v1/search": {"p50": 0.4, "p95": 0.4, "p99": 0.4, "p95_actual": 0.4}},
        safety_factor=1.5,
    )
    quiet = replace(noisy, min_effects={"GET /api/v1/search": {"p50": 0.01}})
    loud = judge(base, cand, noise=noisy)
    assert loud.verdict is Verdict.PASS, loud.reason
    assert {
        r.min_effect
        for r in loud.comparisons
        if r.endpoint == "GET /api/v1/search" and r.metric.startswith("p")
    } == {0.4}
    soft = judge(base, cand, noise=quiet)
    assert soft.verdict is Verdict.REGRESSION
    p50 = next(
        r for r in soft.comparisons if (r.endpoint, r.metric) == ("GET /api/v1/search", "p50")
    )
    assert p50.min_effect == FLOORS["latency"]


def test_noise_must_fit_and_must_not_include_the_candidate(tmp_path: Path) -> None:
    base, cand = pair(tmp_path)
    elsewhere = noise.Noise("fedcba987654", "baseline", "ci", ("a", "b", "c"), {}, 1.5)
    assert (
        "noise.json was calibrated for fedcba987654/baseline-ci"
        in judge(base, cand, noise=elsewhere).reason
    )
    circular = noise.Noise(FINGERPRINT, "baseline", "ci", ("a", "b", cand.run_id), {}, 1.5)
    result = judge(base, cand, noise=circular)
    assert result.verdict is Verdict.CANNOT_JUDGE
    assert "is one of the noise calibration runs" in result.reason


# --- the baselines store ------------------------------------------------------------------------


def test_promote_copies_the_run_and_appends_the_history_once(tmp_path: Path) -> None:
    runs_dir, store_root = tmp_path / "runs", tmp_path / "baselines"
    first = load_run(write_run(runs_dir, "r1", seed=1, started_at=1000.0))
    second = load_run(write_run(runs_dir, "r2", seed=2, started_at=2000.0))
    store = history.promote(first, store_root)
    assert store.directory == store_root / FINGERPRINT / "baseline-ci"
    history.promote(second, store_root)
    assert history.record(store, second) is False
    promoted = store.baseline()
    assert promoted is not None
    assert promoted.run_id == "r2"
    entries = store.history()
    assert [e["run_id"] for e in entries] == ["r1", "r2"]
    line = entries[1]
    assert line["code"]["git_sha"] == f"{2:040x}"
    assert set(line["endpoints"]["GET /api/v1/search"]) >= {"p50", "p95", "p99", "error_rate"}
    assert (
        line["endpoints"]["GET /api/v1/search"]["p95"]
        == second.results["endpoints"]["GET /api/v1/search"]["p95"]
    )
    assert history.promoted_for(second, store_root) is not None
    hot = load_run(write_run(runs_dir, "hot", seed=3, saturated=True))
    with pytest.raises(history.HistoryError, match="not promoted: the promoted run hot saturated"):
        history.promote(hot, store_root)


def test_judging_ten_endpoints_takes_seconds(tmp_path: Path) -> None:
    """The performance budget: ~10 endpoints, tens of thousands of requests each, < 10 s."""
    many = {f"GET /api/v1/e{i}": Endpoint(count=30_000, median_ms=10.0 + i) for i in range(10)}
    base = load_run(write_run(tmp_path, "base", seed=1, endpoints=many))
    cand = load_run(write_run(tmp_path, "cand", seed=2, endpoints=many))
    began = time.perf_counter()
    result = judge(base, cand)
    elapsed = time.perf_counter() - began
    print(f"judged 10 endpoints x 30,000 requests in {elapsed:.2f} s")
    assert result.verdict is Verdict.PASS, result.reason
    assert elapsed < 10


def test_histograms_of_another_run_are_caught(tmp_path: Path) -> None:
    one = write_run(tmp_path, "one", seed=1)
    other = write_run(tmp_path, "other", seed=2, endpoints={SEARCH: Endpoint(count=500)})
    (one / "histograms.json").write_bytes((other / "histograms.json").read_bytes())
    with pytest.raises(RunError, match=r"'GET /api/v1/search' corrected holds 500 samples"):
        load_run(one)

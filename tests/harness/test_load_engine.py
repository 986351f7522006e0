"""The load engine's parts: profiles and their shape, exact merged percentiles, SLO judgement,
line protocol, generator saturation. (The runs themselves are in suites/harness/test_load.py.)"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from harness.load import influx, profiles, results, slo
from harness.load.stats import PERCENTILES, Recorder, Series, decode, encode

pytestmark = pytest.mark.unit


# --- profiles ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["baseline", "stress", "spike", "soak"])
def test_every_profile_loads_with_smoke_and_ci_presets(name: str) -> None:
    profile = profiles.load(name)
    assert {"smoke", "ci"} <= set(profile.presets)
    smoke = profile.scaled(preset="smoke")
    ci = profile.scaled(preset="ci")
    assert 50 <= smoke.duration <= 70
    assert 170 <= ci.duration <= 190
    assert smoke.peak_rate <= 60  # sized for two cores shared with the stack


def test_scale_one_is_the_seed_load() -> None:
    baseline, stress, spike, soak = (
        profiles.load(n) for n in ("baseline", "stress", "spike", "soak")
    )
    assert (baseline.peak_users, baseline.peak_rate, baseline.duration) == (10_000, 1000, 1800)
    assert (stress.peak_users, stress.peak_rate) == (20_000, 3500)
    assert spike.peak_users == 100_000
    assert soak.duration == 24 * 3600


def test_scaling_keeps_the_shape() -> None:
    profile = profiles.load("stress")
    small = profile.scaled(scale=0.01, time_scale=0.1)
    for elapsed in (0, 50, 200, 600, 1000):
        assert small.rate_at(elapsed * 0.1) == pytest.approx(profile.rate_at(elapsed) * 0.01)
    assert [s.name for s in small.stages] == [s.name for s in profile.stages]


def test_rate_ramps_linearly_and_jumps_where_a_stage_says_so() -> None:
    spike = profiles.load("spike")
    assert spike.rate_at(30) == pytest.approx(500)  # half-way up the warm-up ramp
    assert spike.rate_at(179) == pytest.approx(1000)
    assert spike.rate_at(181) == pytest.approx(10_000)  # `ramp: false`: a sudden jump
    assert spike.users_at(181) == 100_000
    assert spike.rate_at(spike.duration + 1) == 0
    assert spike.stage_at(spike.duration + 1) is None


def test_a_profile_error_names_the_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages:\n  - {duration: 10, users: 5, rate: -1}\n")
    with pytest.raises(profiles.ProfileError, match=r"bad.yaml: stages\[0\]: 'rate'"):
        profiles.load(str(bad))
    with pytest.raises(profiles.ProfileError, match="no profile 'nope'"):
        profiles.load("nope")
    with pytest.raises(profiles.ProfileError, match="has no preset 'huge'"):
        profiles.load("baseline").scaled(preset="huge")


def test_mix_is_data_and_overridable() -> None:
    profile = profiles.load("baseline")
    assert profile.mix == profiles.DEFAULT_MIX
    assert profile.with_mix(profiles.parse_mix("search=3,auth=1")).mix == {"search": 3, "auth": 1}
    with pytest.raises(profiles.ProfileError, match="unknown journey"):
        profiles.parse_mix("browse=1")


# --- exact percentiles ---------------------------------------------------------------------


def _nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-int(q * len(ordered)) // 100) - 1)]


def test_percentiles_match_the_raw_samples_to_hdr_precision() -> None:
    rng = random.Random(7)
    samples = [rng.lognormvariate(3, 1) for _ in range(20_000)]  # milliseconds
    series = Series()
    for value in samples:
        series.record(value, value, failed=False)
    summary = series.summary()
    for q in PERCENTILES:
        exact = sorted(samples)[int(q / 100 * len(samples)) - 1]
        assert summary[f"p{q:g}"] == pytest.approx(exact, rel=2e-3, abs=0.002)
    assert summary["p99"] <= summary["max"]
    assert summary["max"] == pytest.approx(max(samples), rel=1e-3)


def test_two_workers_merged_equal_the_union_of_their_samples() -> None:
    rng = random.Random(11)
    workers, union = (Recorder(), Recorder()), Recorder()
    for worker in workers:
        for _ in range(5_000):
            latency, late = rng.expovariate(1 / 40), rng.random() * 5
            at = 1_700_000_000 + rng.random() * 5
            worker.record("GET /x", latency, latency + late, False, at)
            union.record("GET /x", latency, latency + late, False, at)
    master = Recorder()
    for worker in workers:
        master.merge(worker.take())  # what the workers' reports carry, encoded
    master.flush()
    union.flush()
    merged, expected = master.totals["GET /x"], union.totals["GET /x"]
    assert merged.count == expected.count == 10_000
    for q in (*PERCENTILES, 99.9, 100.0):
        assert merged.actual.get_value_at_percentile(q) == expected.actual.get_value_at_percentile(
            q
        )
        assert merged.corrected.get_value_at_percentile(
            q
        ) == expected.corrected.get_value_at_percentile(q)


def test_encoded_histograms_round_trip_exactly() -> None:
    series = Series()
    for value in (1.0, 2.5, 100.0, 2500.0):
        series.record(value, value * 2, failed=False)
    again = decode(encode(series.actual))
    for q in (50, 99, 100):
        assert again.get_value_at_percentile(q) == series.actual.get_value_at_percentile(q)


def test_a_late_report_rewrites_its_whole_second() -> None:
    master = Recorder()
    worker = Recorder()
    worker.record("GET /x", 10, 10, False, 100.2)
    master.merge(worker.take())
    first = master.closed(before=101)
    assert [s.at for s in first] == [100]
    worker.record("GET /x", 30, 30, False, 100.7)  # arrives after the second was written
    master.merge(worker.take())
    again = master.closed(before=102)
    assert [s.at for s in again] == [100]
    assert again[0].endpoints["GET /x"].count == 2  # the whole second, not just the late part
    assert master.totals["GET /x"].count == 2


def test_corrected_latency_is_never_below_the_actual() -> None:
    series = Series()
    series.record(50.0, 20.0, failed=False)
    assert series.summary()["p50"] >= series.summary()["p50_actual"]


# --- SLO -----------------------------------------------------------------------------------


def _summary(p95: float, count: int = 100, failures: int = 0) -> dict[str, float | int]:
    return {"count": count, "failures": failures, "p95": p95, "p95_actual": p95 / 2, "p99": p95}


def test_slo_pass_fail_and_the_latency_it_judges() -> None:
    spec = slo.parse(
        {
            "endpoints": {"GET /a": {"p95_ms": 100, "error_rate": 0.01}},
            "overall": {"dropped_rate": 0.1},
        }
    )
    passing = slo.evaluate(spec, {"GET /a": _summary(90)}, dropped=1, iterations_due=100)
    assert slo.verdict(passing) is slo.Outcome.PASS
    failing = slo.evaluate(spec, {"GET /a": _summary(150)}, dropped=1, iterations_due=100)
    assert slo.verdict(failing) is slo.Outcome.FAIL
    actual = slo.parse({**spec.raw, "latency": "actual"})
    assert (
        slo.verdict(slo.evaluate(actual, {"GET /a": _summary(150)}, dropped=0, iterations_due=1))
        is slo.Outcome.PASS
    )
    errors = slo.evaluate(spec, {"GET /a": _summary(10, failures=5)}, dropped=0, iterations_due=1)
    assert slo.verdict(errors) is slo.Outcome.FAIL


def test_a_threshold_on_an_endpoint_without_samples_is_an_error_not_a_pass() -> None:
    spec = slo.parse({"endpoints": {"GET /api/v1/serach": {"p95_ms": 500}}})  # misspelled
    judged = slo.evaluate(spec, {"GET /api/v1/search": _summary(10)}, dropped=0, iterations_due=1)
    assert slo.verdict(judged) is slo.Outcome.ERROR
    assert "no samples" in judged[0].detail


def test_the_repository_slo_file_parses_and_names_route_templates() -> None:
    spec = slo.load()
    assert spec.latency == "corrected"
    assert "GET /api/v1/search" in spec.endpoints()
    route = re.compile(r"^(GET|POST|PUT|DELETE|WS) /api/v1/[a-z/{}_.-]+( propagation)?$")
    assert all(route.match(name) for name in spec.endpoints()), spec.endpoints()
    with pytest.raises(slo.SloError, match="unknown threshold"):
        slo.parse({"endpoints": {"GET /a": {"p97_ms": 1}}})


# --- line protocol and saturation ------------------------------------------------------------


def test_line_protocol_escapes_tags_and_string_fields() -> None:
    text = influx.line(
        "requests",
        {"endpoint": "GET /api/v1/content/{content_id}", "run_id": "a,b=c", "empty": ""},
        {"count": 3, "p95": 1.5, "text": 'say "hi"', "ok": True},
        1_700_000_000_000_000_000,
    )
    assert text == (
        "requests,endpoint=GET\\ /api/v1/content/{content_id},run_id=a\\,b\\=c "
        'count=3i,p95=1.5,text="say \\"hi\\"",ok=true 1700000000000000000'
    )


def test_saturation_is_flagged_by_share_or_by_streak() -> None:
    assert not results.saturation([[50.0] * 60])["saturated"]
    assert results.saturation([[50.0] * 50 + [95.0] * 10])["saturated"]  # 17 % of samples
    streak = [50.0] * 100 + [99.0] * 5 + [50.0] * 100
    assert results.saturation([streak])["saturated"]  # five seconds in a row
    assert not results.saturation([])["saturated"]

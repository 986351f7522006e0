"""Percentiles and histogram quantiles the benchmarks and reports print."""

from __future__ import annotations

import math

import pytest

from harness.latency import Recorder, percentile
from harness.scrape import histogram_quantile, histograms, quantile_between

pytestmark = pytest.mark.unit

EXPOSITION = """# HELP http_request_duration_seconds Time
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.01",route="/a",service="gateway"} {a1}
http_request_duration_seconds_bucket{le="0.1",route="/a",service="gateway"} {a2}
http_request_duration_seconds_bucket{le="+Inf",route="/a",service="gateway"} {a3}
http_request_duration_seconds_count{route="/a",service="gateway"} {a3}
http_request_duration_seconds_sum{route="/a",service="gateway"} 1.0
http_request_duration_seconds_bucket{le="0.01",route="/a",service="auth"} 100.0
http_request_duration_seconds_bucket{le="0.1",route="/a",service="auth"} 100.0
http_request_duration_seconds_bucket{le="+Inf",route="/a",service="auth"} 100.0
http_request_duration_seconds_count{route="/a",service="auth"} 100.0
http_request_duration_seconds_sum{route="/a",service="auth"} 0.1
"""


def exposition(a1: float, a2: float, a3: float) -> str:
    return EXPOSITION.replace("{a1}", str(a1)).replace("{a2}", str(a2)).replace("{a3}", str(a3))


def test_nearest_rank_percentile() -> None:
    ordered = [float(v) for v in range(1, 101)]
    assert percentile(ordered, 50) == 50.0
    assert percentile(ordered, 95) == 95.0
    assert percentile(ordered, 100) == 100.0
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))


def test_recorder_summarises_per_endpoint() -> None:
    recorder = Recorder()
    for ms in range(1, 11):
        recorder.record("a", ms / 1000, ok=ms != 10)
    (summary,) = recorder.summary(duration_seconds=2.0)
    assert (summary.count, summary.errors, summary.p50_ms, summary.max_ms) == (10, 1, 5.0, 10.0)
    assert summary.rps == 5.0


def test_histogram_quantile_interpolates_like_promql() -> None:
    buckets = [(0.1, 50.0), (0.2, 100.0), (math.inf, 100.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.75, buckets) == pytest.approx(0.15)
    assert histogram_quantile(0.95, buckets) == pytest.approx(0.19)


def test_histogram_quantile_in_the_inf_bucket_answers_the_highest_bound() -> None:
    assert histogram_quantile(0.99, [(0.1, 10.0), (math.inf, 100.0)]) == 0.1


def test_histogram_quantile_of_nothing_is_nan() -> None:
    assert math.isnan(histogram_quantile(0.5, [(0.1, 0.0), (math.inf, 0.0)]))


def test_histograms_groups_series_without_le() -> None:
    series = histograms(exposition(1, 2, 3), "http_request_duration_seconds")
    gateway = dict(series)[(("route", "/a"), ("service", "gateway"))]
    assert sorted(gateway) == [(0.01, 1.0), (0.1, 2.0), (math.inf, 3.0)]
    assert len(series) == 2


def test_quantile_between_counts_only_new_observations() -> None:
    before = exposition(100, 100, 100)  # 100 fast requests before the measured phase
    after = exposition(100, 200, 200)  # then 100 requests between 10 and 100 ms
    p50 = quantile_between(before, after, "http_request_duration_seconds", 0.5, service="gateway")
    assert 0.01 < p50 <= 0.1
    assert quantile_between(after, after, "http_request_duration_seconds", 0.5) != p50

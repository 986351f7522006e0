"""The gate's statistics on real HDR histograms: percentiles exactly as HdrHistogram reports
them, the order-statistic bootstrap against brute-force multinomial resampling, intervals that
cover the truth, the tests' directions, the decision rule's "evidence AND size", and change
points found where a constructed history shifts level."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import scipy.stats  # type: ignore[import-untyped]  # scipy ships no type information
from hdrh.histogram import HdrHistogram

from harness.gate import stats
from harness.gate.history import change_points
from harness.gate.model import Change
from harness.load.stats import new_histogram

pytestmark = pytest.mark.unit


def _bins(seed: int, n: int, median_us: float = 20_000, sigma: float = 0.6) -> stats.Bins:
    rng = np.random.default_rng(seed)
    values = np.round(rng.lognormal(math.log(median_us), sigma, n)).astype(np.int64)
    return stats.Bins.of(_histogram(values))


def _histogram(values: Any) -> Any:
    histogram = new_histogram()
    for value, count in zip(*np.unique(values, return_counts=True), strict=True):
        histogram.record_value(int(value), int(count))
    return histogram


def test_percentiles_are_hdrhistograms_own() -> None:
    rng = np.random.default_rng(3)
    histogram = _histogram(np.round(rng.lognormal(9, 1.0, 5000)).astype(np.int64))
    bins = stats.Bins.of(histogram)
    assert bins.total == 5000
    for percentile in (0.1, 1, 25, 50, 90, 95, 99, 99.9, 100):
        assert bins.percentile(percentile) == histogram.get_value_at_percentile(percentile)


def test_another_histogram_layout_is_rejected() -> None:
    with pytest.raises(ValueError, match="bins, expected"):
        stats.Bins.of(HdrHistogram(1, 1000, 2))


def test_the_order_statistic_bootstrap_is_the_multinomial_bootstrap() -> None:
    """Each resample's percentile drawn through Beta(r, n-r+1) has the distribution of the
    percentile of a real multinomial resample of the recorded samples."""
    bins = _bins(seed=1, n=3000)
    rng = np.random.default_rng(7)
    fast = bins.bootstrap(95, 4000, rng)
    draws = rng.multinomial(bins.total, bins.counts / bins.total, size=4000)
    rank = max(int(95 * bins.total / 100 + 0.5), 1)
    brute = bins.values[(np.cumsum(draws, axis=1) < rank).sum(axis=1)]
    assert scipy.stats.ks_2samp(fast, brute).pvalue > 0.001
    for q in (0.05, 0.5, 0.95):
        assert np.quantile(fast, q) == pytest.approx(np.quantile(brute, q), rel=0.01)


def test_the_ratio_interval_covers_the_shift_and_excludes_one() -> None:
    base, slow = _bins(seed=1, n=4000), _bins(seed=2, n=4000, median_us=24_000)
    rng = np.random.default_rng(0)
    ratio, low, high = stats.percentile_ratio(base, slow, 50, confidence=0.98, rng=rng)
    assert low < 1.2 < high
    assert low > 1
    assert ratio == pytest.approx(1.2, abs=0.04)
    same = _bins(seed=3, n=4000)
    _, low, high = stats.percentile_ratio(base, same, 95, confidence=0.98, rng=rng)
    assert low < 1 < high


def test_mann_whitney_is_one_sided_and_caps_its_samples() -> None:
    base, slow = _bins(seed=1, n=50_000), _bins(seed=2, n=50_000, median_us=21_000)
    greater, less, sampled = stats.mann_whitney(
        base, slow, limit=20_000, rng=np.random.default_rng(0)
    )
    assert sampled == (20_000, 20_000)
    assert greater < 1e-6
    assert less > 0.99
    again = stats.mann_whitney(base, slow, limit=20_000, rng=np.random.default_rng(0))
    assert again == (greater, less, sampled)  # fixed seed, same answer


def test_subsampling_is_without_replacement() -> None:
    bins = _bins(seed=4, n=30_000)
    sample = bins.sample(10_000, np.random.default_rng(1))
    assert len(sample) == 10_000
    values, counts = np.unique(sample, return_counts=True)
    available = dict(zip(bins.values.tolist(), bins.counts.tolist(), strict=True))
    assert all(counts[i] <= available[int(v)] for i, v in enumerate(values))
    assert len(bins.sample(50_000, np.random.default_rng(1))) == 30_000


def test_error_rates_use_fishers_exact_test() -> None:
    found = stats.proportions(0, 2000, 40, 2000, confidence=0.98)
    assert found.difference == pytest.approx(0.02)
    expected = scipy.stats.fisher_exact([[40, 1960], [0, 2000]], alternative="greater").pvalue
    assert found.p_greater == pytest.approx(expected)
    assert found.p_greater < 1e-10
    assert found.p_less == pytest.approx(1.0)
    assert found.ci_low > 0
    assert found.ci_low < 0.02 < found.ci_high
    equal = stats.proportions(10, 2000, 10, 2000, confidence=0.98)
    assert equal.ci_low < 0 < equal.ci_high
    assert equal.p_greater > 0.5


def test_throughput_uses_the_poisson_e_test() -> None:
    found = stats.rates(4500, 180.0, 3600, 180.0)
    assert found.ratio == pytest.approx(0.8)
    assert found.p_less < 1e-10
    assert found.p_greater > 0.99
    assert stats.rates(4500, 180.0, 4480, 180.0).p_less > 0.01


@pytest.mark.parametrize(
    ("ratio", "ci", "p", "expected"),
    [
        (1.2, (1.1, 1.3), (1e-9, 1.0), Change.REGRESSION),
        (1.2, (0.9, 1.3), (1e-9, 1.0), Change.UNCHANGED),  # interval reaches 1
        (1.2, (1.1, 1.3), (0.02, 1.0), Change.UNCHANGED),  # p not below alpha
        (1.03, (1.01, 1.05), (1e-9, 1.0), Change.UNCHANGED),  # evident, below min effect
        (0.8, (0.7, 0.9), (1.0, 1e-9), Change.IMPROVEMENT),
        (0.96, (0.95, 0.97), (1.0, 1e-9), Change.UNCHANGED),  # 1/1.05 = 0.952
    ],
)
def test_a_change_needs_evidence_and_size(
    ratio: float, ci: tuple[float, float], p: tuple[float, float], expected: Change
) -> None:
    found = stats.classify_ratio(ratio, *ci, *p, alpha=0.01, min_effect=0.05)
    assert found is expected


def test_a_share_changes_with_evidence_and_size() -> None:
    def classify(d: float, p_greater: float, p_less: float) -> Change:
        return stats.classify_difference(d, p_greater, p_less, alpha=0.01, min_effect=0.005)

    assert classify(0.02, 1e-9, 1.0) is Change.REGRESSION
    assert classify(0.02, 0.2, 0.8) is Change.UNCHANGED
    assert classify(0.003, 1e-9, 1.0) is Change.UNCHANGED
    assert classify(-0.02, 1.0, 1e-9) is Change.IMPROVEMENT


# --- change points ------------------------------------------------------------------------------


def _history(levels: list[float], seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [
        {
            "run_id": f"run-{i:02d}",
            "started_at": 1_767_000_000 + 86_400 * i,
            "code": {"git_sha": f"{i:040x}"},
            "endpoints": {"GET /api/v1/search": {"p95": level * rng.lognormal(0, 0.02)}},
        }
        for i, level in enumerate(levels)
    ]


def test_a_level_shift_is_found_where_it_begins() -> None:
    entries = _history([100.0] * 12 + [115.0] * 10, seed=1)
    found = change_points(entries, "GET /api/v1/search", "p95")
    assert [(p.index, p.run_id) for p in found] == [(12, "run-12")]
    assert found[0].git_sha == f"{12:040x}"
    assert found[0].before == pytest.approx(100, rel=0.02)
    assert found[0].after == pytest.approx(115, rel=0.02)


def test_change_points_are_rare_in_noise_and_found_at_three_sigma_shifts() -> None:
    """The rates the module documents, on 100 histories each (2 % run-to-run noise)."""
    flat = [_history([100.0] * 25, seed=seed) for seed in range(100)]
    false = sum(bool(change_points(h, "GET /api/v1/search", "p95")) for h in flat)
    shifted = [_history([100.0] * 12 + [106.0] * 13, seed=seed) for seed in range(100)]
    found = sum(
        any(abs(p.index - 12) <= 1 for p in change_points(h, "GET /api/v1/search", "p95"))
        for h in shifted
    )
    assert false <= 5
    assert found >= 85


def test_too_short_a_history_has_no_change_point() -> None:
    entries = _history([100.0, 100.0, 150.0], seed=1)
    assert change_points(entries, "GET /api/v1/search", "p95") == []
    assert change_points(entries, "GET /api/v1/other", "p95") == []

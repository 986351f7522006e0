"""The gate's statistics, from scipy and numpy, read straight off HDR histograms.

Latency (one percentile of one endpoint, baseline vs candidate):

* **Bootstrap CI of the percentile ratio.** Resampling a run's requests with replacement is a
  multinomial draw over the histogram's bins. Only one order statistic of each resample
  matters — HdrHistogram's percentile is the value of the ``r``-th smallest sample,
  ``r = max(int(p·n/100 + 0.5), 1)`` — and the ``r``-th smallest of ``n`` draws from the
  empirical distribution is ``F⁻¹(U₍ᵣ₎)`` with ``U₍ᵣ₎ ~ Beta(r, n - r + 1)``. So each resample's
  percentile is drawn exactly with one ``Generator.beta`` and a ``searchsorted`` over the
  cumulative bin counts: the same distribution as ``Generator.multinomial`` resampling (a test
  checks it against brute force) at a thousandth of the cost (10,000 resamples of a 200k-sample
  histogram: ~1 ms instead of ~5 s). The two runs are resampled independently; the interval is
  the percentile interval of the resampled ratios.
* **Mann-Whitney U** (``scipy.stats.mannwhitneyu``, asymptotic with tie correction: HDR bins
  make ties) on the samples the histograms hold. Above ``limit`` samples a side is subsampled
  *without replacement* (``Generator.multivariate_hypergeometric`` over the bins: exact, no
  expansion of the full run), which keeps the test to milliseconds and its power far beyond
  what the practical minimum effect needs.

Rates:

* **Errors and dropped iterations:** Fisher's exact test on the 2x2 table
  (``scipy.stats.fisher_exact``, one-sided). Chosen over a chi-square because the counts that
  matter are small (0 failures against 40): the chi-square's approximation needs expected cells
  ≥ 5 and a healthy run has none. The interval of the difference is Newcombe's hybrid score
  interval, built from scipy's Wilson intervals of each side.
* **Throughput:** requests in a run of known length are counts with an exposure:
  ``scipy.stats.poisson_means_test`` (the E-test) compares the two rates. The load engine's
  arrivals are scheduled, not Poisson, so counts vary less than Poisson: the test errs toward
  "no evidence".

Decision (``classify_ratio``, ``classify_difference``): a change needs the evidence (interval
excluding "no change" and the test's one-sided p below alpha) AND an effect beyond the
practical minimum. Samples within a run are not independent (a slow second slows many
requests), so the intervals are narrower than the truth: the minimum effect, learned from A/A
runs, is what absorbs run-to-run noise; the tests keep a difference within one run's own
sampling noise from counting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.stats  # type: ignore[import-untyped]  # scipy ships no type information

from harness.gate.model import Change
from harness.load.stats import new_histogram

RESAMPLES = 10_000
"""Bootstrap resamples: cheap with the order-statistic draw, and enough that a 98 % interval's
tails rest on 100 resamples each."""
SAMPLE_LIMIT = 20_000
"""Samples per side for Mann-Whitney; larger runs are subsampled without replacement."""


@cache
def _bin_values() -> npt.NDArray[np.int64]:
    """Per counts index, the highest value the bin holds: what HdrHistogram reports for a
    percentile that lands in it (``harness.load.stats.quantiles`` agrees)."""
    probe = new_histogram()
    return np.array(
        [
            probe.get_highest_equivalent_value(probe.get_value_from_index(index))
            for index in range(probe.counts_len)
        ],
        dtype=np.int64,
    )


@dataclass(frozen=True)
class Bins:
    """The non-empty bins of one HDR histogram: values (µs, ascending) and their counts."""

    values: npt.NDArray[np.int64]
    counts: npt.NDArray[np.int64]

    @classmethod
    def of(cls, histogram: Any) -> Bins:
        """From a histogram of ``harness.load.stats.new_histogram()``'s layout (zero-copy read
        of its counts; nothing is expanded)."""
        counts = np.ctypeslib.as_array(histogram.counts).astype(np.int64)
        table = _bin_values()
        if len(counts) != len(table):
            raise ValueError(f"histogram has {len(counts)} bins, expected {len(table)}")
        filled = np.flatnonzero(counts)
        return cls(table[filled], counts[filled])

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def _rank(self, percentile: float) -> int:
        """HdrHistogram's rank for a percentile (``get_value_at_percentile``)."""
        return max(int(min(percentile, 100.0) * self.total / 100 + 0.5), 1)

    def percentile(self, percentile: float) -> float:
        """The percentile in µs, exactly as HdrHistogram (and results.json) reports it."""
        cumulative = np.cumsum(self.counts)
        return float(self.values[int(np.searchsorted(cumulative, self._rank(percentile)))])

    def bootstrap(
        self, percentile: float, resamples: int, rng: np.random.Generator
    ) -> npt.NDArray[np.int64]:
        """The percentile of ``resamples`` multinomial resamples of the recorded samples
        (drawn through the order statistic's Beta law: see the module doc)."""
        n, rank = self.total, self._rank(percentile)
        cumulative = np.cumsum(self.counts) / n
        cumulative[-1] = 1.0  # the last bin holds every remaining draw, whatever the rounding
        uniforms = rng.beta(rank, n - rank + 1, size=resamples)
        return self.values[np.searchsorted(cumulative, uniforms, side="left")]

    def sample(self, limit: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
        """The recorded samples (bin values), at most ``limit`` of them, drawn without
        replacement when there are more."""
        counts = self.counts
        if self.total > limit:
            counts = rng.multivariate_hypergeometric(counts, limit, method="marginals")
        return np.repeat(self.values, counts)


@dataclass(frozen=True)
class LatencyEvidence:
    baseline: float
    """The baseline's percentile, µs."""
    candidate: float
    ratio: float
    ci_low: float
    ci_high: float
    p_greater: float
    """Mann-Whitney one-sided p: the candidate is slower."""
    p_less: float
    """…: the candidate is faster."""
    confidence: float
    sampled: tuple[int, int]
    """Samples per side that went into Mann-Whitney."""


def percentile_ratio(
    baseline: Bins,
    candidate: Bins,
    percentile: float,
    *,
    confidence: float,
    resamples: int = RESAMPLES,
    rng: np.random.Generator,
) -> tuple[float, float, float]:
    """Candidate / baseline percentile and its bootstrap percentile interval."""
    ratio = candidate.percentile(percentile) / baseline.percentile(percentile)
    ratios = candidate.bootstrap(percentile, resamples, rng) / baseline.bootstrap(
        percentile, resamples, rng
    )
    tail = (1 - confidence) / 2
    low, high = np.quantile(ratios, [tail, 1 - tail])
    return ratio, float(low), float(high)


def mann_whitney(
    baseline: Bins,
    candidate: Bins,
    *,
    limit: int = SAMPLE_LIMIT,
    rng: np.random.Generator,
    shift: float = 1.0,
) -> tuple[float, float, tuple[int, int]]:
    """One-sided p-values (candidate slower, candidate faster) and the samples used. The
    candidate's samples are divided by ``shift`` first (the run-wide shift it is judged
    against, ``harness.gate.shift``)."""
    base = baseline.sample(limit, rng)
    cand = candidate.sample(limit, rng) / shift if shift != 1.0 else candidate.sample(limit, rng)
    greater = scipy.stats.mannwhitneyu(cand, base, alternative="greater", method="asymptotic")
    less = scipy.stats.mannwhitneyu(cand, base, alternative="less", method="asymptotic")
    return float(greater.pvalue), float(less.pvalue), (len(base), len(cand))


def latency(
    baseline: Bins,
    candidate: Bins,
    percentile: float,
    *,
    alpha: float,
    rng: np.random.Generator,
    resamples: int = RESAMPLES,
    limit: int = SAMPLE_LIMIT,
    mann_whitney_p: tuple[float, float, tuple[int, int]] | None = None,
    shift: float = 1.0,
) -> LatencyEvidence:
    """Everything the gate weighs for one percentile. The interval's level is ``1 - 2·alpha``
    so that "its low end is above 1" is a one-sided test at ``alpha``, like the U test's.
    ``mann_whitney_p`` reuses a U test already run on the same pair of histograms (it does not
    depend on the percentile). The ratio, its interval and the U test are of the candidate
    divided by ``shift`` (``harness.gate.shift``; 1.0 judges the raw ratio)."""
    confidence = 1 - 2 * alpha
    ratio, low, high = (
        value / shift
        for value in percentile_ratio(
            baseline, candidate, percentile, confidence=confidence, resamples=resamples, rng=rng
        )
    )
    greater, less, sampled = mann_whitney_p or mann_whitney(
        baseline, candidate, limit=limit, rng=rng, shift=shift
    )
    return LatencyEvidence(
        baseline.percentile(percentile),
        candidate.percentile(percentile),
        ratio,
        low,
        high,
        greater,
        less,
        confidence,
        sampled,
    )


@dataclass(frozen=True)
class ProportionEvidence:
    baseline: float
    candidate: float
    difference: float
    """candidate - baseline (a share: 0.02 is two percentage points)."""
    ci_low: float
    ci_high: float
    p_greater: float
    """Fisher one-sided p: the candidate's share is higher."""
    p_less: float


def _wilson(events: int, trials: int, confidence: float) -> tuple[float, float]:
    interval = scipy.stats.binomtest(events, trials).proportion_ci(confidence, method="wilson")
    return float(interval.low), float(interval.high)


def proportions(
    baseline_events: int,
    baseline_trials: int,
    candidate_events: int,
    candidate_trials: int,
    *,
    confidence: float,
) -> ProportionEvidence:
    """Two shares (failed requests, dropped iterations) compared: Fisher's exact test, and
    Newcombe's hybrid score interval of the difference."""
    if baseline_trials <= 0 or candidate_trials <= 0:
        raise ValueError("both sides need at least one trial")
    table = [
        [candidate_events, candidate_trials - candidate_events],
        [baseline_events, baseline_trials - baseline_events],
    ]
    greater = scipy.stats.fisher_exact(table, alternative="greater").pvalue
    less = scipy.stats.fisher_exact(table, alternative="less").pvalue
    p_b, p_c = baseline_events / baseline_trials, candidate_events / candidate_trials
    low_b, high_b = _wilson(baseline_events, baseline_trials, confidence)
    low_c, high_c = _wilson(candidate_events, candidate_trials, confidence)
    difference = p_c - p_b
    return ProportionEvidence(
        p_b,
        p_c,
        difference,
        difference - math.hypot(p_c - low_c, high_b - p_b),
        difference + math.hypot(high_c - p_c, p_b - low_b),
        float(greater),
        float(less),
    )


@dataclass(frozen=True)
class RateEvidence:
    baseline: float
    """Events per second."""
    candidate: float
    ratio: float
    p_greater: float
    """E-test one-sided p: the candidate's rate is higher."""
    p_less: float


def rates(
    baseline_count: int, baseline_seconds: float, candidate_count: int, candidate_seconds: float
) -> RateEvidence:
    """Two event rates (requests per second of a run) compared with the Poisson E-test."""
    if baseline_seconds <= 0 or candidate_seconds <= 0:
        raise ValueError("both runs need a positive duration")
    greater = scipy.stats.poisson_means_test(
        candidate_count, candidate_seconds, baseline_count, baseline_seconds, alternative="greater"
    ).pvalue
    less = scipy.stats.poisson_means_test(
        candidate_count, candidate_seconds, baseline_count, baseline_seconds, alternative="less"
    ).pvalue
    base, cand = baseline_count / baseline_seconds, candidate_count / candidate_seconds
    ratio = cand / base if base > 0 else (1.0 if cand == 0 else math.inf)
    return RateEvidence(base, cand, ratio, float(greater), float(less))


def classify_ratio(
    ratio: float,
    ci_low: float | None,
    ci_high: float | None,
    p_greater: float,
    p_less: float,
    *,
    alpha: float,
    min_effect: float,
) -> Change:
    """A multiplicative metric (latency, throughput — for throughput "greater" is "better"
    only by the caller's reading). Regression needs the interval above 1 (when there is one),
    ``p_greater < alpha`` and ``ratio > 1 + min_effect``; improvement is the mirror image, with
    ``ratio < 1 / (1 + min_effect)`` (the same distance on a log scale)."""
    if (ci_low is None or ci_low > 1) and p_greater < alpha and ratio > 1 + min_effect:
        return Change.REGRESSION
    if (ci_high is None or ci_high < 1) and p_less < alpha and ratio < 1 / (1 + min_effect):
        return Change.IMPROVEMENT
    return Change.UNCHANGED


def classify_difference(
    difference: float, p_greater: float, p_less: float, *, alpha: float, min_effect: float
) -> Change:
    """A share (error rate, dropped rate): a higher share beyond ``min_effect`` (absolute) with
    ``p_greater < alpha`` is a regression; the mirror image an improvement."""
    if p_greater < alpha and difference > min_effect:
        return Change.REGRESSION
    if p_less < alpha and difference < -min_effect:
        return Change.IMPROVEMENT
    return Change.UNCHANGED

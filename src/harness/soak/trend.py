"""Is a resource still growing? A slope with a confidence bound, not a threshold on one sample.

A leak is sustained growth: the level keeps rising after the warm-up, by more than noise can
explain. So the judgement is a least-squares slope over the samples after the warm-up, with a
one-sided confidence bound, and the series *grows* only when even the lower bound of its slope
exceeds what is allowed. One high sample (a GC pause, a burst of connections) moves the fit
little; a slow, steady climb moves it a lot.

Samples taken every few seconds are not independent — RSS or a pool's size at one moment is
close to the moment before — and treating them as independent would make the bound far too
narrow (false alarms). The slope's standard error is therefore widened by the lag-1
autocorrelation of the residuals: the effective number of samples is
``n * (1 - r1) / (1 + r1)``, the usual correction for an AR(1) series.

What is allowed is per metric: a relative rate (share of the level per hour) with an absolute
floor, so an idle counter at 0 is not "growing" by one connection, and a 150 MB process may
drift a few MB. Projected over the seed soak's 24 hours, the default relative allowance (10 %
per hour) is what a day of operation could bear before an operator must act.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import scipy.stats  # type: ignore[import-untyped]  # scipy ships no type information

CONFIDENCE = 0.95
WARMUP_FRACTION = 0.25
"""The first quarter of the run is the warm-up: caches fill, pools open, allocators settle."""
MIN_SAMPLES = 12


@dataclass(frozen=True)
class Allowance:
    """Growth a metric may show per hour without being a leak."""

    relative: float = 0.10
    """Share of the metric's level per hour."""
    floor: float = 0.0
    """Absolute growth per hour always allowed (in the metric's unit)."""

    def per_hour(self, level: float) -> float:
        return max(self.floor, self.relative * abs(level))


@dataclass(frozen=True)
class Trend:
    metric: str
    unit: str
    samples: int
    level: float
    """Median after the warm-up."""
    slope_per_hour: float
    lower_per_hour: float
    """The one-sided lower confidence bound of the slope."""
    allowed_per_hour: float
    effective_samples: float

    @property
    def growing(self) -> bool:
        return bool(self.lower_per_hour > self.allowed_per_hour)

    def describe(self) -> str:
        verdict = "GROWING" if self.growing else "flat"
        return (
            f"{self.metric}: {verdict} — level {self.level:.4g} {self.unit}, slope "
            f"{self.slope_per_hour:+.3g} {self.unit}/h (≥ {self.lower_per_hour:+.3g} at "
            f"{CONFIDENCE:.0%}), allowed {self.allowed_per_hour:.3g} {self.unit}/h"
        )


def _lag1_autocorrelation(residuals: Sequence[float]) -> float:
    mean = statistics.fmean(residuals)
    centred = [r - mean for r in residuals]
    denominator = sum(c * c for c in centred)
    if denominator == 0:
        return 0.0
    numerator = sum(a * b for a, b in itertools.pairwise(centred))
    return max(0.0, min(0.99, numerator / denominator))


def judge(
    metric: str,
    unit: str,
    seconds: Sequence[float],
    values: Sequence[float],
    allowance: Allowance = Allowance(),
    warmup_fraction: float = WARMUP_FRACTION,
) -> Trend:
    """The trend of ``values`` sampled at ``seconds`` (from the start of the run)."""
    if len(seconds) != len(values):
        raise ValueError(f"{metric}: {len(seconds)} times for {len(values)} values")
    start = int(len(values) * warmup_fraction)
    xs, ys = list(seconds[start:]), [float(v) for v in values[start:]]
    if len(xs) < MIN_SAMPLES:
        raise ValueError(f"{metric}: {len(xs)} samples after the warm-up; need {MIN_SAMPLES}")
    level = statistics.median(ys)
    allowed = allowance.per_hour(level)
    if len(set(ys)) == 1:  # a constant series: no slope, no spread
        return Trend(metric, unit, len(ys), level, 0.0, 0.0, allowed, float(len(ys)))
    fit = scipy.stats.linregress(xs, ys)
    residuals = [y - (fit.intercept + fit.slope * x) for x, y in zip(xs, ys, strict=True)]
    r1 = _lag1_autocorrelation(residuals)
    effective = max(3.0, len(ys) * (1 - r1) / (1 + r1))
    stderr = fit.stderr * math.sqrt((len(ys) - 2) / (effective - 2)) if effective > 2 else math.inf
    t = scipy.stats.t.ppf(CONFIDENCE, max(1.0, effective - 2))
    lower = fit.slope - t * stderr
    return Trend(
        metric,
        unit,
        len(ys),
        level,
        slope_per_hour=float(fit.slope) * 3600,  # plain floats: numpy's do not serialise
        lower_per_hour=float(lower) * 3600,
        allowed_per_hour=allowed,
        effective_samples=effective,
    )

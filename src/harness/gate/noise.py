"""Noise calibration: how much a metric moves between A/A runs of one build, as ``noise.json``.

Two runs of the same code on the same machine differ: the machine's other work, caches, GC,
the random mix of journeys. Within one run thousands of requests make any such difference
"statistically significant", so the gate also asks for a *practical* minimum effect, learned
here from N ≥ 3 A/A runs (same fingerprint, profile, preset, scale; none saturated or aborted).

Per endpoint and metric, over every pair of runs:

* latency percentiles and throughput (multiplicative): the largest absolute log-ratio, which
  is the spread ``max(log x) - min(log x)``; ``min_effect = exp(factor * spread) - 1`` (a
  relative change: 0.08 is 8 %). For the p50, which the judge compares relative to the pair's
  run-wide shift (``harness.gate.shift``), the log-ratios are measured the same way: with each
  pair's shift taken out;
* the run-wide shifts of the p50 and the p95 (``overall`` / ``shift_p50``, ``shift_p95``): the
  largest absolute log shift between two calibration runs, the same formula;
* error rate and dropped rate (shares): the largest absolute difference times the factor
  (0.004 is 0.4 percentage points);
* a percentile with fewer than ``runs.MIN_TAIL`` requests beyond it in some run is not
  calibrated (nor judged).

**How far beyond the calibration runs' spread.** The largest change among N runs under-reaches
the change between two future runs, and the fewer the runs the more it does. The factor is
therefore computed for N (``safety_factor_for``): the multiple of the range of N runs that the
difference of two new runs exceeds with probability ``EXCEEDANCE`` (1 %, the gate's alpha),
for normal run-to-run noise, by a seeded simulation: 7.4 for N = 3, 2.7 for N = 5, 1.5 for
N = 10. A noise.json from five runs therefore asks for more than one from ten, as it should.
Measured on the recorded A/A runs (``make bench-gate-aa``): with the fixed factor 1.5 of the
first version, 6 of 40 A/A comparisons cried wolf; with this factor and the run-wide shift,
none. ``mgh baseline calibrate --safety-factor`` sets a factor by hand; the one used is
written into noise.json.

The judge uses ``max(calibrated, floor)``; the floor comes from load/slo.yaml (``judge.py``).
Calibration runs must not be the runs judged later (the judge refuses a candidate that is one of
them): an A/A check against the runs that set the noise cannot fail.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from harness.gate import shift as run_shift
from harness.gate.model import Run
from harness.gate.runs import (
    OVERALL,
    PERCENTILES,
    comparability,
    figures,
    key,
    unusable,
    with_tail,
)

VERSION = 2
"""2: the p50's spread is measured relative to the run-wide shift; the factor depends on N."""
EXCEEDANCE = 0.01
"""How often a new A/A pair may exceed the minimum effect of one metric (normal noise)."""
_SIMULATED_PAIRS = 400_000
MIN_RUNS = 3
SEED = 13
RELATIVE = (*PERCENTILES, "throughput_rps")
"""Metrics whose minimum effect is a relative change."""
ABSOLUTE = ("error_rate", "dropped_rate")
"""Metrics whose minimum effect is an absolute difference of shares."""
METHOD = (
    "latency percentiles and throughput_rps: min_effect = exp(safety_factor * max pairwise "
    "|log(a/b)|) - 1, for the p50 with each pair's run-wide p50 shift taken out of log(a/b); "
    "overall shift_p50, shift_p95: exp(safety_factor * max pairwise |log shift|) - 1; "
    "shares (error_rate, dropped_rate): min_effect = safety_factor * max pairwise |a - b|; "
    "over every pair of the calibration runs, each endpoint with >= min_samples requests in all; "
    "safety_factor: the multiple of the range of N normal draws that the difference of two new "
    "draws exceeds with probability 0.01, unless set by hand"
)


class NoiseError(ValueError):
    """Calibration refused (too few or unlike runs) or a malformed noise.json."""


@dataclass(frozen=True)
class Noise:
    fingerprint: str
    profile: str
    preset: str
    runs: tuple[str, ...]
    """The calibration runs' ids: the judge refuses to judge one of them as a candidate."""
    min_effects: Mapping[str, Mapping[str, float]]
    """endpoint (or ``overall``) → metric → minimum effect."""
    safety_factor: float
    observed: Mapping[str, Mapping[str, Sequence[float]]] = field(default_factory=dict)
    """endpoint → metric → the value in each calibration run (for a reader to check)."""
    created_at: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.fingerprint, self.profile, self.preset)

    def min_effect(self, endpoint: str, metric: str) -> float | None:
        return self.min_effects.get(endpoint, {}).get(metric)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "fingerprint": self.fingerprint,
            "profile": self.profile,
            "preset": self.preset,
            "runs": list(self.runs),
            "created_at": self.created_at,
            "method": METHOD,
            "safety_factor": self.safety_factor,
            "endpoints": {
                endpoint: {
                    metric: {
                        "min_effect": round(value, 6),
                        "observed": [round(v, 6) for v in self.observed[endpoint][metric]],
                    }
                    for metric, value in metrics.items()
                }
                for endpoint, metrics in self.min_effects.items()
            },
        }


def _spread(metric: str, values: Sequence[float]) -> float:
    """The largest pairwise change: of logs for relative metrics, of values for shares."""
    if metric in RELATIVE:
        return max(abs(math.log(a / b)) for a, b in itertools.combinations(values, 2))
    return max(abs(a - b) for a, b in itertools.combinations(values, 2))


@functools.cache
def safety_factor_for(runs: int, exceedance: float = EXCEEDANCE) -> float:
    """The multiple of the range of ``runs`` normal draws that the absolute difference of two
    new draws exceeds with probability ``exceedance`` (seeded simulation, three decimals)."""
    if runs < 2:
        raise NoiseError(f"a spread needs at least two runs, got {runs}")
    rng = np.random.default_rng(SEED)
    calibration = rng.standard_normal((_SIMULATED_PAIRS, runs))
    spread = calibration.max(axis=1) - calibration.min(axis=1)
    new = rng.standard_normal((_SIMULATED_PAIRS, 2))
    ratio = np.abs(new[:, 0] - new[:, 1]) / spread
    return round(float(np.quantile(ratio, 1 - exceedance)), 3)


def min_effect(metric: str, values: Sequence[float], safety_factor: float) -> float:
    """The calibrated minimum effect of one metric from its value in each A/A run."""
    if len(values) < 2:
        raise NoiseError(f"{metric}: a spread needs at least two runs")
    spread = _spread(metric, values)
    return math.expm1(safety_factor * spread) if metric in RELATIVE else safety_factor * spread


def _check(runs: Sequence[Run]) -> None:
    if len(runs) < MIN_RUNS:
        raise NoiseError(f"noise calibration needs at least {MIN_RUNS} A/A runs, got {len(runs)}")
    if len({run.run_id for run in runs}) < len(runs):
        raise NoiseError("noise calibration got the same run twice")
    first = runs[0]
    for run in runs:
        if problems := unusable(run, "calibration"):
            raise NoiseError(problems[0])
        if problems := comparability(first, run):
            raise NoiseError(f"{run.run_id} is unlike {first.run_id}: {problems[0]}")


def _relative_effect(log_changes: Sequence[float], safety_factor: float) -> float:
    return math.expm1(safety_factor * max(abs(change) for change in log_changes))


def _shifts(
    per_run: Sequence[Mapping[str, Mapping[str, float]]], endpoints: Sequence[str], metric: str
) -> dict[tuple[int, int], float]:
    """log(run-wide shift of ``metric``) of every pair of runs (0.0 when it cannot be
    estimated)."""
    return {
        (a, b): run_shift.log_shift(per_run[a], per_run[b], endpoints, metric) or 0.0
        for a, b in itertools.combinations(range(len(per_run)), 2)
    }


def _levels(
    per_run: Sequence[Mapping[str, Mapping[str, float]]], endpoints: Sequence[str], metric: str
) -> list[float]:
    """Each run's run-wide level of ``metric`` against the first (exp of the log shift): what
    noise.json shows as the shift's observed values."""
    return [
        math.exp(run_shift.log_shift(per_run[0], figs, endpoints, metric) or 0.0)
        for figs in per_run
    ]


def calibrate(
    runs: Sequence[Run],
    *,
    safety_factor: float | None = None,
    min_samples: int = 200,
    now: datetime | None = None,
) -> Noise:
    """The noise of A/A ``runs`` (see the module doc). An endpoint enters only when every run
    has at least ``min_samples`` requests on it; the judge uses the floor for the others.
    ``safety_factor`` defaults to ``safety_factor_for(len(runs))``."""
    _check(runs)
    if safety_factor is None:
        safety_factor = safety_factor_for(len(runs))
    per_run = [figures(run) for run in runs]
    shared = set.intersection(*(set(f) for f in per_run)) - {OVERALL}
    endpoints = sorted(e for e in shared if all(f[e]["count"] >= min_samples for f in per_run))
    tails = {metric: with_tail(endpoints, metric, per_run) for metric in PERCENTILES}
    shifts = {metric: _shifts(per_run, tails[metric], metric) for metric in run_shift.SHIFTED}
    min_effects: dict[str, dict[str, float]] = {}
    observed: dict[str, dict[str, list[float]]] = {}
    for endpoint in endpoints:
        for metric in (*RELATIVE, "error_rate"):
            if metric in PERCENTILES and endpoint not in tails[metric]:
                continue
            values = [f[endpoint].get(metric) for f in per_run]
            present = [v for v in values if v is not None]
            if len(present) < len(values) or (metric in RELATIVE and min(present) <= 0):
                continue
            min_effects.setdefault(endpoint, {})[metric] = _effect(
                metric,
                present,
                shifts.get(metric) if metric in run_shift.NORMALIZED else None,
                safety_factor,
            )
            observed.setdefault(endpoint, {})[metric] = present
    overall: dict[str, float] = {}
    if all(f[OVERALL]["iterations_due"] >= min_samples for f in per_run):
        dropped = [f[OVERALL]["dropped_rate"] for f in per_run]
        overall["dropped_rate"] = min_effect("dropped_rate", dropped, safety_factor)
        observed[OVERALL] = {"dropped_rate": dropped}
    for metric, pairs in shifts.items():
        if len(tails[metric]) >= run_shift.MIN_ENDPOINTS:
            name = run_shift.shift_metric(metric)
            overall[name] = _relative_effect(list(pairs.values()), safety_factor)
            observed.setdefault(OVERALL, {})[name] = _levels(per_run, tails[metric], metric)
    if overall:
        min_effects[OVERALL] = overall
    fingerprint, profile, preset = key(runs[0])
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Noise(
        fingerprint,
        profile,
        preset,
        tuple(run.run_id for run in runs),
        min_effects,
        safety_factor,
        observed,
        stamp,
    )


def _effect(
    metric: str,
    values: Sequence[float],
    shifts: Mapping[tuple[int, int], float] | None,
    safety_factor: float,
) -> float:
    """One metric's minimum effect from its value in each run; relative to each pair's
    run-wide shift when ``shifts`` is given (a percentile of ``shift.SHIFTED``)."""
    if shifts is None:
        return min_effect(metric, values, safety_factor)
    residuals = [math.log(values[b] / values[a]) - shift for (a, b), shift in shifts.items()]
    return _relative_effect(residuals, safety_factor)


def write(noise: Noise, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(noise.to_json(), indent=2) + "\n", encoding="utf-8")
    return path


def _text(data: Mapping[str, Any], name: str, path: Path) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise NoiseError(f"{path}: {name} must be a string")
    return value


def load(path: Path) -> Noise:
    """Read a noise.json written by :func:`write`; :class:`NoiseError` names what is wrong."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NoiseError(f"{path}: missing") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise NoiseError(f"{path}: unreadable ({exc})") from None
    if not isinstance(data, Mapping) or data.get("version") != VERSION:
        raise NoiseError(f"{path}: not a version {VERSION} noise file")
    endpoints = data.get("endpoints")
    runs = data.get("runs")
    if not isinstance(endpoints, Mapping) or not isinstance(runs, list):
        raise NoiseError(f"{path}: endpoints must be an object and runs a list")
    min_effects: dict[str, dict[str, float]] = {}
    observed: dict[str, dict[str, list[float]]] = {}
    for endpoint, metrics in endpoints.items():
        for metric, entry in (metrics if isinstance(metrics, Mapping) else {}).items():
            value = entry.get("min_effect") if isinstance(entry, Mapping) else None
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise NoiseError(f"{path}: {endpoint} {metric}: min_effect must be a number ≥ 0")
            min_effects.setdefault(endpoint, {})[metric] = float(value)
            observed.setdefault(endpoint, {})[metric] = list(entry.get("observed") or [])
    return Noise(
        _text(data, "fingerprint", path),
        _text(data, "profile", path),
        _text(data, "preset", path),
        tuple(str(r) for r in runs),
        min_effects,
        _number(data, "safety_factor", path),
        observed,
        str(data.get("created_at", "")),
    )


def _number(data: Mapping[str, Any], name: str, path: Path) -> float:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise NoiseError(f"{path}: {name} must be a positive number")
    return float(value)

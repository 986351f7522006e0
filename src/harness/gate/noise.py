"""Noise calibration: how much a metric moves between A/A runs of one build, as ``noise.json``.

Two runs of the same code on the same machine differ: the machine's other work, caches, GC,
the random mix of journeys. Within one run thousands of requests make any such difference
"statistically significant", so the gate also asks for a *practical* minimum effect, learned
here from N ≥ 3 A/A runs (same fingerprint, profile, preset, scale; none saturated or aborted).

Per endpoint and metric, over every pair of runs:

* latency percentiles and throughput (multiplicative): the largest absolute log-ratio, which
  is the spread ``max(log x) - min(log x)``; ``min_effect = exp(SAFETY_FACTOR * spread) - 1``
  (a relative change: 0.08 is 8 %);
* error rate and dropped rate (shares): the largest absolute difference times SAFETY_FACTOR
  (0.004 is 0.4 percentage points).

Why the maximum times 1.5: with a handful of runs a high quantile of the pairwise changes *is*
their maximum, and the maximum under-reaches the spread of future pairs. Simulated with normal
run-to-run noise, a pair of new runs exceeds 1.5 x the range of N calibration runs 18 % of the
time for N = 3, 10 % for N = 4, 6 % for N = 5 and 1 % for N = 10 (per metric). The calibrated
value is therefore not the gate's only guard: the floor from load/slo.yaml (5 % for latency)
bounds it from below, and the statistical tests must agree as well. Record 5 or more A/A runs
where time allows, or raise ``safety_factor`` (``mgh baseline calibrate --safety-factor``):
the factor used is written into noise.json.

The judge uses ``max(calibrated, floor)``; the floor comes from load/slo.yaml (``judge.py``).
Calibration runs must not be the runs judged later (the judge refuses a candidate that is one of
them): an A/A check against the runs that set the noise cannot fail.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.gate.model import Run
from harness.gate.runs import OVERALL, PERCENTILES, comparability, figures, key, unusable

VERSION = 1
SAFETY_FACTOR = 1.5
MIN_RUNS = 3
RELATIVE = (*PERCENTILES, "throughput_rps")
"""Metrics whose minimum effect is a relative change."""
ABSOLUTE = ("error_rate", "dropped_rate")
"""Metrics whose minimum effect is an absolute difference of shares."""
METHOD = (
    "relative metrics (latency percentiles, throughput_rps): "
    "min_effect = exp(safety_factor * max pairwise |log(a/b)|) - 1; "
    "shares (error_rate, dropped_rate): min_effect = safety_factor * max pairwise |a - b|; "
    "over every pair of the calibration runs, each endpoint with >= min_samples requests in all"
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
    safety_factor: float = SAFETY_FACTOR
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


def min_effect(metric: str, values: Sequence[float], safety_factor: float = SAFETY_FACTOR) -> float:
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


def calibrate(
    runs: Sequence[Run],
    *,
    safety_factor: float = SAFETY_FACTOR,
    min_samples: int = 200,
    now: datetime | None = None,
) -> Noise:
    """The noise of A/A ``runs`` (see the module doc). An endpoint enters only when every run
    has at least ``min_samples`` requests on it; the judge uses the floor for the others."""
    _check(runs)
    per_run = [figures(run) for run in runs]
    min_effects: dict[str, dict[str, float]] = {}
    observed: dict[str, dict[str, list[float]]] = {}
    endpoints = set.intersection(*(set(f) for f in per_run)) - {OVERALL}
    for endpoint in sorted(endpoints):
        if any(f[endpoint]["count"] < min_samples for f in per_run):
            continue
        for metric in (*RELATIVE, "error_rate"):
            values = [f[endpoint].get(metric) for f in per_run]
            present = [v for v in values if v is not None]
            if len(present) < len(values) or (metric in RELATIVE and min(present) <= 0):
                continue
            min_effects.setdefault(endpoint, {})[metric] = min_effect(
                metric, present, safety_factor
            )
            observed.setdefault(endpoint, {})[metric] = present
    if all(f[OVERALL]["iterations_due"] >= min_samples for f in per_run):
        dropped = [f[OVERALL]["dropped_rate"] for f in per_run]
        min_effects[OVERALL] = {"dropped_rate": min_effect("dropped_rate", dropped, safety_factor)}
        observed[OVERALL] = {"dropped_rate": dropped}
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
        float(data.get("safety_factor", SAFETY_FACTOR)),
        observed,
        str(data.get("created_at", "")),
    )

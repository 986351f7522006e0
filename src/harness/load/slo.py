"""Thresholds from ``load/slo.yaml``, judged against a run's merged histograms.

Each endpoint may bound its p50/p90/p95/p99 (milliseconds) and its error rate; ``overall``
bounds the error rate over all requests and the share of iterations dropped. A threshold on an
endpoint (or a metric) that produced no samples cannot be judged: it is reported as an error and
makes the verdict "could not judge", never a silent pass — a misspelled endpoint name is caught
the first time it runs.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SLO_FILE = Path(__file__).resolve().parents[3] / "load" / "slo.yaml"
_LATENCY = re.compile(r"^p(50|90|95|99)_ms$")
_ENDPOINT_KEYS = {"p50_ms", "p90_ms", "p95_ms", "p99_ms", "error_rate"}
_OVERALL_KEYS = {"error_rate", "dropped_rate"}
_SECTIONS = {"latency", "endpoints", "overall", "objectives", "gate"}
"""Top-level keys; ``objectives`` (burn-rate alerts) is parsed by ``harness.obs.slo_rules``,
``gate`` (the regression gate's floors) by ``harness.gate.judge``."""


class SloError(ValueError):
    """The SLO file is malformed; the message names the entry."""


class Outcome(enum.Enum):
    PASS = "pass"  # noqa: S105 — an outcome, not a password
    FAIL = "fail"
    ERROR = "error"
    """No samples: the threshold could not be judged."""


@dataclass(frozen=True)
class Threshold:
    scope: str
    """An endpoint name, or ``overall``."""
    metric: str
    """``p95_ms``, ``error_rate``, ``dropped_rate`` …"""
    limit: float


@dataclass(frozen=True)
class Judgement:
    threshold: Threshold
    outcome: Outcome
    value: float | None
    detail: str = ""


@dataclass(frozen=True)
class SloSpec:
    latency: str
    thresholds: tuple[Threshold, ...]
    raw: Mapping[str, Any]
    """The whole file (the alerting work reads its other sections)."""

    def endpoints(self) -> list[str]:
        return sorted({t.scope for t in self.thresholds if t.scope != "overall"})


def _limit(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise SloError(f"{where}: a threshold is a non-negative number, got {value!r}")
    return float(value)


def parse(data: Mapping[str, Any], source: str = "slo.yaml") -> SloSpec:
    if not isinstance(data, Mapping):
        raise SloError(f"{source}: the SLO file is a mapping")
    if unknown := sorted(set(data) - _SECTIONS):
        known = ", ".join(sorted(_SECTIONS))
        raise SloError(f"{source}: unknown section(s) {', '.join(unknown)} (known: {known})")
    latency = str(data.get("latency", "corrected"))
    if latency not in ("corrected", "actual"):
        raise SloError(f"{source}: latency must be 'corrected' or 'actual', got {latency!r}")
    thresholds: list[Threshold] = []
    for endpoint, limits in (data.get("endpoints") or {}).items():
        where = f"{source}: endpoints[{endpoint!r}]"
        if not isinstance(limits, Mapping):
            raise SloError(f"{where} must be a mapping of thresholds")
        if unknown := sorted(set(limits) - _ENDPOINT_KEYS):
            raise SloError(f"{where}: unknown threshold(s) {', '.join(unknown)}")
        for metric, value in limits.items():
            thresholds.append(Threshold(str(endpoint), metric, _limit(value, f"{where}.{metric}")))
    overall = data.get("overall") or {}
    if unknown := sorted(set(overall) - _OVERALL_KEYS):
        raise SloError(f"{source}: overall: unknown threshold(s) {', '.join(unknown)}")
    for metric, value in overall.items():
        thresholds.append(
            Threshold("overall", metric, _limit(value, f"{source}: overall.{metric}"))
        )
    return SloSpec(latency, tuple(thresholds), data)


def load(path: Path = SLO_FILE) -> SloSpec:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SloError(f"{path}: {exc}") from None
    return parse(data, str(path))


def _endpoint_value(
    threshold: Threshold, summary: Mapping[str, float | int], latency: str
) -> float | None:
    count = int(summary.get("count", 0))
    if count == 0:
        return None
    if threshold.metric == "error_rate":
        return int(summary.get("failures", 0)) / count
    match = _LATENCY.match(threshold.metric)
    assert match is not None  # parse() admits only these metrics
    key = f"p{match.group(1)}" + ("" if latency == "corrected" else "_actual")
    value = summary.get(key)
    return None if value is None else float(value)


def evaluate(
    spec: SloSpec,
    endpoints: Mapping[str, Mapping[str, float | int]],
    *,
    dropped: int,
    iterations_due: int,
) -> list[Judgement]:
    """Judge every threshold. ``endpoints`` are the run's per-endpoint summaries
    (``harness.load.stats.Series.summary``); ``iterations_due`` counts started + dropped."""
    judgements = []
    requests = sum(int(s.get("count", 0)) for s in endpoints.values())
    failures = sum(int(s.get("failures", 0)) for s in endpoints.values())
    for threshold in spec.thresholds:
        value: float | None
        if threshold.scope == "overall":
            if threshold.metric == "error_rate":
                value = failures / requests if requests else None
            else:
                value = dropped / iterations_due if iterations_due else None
            missing = "no requests were made" if value is None else ""
        else:
            summary = endpoints.get(threshold.scope)
            value = None if summary is None else _endpoint_value(threshold, summary, spec.latency)
            missing = f"{threshold.scope!r} produced no samples (misspelled, or not in the mix?)"
        if value is None:
            judgements.append(Judgement(threshold, Outcome.ERROR, None, missing))
            continue
        outcome = Outcome.PASS if value <= threshold.limit else Outcome.FAIL
        judgements.append(Judgement(threshold, outcome, value))
    return judgements


def verdict(judgements: list[Judgement]) -> Outcome:
    outcomes = {j.outcome for j in judgements}
    if Outcome.ERROR in outcomes:
        return Outcome.ERROR
    return Outcome.FAIL if Outcome.FAIL in outcomes else Outcome.PASS

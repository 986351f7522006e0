"""What the gate decides, as plain data: the engine fills it, the reports render it.

Exit codes (``mgh gate``): 0 pass, 1 regression, 2 could not judge.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class Verdict(enum.Enum):
    PASS = "pass"  # noqa: S105 — a verdict, not a password
    REGRESSION = "regression"
    CANNOT_JUDGE = "cannot-judge"

    @property
    def exit_code(self) -> int:
        return {Verdict.PASS: 0, Verdict.REGRESSION: 1, Verdict.CANNOT_JUDGE: 2}[self]


class Change(enum.Enum):
    """One metric's movement from baseline to candidate."""

    UNCHANGED = "unchanged"
    """No statistical evidence, or an effect below the practical minimum."""
    REGRESSION = "regression"
    IMPROVEMENT = "improvement"
    NOT_JUDGED = "not-judged"
    """Too few samples on either side, or a tail the whole run's tails moved with."""
    SHIFTED = "shifted"
    """A run-wide shift beyond the machine's calibrated noise (``harness.gate.shift``): every
    endpoint moved alike, which the machine or a change common to every route can do; the
    gate cannot tell which from one pair of runs."""


@dataclass(frozen=True)
class Run:
    """A load run as the gate reads it: ``reports/out/runs/<run_id>/`` (results.json and
    histograms.json)."""

    run_id: str
    directory: Path
    results: dict[str, Any]
    """results.json as written by the load engine."""
    histograms: dict[str, dict[str, Any]]
    """histograms.json: endpoint → {"corrected": encoded HDR, "actual": encoded HDR, "count"}."""


@dataclass(frozen=True)
class MetricComparison:
    endpoint: str
    metric: str
    """``p50``/``p95``/``p99`` (corrected), ``p50_actual``…, ``error_rate``, ``throughput_rps``,
    ``dropped_rate``."""
    baseline: float
    candidate: float
    ratio: float
    """candidate / baseline (for rates: the difference is in ``evidence``)."""
    change: Change
    p_value: float | None
    """The statistical test's p-value (None when not tested)."""
    ci_low: float | None
    ci_high: float | None
    """Confidence interval of the ratio (or of the difference, for rates)."""
    min_effect: float
    """The practical minimum effect used (from noise calibration, floored by load/slo.yaml)."""
    evidence: str
    """One line a reviewer reads: test, interval, effect vs minimum."""
    shift: float = 1.0
    """For latency rows: the run-wide shift ``ratio`` is relative to (``harness.gate.shift``):
    ``ratio`` is the raw candidate/baseline ratio divided by it."""


@dataclass(frozen=True)
class SloRow:
    scope: str
    metric: str
    limit: float
    value: float | None
    outcome: str
    """pass / fail / error, as the load engine judged the candidate."""


@dataclass(frozen=True)
class FiredAlert:
    alertname: str
    severity: str
    service: str
    labels: dict[str, str]


@dataclass
class GateResult:
    verdict: Verdict
    reason: str
    """One line: why this verdict (the first regression, or why it could not judge)."""
    baseline: Run
    candidate: Run
    comparisons: list[MetricComparison] = field(default_factory=list)
    slo: list[SloRow] = field(default_factory=list)
    alerts: list[FiredAlert] = field(default_factory=list)
    """P0/P1 alerts that fired during the candidate run (each fails the gate)."""
    refusals: list[str] = field(default_factory=list)
    """Why the runs are not comparable (each makes the verdict CANNOT_JUDGE)."""
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[MetricComparison]:
        return [c for c in self.comparisons if c.change is Change.REGRESSION]

    @property
    def improvements(self) -> list[MetricComparison]:
        return [c for c in self.comparisons if c.change is Change.IMPROVEMENT]

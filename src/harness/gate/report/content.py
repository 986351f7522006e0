"""What every report says, computed once: the markdown, HTML, JUnit and JSON outputs render
the same rows, links and wording, so a reviewer never reads two different stories.

An endpoint's row gathers all its metric comparisons (p50/p95/p99 corrected and as sent, error
rate, throughput, dropped): it is *notable* when any of them is a regression or an improvement;
notable rows are shown expanded, the others folded away.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from harness.gate.model import Change, GateResult, MetricComparison, Run, SloRow, Verdict

DASHBOARD_UID = "mgh-load-results"
GRAFANA_ENV = "MGH_GRAFANA_URL"
GRAFANA_DEFAULT = "http://localhost:3000"
LATENCY_COLUMNS = ("p50", "p95", "p99")
"""The percentiles the endpoint tables show (coordinated-omission corrected)."""
RATE_METRICS = frozenset({"error_rate", "dropped_rate"})
"""Fractions: shown in percent, their change in percentage points."""

VERDICT_LABELS = {
    Verdict.PASS: "PASS",
    Verdict.REGRESSION: "REGRESSION",
    Verdict.CANNOT_JUDGE: "COULD NOT JUDGE",
}
METRIC_NAMES = {
    "error_rate": "error rate",
    "dropped_rate": "dropped",
    "throughput_rps": "throughput",
    "shift_p50": "run-wide p50 shift",
}
_CHANGE_ORDER = {
    Change.REGRESSION: 0,
    Change.SHIFTED: 1,
    Change.IMPROVEMENT: 2,
    Change.NOT_JUDGED: 3,
    Change.UNCHANGED: 4,
}
_LATENCY = re.compile(r"^(p\d+(\.\d+)?|max|mean)(_actual)?(_ms)?$")
"""Latency metrics in ms: the engine's p95, p95_actual, and load/slo.yaml's p95_ms."""


def verdict_label(verdict: Verdict) -> str:
    return VERDICT_LABELS[verdict]


def metric_name(metric: str) -> str:
    """``p95_actual`` reads ``p95 (as sent)``: the suffix is the load engine's, not a reader's."""
    if metric in METRIC_NAMES:
        return METRIC_NAMES[metric]
    if metric.endswith("_actual"):
        return f"{metric.removesuffix('_actual')} (as sent)"
    return metric


def finite(value: float | None) -> float | None:
    """``None`` for NaN/±inf: JSON has no such numbers and a table cell should say "—"."""
    return value if value is not None and math.isfinite(value) else None


def format_value(metric: str, value: float | None) -> str:
    """A metric's value with its unit: latencies in ms (results.json's unit), rates in %."""
    number = finite(value)
    if number is None:
        return "—"
    if metric in RATE_METRICS:
        return f"{number * 100:.2f}%"
    if metric.startswith("throughput"):
        return f"{number:.1f}/s"
    if metric.startswith("shift_"):
        return f"x{number:.3f}"
    if _LATENCY.match(metric):
        digits = 2 if abs(number) < 10 else 1 if abs(number) < 100 else 0
        return f"{number:.{digits}f} ms"
    return f"{number:.4g}"


def format_change(comparison: MetricComparison) -> str:
    """``+20.7%`` for a ratio, ``+1.50 pp`` for a rate (a ratio of tiny rates says nothing)."""
    if comparison.metric in RATE_METRICS:
        base, cand = finite(comparison.baseline), finite(comparison.candidate)
        if base is None or cand is None:
            return "—"
        return f"{(cand - base) * 100:+.2f} pp"
    ratio = finite(comparison.ratio)
    if ratio is None:
        return "—"
    if abs(comparison.shift - 1) >= 0.0005:  # judged relative to the run-wide shift
        return (
            f"{(ratio - 1) * 100:+.1f}% vs run (raw {(ratio * comparison.shift - 1) * 100:+.1f}%)"
        )
    return f"{(ratio - 1) * 100:+.1f}%"


def movement(comparison: MetricComparison) -> str:
    """``12.0 ms → 14.5 ms (+20.8%)``: one table cell."""
    return (
        f"{format_value(comparison.metric, comparison.baseline)} → "
        f"{format_value(comparison.metric, comparison.candidate)} "
        f"({format_change(comparison)})"
    )


@dataclass(frozen=True)
class EndpointRow:
    """One endpoint: every metric the engine compared for it."""

    endpoint: str
    comparisons: tuple[MetricComparison, ...]

    @property
    def change(self) -> Change:
        """The row's headline: a regression anywhere wins, then an improvement."""
        return min((c.change for c in self.comparisons), key=_CHANGE_ORDER.__getitem__)

    @property
    def notable(self) -> bool:
        return self.change in (Change.REGRESSION, Change.IMPROVEMENT, Change.SHIFTED)

    def metric(self, name: str) -> MetricComparison | None:
        return next((c for c in self.comparisons if c.metric == name), None)

    def moved(self, change: Change) -> list[MetricComparison]:
        return [c for c in self.comparisons if c.change is change]

    @property
    def label(self) -> str:
        """``regression: p95, p99; improvement: throughput``, or ``unchanged``."""
        parts = [
            f"{change.value}: {', '.join(metric_name(c.metric) for c in self.moved(change))}"
            for change in (Change.REGRESSION, Change.SHIFTED, Change.IMPROVEMENT)
            if self.moved(change)
        ]
        if parts:
            return "; ".join(parts)
        return "not judged" if self.change is Change.NOT_JUDGED else "unchanged"

    @property
    def evidence(self) -> list[str]:
        """The evidence of each moved metric; for a quiet row, that of its p95 (or first)."""
        moved = (
            self.moved(Change.REGRESSION)
            + self.moved(Change.SHIFTED)
            + self.moved(Change.IMPROVEMENT)
        )
        if not moved:
            quiet = self.moved(Change.NOT_JUDGED) or [self.metric("p95") or self.comparisons[0]]
            moved = quiet[:1]
        return [f"{metric_name(c.metric)}: {c.evidence}" for c in moved if c.evidence]


def endpoint_rows(result: GateResult) -> list[EndpointRow]:
    """Rows by endpoint, regressions first, then improvements, not judged, unchanged."""
    grouped: dict[str, list[MetricComparison]] = {}
    for comparison in result.comparisons:
        grouped.setdefault(comparison.endpoint, []).append(comparison)
    rows = [EndpointRow(name, tuple(items)) for name, items in grouped.items()]
    return sorted(rows, key=lambda row: (_CHANGE_ORDER[row.change], row.endpoint))


def slo_notable(row: SloRow) -> bool:
    return row.outcome != "pass"


def slo_sorted(rows: Sequence[SloRow]) -> list[SloRow]:
    """Failures and errors first, the load engine's order otherwise."""
    return sorted(rows, key=lambda row: not slo_notable(row))


def counts_line(result: GateResult, rows: Sequence[EndpointRow]) -> str:
    """``2 regressions, 1 improvement, 9 unchanged of 12 endpoints · SLO 1 fail of 24 · …``"""
    tally = {change: sum(1 for row in rows if row.change is change) for change in Change}
    parts = [
        _plural(tally[Change.REGRESSION], "regression"),
        _plural(tally[Change.IMPROVEMENT], "improvement"),
    ]
    if tally[Change.SHIFTED]:
        parts.append(f"{tally[Change.SHIFTED]} run-wide shift beyond the noise")
    if tally[Change.NOT_JUDGED]:
        parts.append(f"{tally[Change.NOT_JUDGED]} not judged")
    parts.append(f"{tally[Change.UNCHANGED]} unchanged of {_plural(len(rows), 'endpoint')}")
    if not rows:
        parts = ["no endpoint compared"]
    slo = {o: sum(1 for r in result.slo if r.outcome == o) for o in ("fail", "error")}
    failed = ", ".join(f"{n} {o}" for o, n in slo.items() if n)
    slo_text = f"{failed} of {len(result.slo)}" if failed else f"all {len(result.slo)} pass"
    return (
        f"{', '.join(parts)} · SLO thresholds: {slo_text} · "
        f"P0/P1 alerts fired: {len(result.alerts)}"
    )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


# --- runs and links ------------------------------------------------------------------------


def time_range_ms(run: Run) -> tuple[int, int] | None:
    """The run's window in epoch milliseconds (Grafana's unit), None if results lack it."""
    started, ended = run.results.get("started_at"), run.results.get("ended_at")
    if not isinstance(started, int | float) or not isinstance(ended, int | float):
        return None
    return math.floor(started * 1000), math.ceil(ended * 1000)


def profile_name(run: Run) -> str:
    profile = run.results.get("profile")
    name = profile.get("name") if isinstance(profile, Mapping) else None
    return str(name) if name else "unknown"


def run_facts(run: Run) -> str:
    """``profile browse (preset ci) · git abc123def456 on main``: what a reviewer checks first."""
    profile = run.results.get("profile")
    preset = profile.get("preset") if isinstance(profile, Mapping) else None
    code = run.results.get("code")
    sha = str(code.get("git_sha", ""))[:12] if isinstance(code, Mapping) else ""
    branch = code.get("branch") if isinstance(code, Mapping) else None
    parts = [f"profile {profile_name(run)}" + (f" (preset {preset})" if preset else "")]
    if sha:
        parts.append(f"git {sha}" + (f" on {branch}" if branch else ""))
    return " · ".join(parts)


@dataclass(frozen=True)
class Link:
    label: str
    url: str


def grafana_base(explicit: str | None = None) -> str:
    return (explicit or os.environ.get(GRAFANA_ENV) or GRAFANA_DEFAULT).rstrip("/")


def grafana_links(result: GateResult, base: str) -> list[Link]:
    """The ``mgh-load-results`` dashboard over each run's window, its ``run_id`` selected."""
    links = []
    for role, run in (("candidate", result.candidate), ("baseline", result.baseline)):
        window = time_range_ms(run)
        if window is None:
            continue
        query = urlencode({"from": window[0], "to": window[1], "var-run_id": run.run_id})
        links.append(Link(f"{role} {run.run_id}", f"{base}/d/{DASHBOARD_UID}/?{query}"))
    return links


def display_path(path: Path) -> str:
    """Relative to the working directory when under it (CI prints repo-relative paths)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# --- contracts summary ---------------------------------------------------------------------

CONTRACTS_LIMIT = 6_000


def contracts_summary(path: Path | None, limit: int = CONTRACTS_LIMIT) -> str | None:
    """The contract & fuzzing summary of the same CI run, headings demoted three levels to
    nest under our ``###`` heading, cut at a line boundary to ``limit`` characters (with a note)."""
    if path is None or not path.is_file():
        return None
    text = path.read_text(encoding="utf-8").strip()
    if not text:
        return None
    lines = [f"###{line}" if line.startswith("#") else line for line in text.splitlines()]
    kept: list[str] = []
    size = 0
    for line in lines:
        if size + len(line) + 1 > limit:
            kept += ["", f"_(trimmed: the full summary is {display_path(path)})_"]
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept)


# --- history and change points -------------------------------------------------------------


@dataclass(frozen=True)
class ChangePoint:
    """Where an endpoint's history shifted: ``index`` is the first run after the shift."""

    endpoint: str
    index: int
    run_id: str
    started_at: float | None
    git_sha: str


def change_points(
    history: Sequence[Mapping[str, Any]] | None,
    points: Mapping[str, Sequence[int | str]] | None,
) -> list[ChangePoint]:
    """Normalises the engine's change points: an int is an index into ``history`` (as
    ruptures' breakpoints are: the first index of the new segment), a str a run id. Points
    outside the history (ruptures ends every list with ``len(history)``) are dropped."""
    if not history or not points:
        return []
    by_id = {str(entry.get("run_id")): i for i, entry in enumerate(history)}
    found = []
    for endpoint in sorted(points):
        for point in points[endpoint]:
            index = by_id.get(point) if isinstance(point, str) else point
            if index is None or not 0 < index < len(history):
                continue
            entry = history[index]
            code = entry.get("code")
            started = entry.get("started_at")
            found.append(
                ChangePoint(
                    endpoint,
                    index,
                    str(entry.get("run_id", index)),
                    float(started) if isinstance(started, int | float) else None,
                    str(code.get("git_sha", ""))[:12] if isinstance(code, Mapping) else "",
                )
            )
    return found


# --- the whole report ----------------------------------------------------------------------


@dataclass
class Charts:
    """The PNG files written (absolute paths), by what they show."""

    over_time: Path | None = None
    distributions: dict[str, Path] = field(default_factory=dict)
    history: dict[str, Path] = field(default_factory=dict)

    def paths(self) -> list[Path]:
        over = [self.over_time] if self.over_time else []
        return over + list(self.distributions.values()) + list(self.history.values())


@dataclass(frozen=True)
class Report:
    """Everything a renderer needs: the result and what was derived from it."""

    result: GateResult
    out_dir: Path
    rows: list[EndpointRow]
    links: list[Link]
    contracts: str | None
    changes: list[ChangePoint]
    charts: Charts
    files: list[str]
    """Names (relative to ``out_dir``) of every file the reports write."""

    @property
    def label(self) -> str:
        return verdict_label(self.result.verdict)

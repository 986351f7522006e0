"""PNG charts of a gate decision (matplotlib, Agg: no display, same pixels everywhere).

* ``latency-over-time.png`` — per-second p50/p95/p99 of the run (results.json's ``timeline``)
  for the notable endpoints (else the busiest), candidate solid, baseline dashed; stage changes
  marked. A slowdown that started mid-run or a warm-up spike shows here, not in the totals.
* ``distribution-<slug>.png`` — per endpoint, the percentile spectrum from the whole-run HDR
  histograms (x: 1/(1-q) on a log axis, so 90 %, 99 %, 99.9 % are evenly spaced), baseline and
  candidate corrected for coordinated omission, thin dotted as sent. A shift of the body and a
  fatter tail look different here, where one percentile cannot tell them apart.
* ``history-<slug>.png`` — the endpoint's p50/p95/p99 over the main-branch history, change
  points as vertical lines, the candidate as the last point.

Figures are built with :class:`matplotlib.figure.Figure` (no pyplot state, nothing to leak
between calls) and closed by going out of scope.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter

from harness.gate.model import GateResult
from harness.gate.report.content import ChangePoint, Charts, EndpointRow
from harness.load.stats import decode, quantiles

matplotlib.use("Agg")  # no display on CI; matplotlib.figure does not pull in pyplot, so in time

OVER_TIME = "latency-over-time.png"
TIMELINE_PERCENTILES = ("p50", "p95", "p99")
MAX_TIMELINE_SERIES = 6
"""More lines than this in one panel cannot be told apart."""
SPECTRUM_DECADES = 5
"""Up to the 99.999th percentile, as far as the sample count resolves."""
SPECTRUM_POINTS_PER_DECADE = 40
DPI = 100
_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b")


def slug(endpoint: str) -> str:
    """``GET /api/v1/content/{content_id}`` → ``get-api-v1-content-content-id``."""
    return re.sub(r"[^a-z0-9]+", "-", endpoint.lower()).strip("-") or "endpoint"


def slugs(endpoints: Sequence[str]) -> dict[str, str]:
    """Unique, stable slugs: a collision gets ``-2``, ``-3`` in sorted-endpoint order."""
    taken: set[str] = set()
    out = {}
    for endpoint in sorted(endpoints):
        base = candidate = slug(endpoint)
        number = 2
        while candidate in taken:
            candidate, number = f"{base}-{number}", number + 1
        taken.add(candidate)
        out[endpoint] = candidate
    return out


def _save(figure: Figure, path: Path) -> Path:
    figure.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
    return path


# --- latency over the run ------------------------------------------------------------------


def _timeline_endpoints(
    rows: Sequence[EndpointRow], timeline: Sequence[Mapping[str, Any]]
) -> list[str]:
    """The notable endpoints, then the busiest, up to MAX_TIMELINE_SERIES."""
    busy: dict[str, int] = {}
    for second in timeline:
        for name, figures in (second.get("endpoints") or {}).items():
            busy[name] = busy.get(name, 0) + int(figures.get("count", 0))
    chosen = [row.endpoint for row in rows if row.notable and row.endpoint in busy]
    for name in sorted(busy, key=lambda n: (-busy[n], n)):
        if name not in chosen:
            chosen.append(name)
    return chosen[:MAX_TIMELINE_SERIES]


def _series(
    timeline: Sequence[Mapping[str, Any]], start: float, endpoint: str, metric: str
) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for second in timeline:
        figures = (second.get("endpoints") or {}).get(endpoint) or {}
        value = figures.get(metric)
        if isinstance(value, int | float) and value > 0:
            xs.append(float(second["at"]) - start)
            ys.append(float(value))
    return xs, ys


def _stage_changes(timeline: Sequence[Mapping[str, Any]], start: float) -> list[tuple[float, str]]:
    marks, previous = [], None
    for second in timeline:
        stage = second.get("stage")
        if stage != previous and previous is not None:
            marks.append((float(second["at"]) - start, str(stage)))
        previous = stage
    return marks


def _start(results: Mapping[str, Any], timeline: Sequence[Mapping[str, Any]]) -> float:
    started = results.get("started_at")
    return float(started) if isinstance(started, int | float) else float(timeline[0]["at"])


def latency_over_time(result: GateResult, rows: Sequence[EndpointRow], path: Path) -> Path | None:
    """Per-second percentiles of the candidate (and baseline); None without a timeline."""
    candidate = list(result.candidate.results.get("timeline") or [])
    if not candidate:
        return None
    baseline = list(result.baseline.results.get("timeline") or [])
    cand_start = _start(result.candidate.results, candidate)
    base_start = _start(result.baseline.results, baseline) if baseline else 0.0
    endpoints = _timeline_endpoints(rows, candidate)
    figure = Figure(figsize=(10, 8.5), layout="constrained")
    axes = figure.subplots(len(TIMELINE_PERCENTILES), 1, sharex=True)
    for panel, metric in zip(axes, TIMELINE_PERCENTILES, strict=True):
        drawn = False
        for index, endpoint in enumerate(endpoints):
            colour = _PALETTE[index % len(_PALETTE)]
            xs, ys = _series(candidate, cand_start, endpoint, metric)
            if xs:
                panel.plot(xs, ys, color=colour, linewidth=1.2, label=endpoint)
                drawn = True
            bxs, bys = _series(baseline, base_start, endpoint, metric)
            if bxs:
                panel.plot(bxs, bys, color=colour, linewidth=0.9, linestyle="--", alpha=0.7)
                drawn = True
        for at, stage in _stage_changes(candidate, cand_start):
            panel.axvline(at, color="#999999", linewidth=0.7, linestyle=":")
            if metric == TIMELINE_PERCENTILES[0]:
                panel.annotate(
                    stage,
                    (at, 1),
                    xycoords=("data", "axes fraction"),
                    fontsize=7,
                    color="#666666",
                    rotation=90,
                    va="top",
                    ha="right",
                )
        if drawn:
            panel.set_yscale("log")
            panel.yaxis.set_major_formatter(LogFormatter(labelOnlyBase=False))
            panel.yaxis.set_minor_formatter(
                LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5))
            )
        panel.set_ylabel(f"{metric} (ms, log)")
        panel.grid(True, which="both", alpha=0.25)
    axes[-1].set_xlabel("seconds since the run started")
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=8)
    title = f"Latency per second — candidate {result.candidate.run_id} (solid)"
    if baseline:
        title += f", baseline {result.baseline.run_id} (dashed)"
    figure.suptitle(title, fontsize=10)
    return _save(figure, path)


# --- distributions -------------------------------------------------------------------------


def spectrum(encoded: str) -> tuple[list[float], list[float]]:
    """(1/(1-q), latency ms) pairs from an encoded HDR histogram, as deep into the tail as its
    count resolves (one more decade would be a single sample)."""
    histogram = decode(encoded)
    total = histogram.get_total_count()
    if total == 0:
        return [], []
    decades = min(SPECTRUM_DECADES, math.log10(total))
    steps = max(2, int(decades * SPECTRUM_POINTS_PER_DECADE))
    exponents = [decades * i / steps for i in range(steps + 1)]
    percentiles = tuple(100 * (1 - 10**-k) for k in exponents)
    values = quantiles(histogram, percentiles)
    return [10**k for k in exponents], [values[p] / 1000 for p in percentiles]


def distribution(
    endpoint: str,
    baseline: tuple[str, Mapping[str, Any] | None],
    candidate: tuple[str, Mapping[str, Any] | None],
    path: Path,
) -> Path | None:
    """Baseline vs candidate percentile spectra of one endpoint; None when neither side has
    samples. ``baseline``/``candidate`` are (run id, histograms.json entry or None)."""
    figure = Figure(figsize=(8, 4.5), layout="constrained")
    axes = figure.subplots()
    reach = 0.0
    for (run_id, entry), role, colour in (
        (baseline, "baseline", "#1f77b4"),
        (candidate, "candidate", "#d62728"),
    ):
        if not entry:
            continue
        for key, style, width in (("corrected", "-", 1.6), ("actual", ":", 1.0)):
            if not entry.get(key):
                continue
            xs, ys = spectrum(str(entry[key]))
            if not xs:
                continue
            reach = max(reach, xs[-1])
            suffix = "" if key == "corrected" else ", as sent"
            axes.plot(
                xs,
                ys,
                linestyle=style,
                linewidth=width,
                color=colour,
                label=f"{role} {run_id}{suffix} (n={entry.get('count', '?')})",
            )
    if reach == 0:
        return None
    axes.set_xscale("log")
    ticks = [10**k for k in range(int(math.log10(reach)) + 1)]
    axes.set_xticks(ticks, [_percentile_label(t) for t in ticks])
    axes.set_xlim(1, max(reach, 10))
    axes.set_ylim(bottom=0)
    axes.set_xlabel("percentile")
    axes.set_ylabel("latency (ms)")
    axes.grid(True, which="major", alpha=0.3)
    axes.legend(fontsize=8, loc="upper left")
    axes.set_title(f"{endpoint} — latency by percentile", fontsize=10)
    return _save(figure, path)


def _percentile_label(x: float) -> str:
    """1 → 0%, 10 → 90%, 100 → 99%, 1000 → 99.9% …"""
    percent = 100 * (1 - 1 / x)
    return f"{percent:.{max(0, round(math.log10(x)) - 2)}f}%"


# --- history -------------------------------------------------------------------------------


def history(
    endpoint: str,
    entries: Sequence[Mapping[str, Any]],
    changes: Sequence[ChangePoint],
    candidate: tuple[str, Mapping[str, Any] | None],
    path: Path,
) -> Path | None:
    """The endpoint's percentiles over the history runs; None with fewer than two points."""
    points = [
        (i, (entry.get("endpoints") or {}).get(endpoint) or {}) for i, entry in enumerate(entries)
    ]
    points = [(i, figures) for i, figures in points if figures]
    if len(points) < 2:
        return None
    figure = Figure(figsize=(9, 4.5), layout="constrained")
    axes = figure.subplots()
    for metric, colour in zip(TIMELINE_PERCENTILES, _PALETTE, strict=False):
        known = [(i, float(f[metric])) for i, f in points if isinstance(f.get(metric), int | float)]
        if known:
            xs, ys = zip(*known, strict=True)
            axes.plot(xs, ys, marker="o", markersize=3, linewidth=1.2, color=colour, label=metric)
        figures = candidate[1] or {}
        if isinstance(figures.get(metric), int | float):
            axes.plot(
                [len(entries)],
                [float(figures[metric])],
                marker="*",
                markersize=11,
                color=colour,
                linestyle="none",
            )
    for change in changes:
        axes.axvline(change.index - 0.5, color="#d62728", linewidth=1.2, linestyle="--")
        axes.annotate(
            f"change: {change.git_sha or change.run_id}",
            (change.index - 0.5, 1),
            xycoords=("data", "axes fraction"),
            fontsize=7,
            color="#d62728",
            rotation=90,
            va="top",
            ha="right",
        )
    axes.set_xlabel(f"main-branch runs, oldest → newest (★ candidate {candidate[0]})")
    axes.set_ylabel("latency (ms)")
    axes.set_ylim(bottom=0)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8, loc="upper left")
    axes.set_title(f"{endpoint} — history", fontsize=10)
    return _save(figure, path)


# --- all of them ---------------------------------------------------------------------------


def write_charts(
    result: GateResult,
    rows: Sequence[EndpointRow],
    out_dir: Path,
    entries: Sequence[Mapping[str, Any]] | None,
    changes: Sequence[ChangePoint],
) -> Charts:
    charts = Charts(over_time=latency_over_time(result, rows, out_dir / OVER_TIME))
    base, cand = result.baseline, result.candidate
    endpoints = sorted({row.endpoint for row in rows} | set(base.histograms) | set(cand.histograms))
    names = slugs(endpoints)
    for endpoint in endpoints:
        written = distribution(
            endpoint,
            (base.run_id, base.histograms.get(endpoint)),
            (cand.run_id, cand.histograms.get(endpoint)),
            out_dir / f"distribution-{names[endpoint]}.png",
        )
        if written:
            charts.distributions[endpoint] = written
    if entries:
        seen = sorted({name for entry in entries for name in entry.get("endpoints") or {}})
        history_names = slugs(seen)
        for endpoint in seen:
            written = history(
                endpoint,
                entries,
                [c for c in changes if c.endpoint == endpoint],
                (cand.run_id, (cand.results.get("endpoints") or {}).get(endpoint)),
                out_dir / f"history-{history_names[endpoint]}.png",
            )
            if written:
                charts.history[endpoint] = written
    return charts

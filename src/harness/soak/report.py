"""The soak's verdict: one trend per series, a table, and the curves as PNG.

Each PNG holds one metric with a line per subject (each service, or the stack), the warm-up
shaded, and the fitted slope drawn over the judged part, so a reader sees at once whether a
line climbs or wanders.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from harness.soak.sampler import Series
from harness.soak.trend import WARMUP_FRACTION, Trend, judge

matplotlib.use("Agg")  # no display on CI

DPI = 100


@dataclass(frozen=True)
class Judged:
    series: Series
    trend: Trend


def judge_all(series: dict[str, Series]) -> list[Judged]:
    return [
        Judged(s, judge(s.key, s.metric.unit, s.seconds, s.values, s.metric.allowance))
        for s in sorted(series.values(), key=lambda s: s.key)
    ]


def chart(metric: str, judged: list[Judged], path: Path) -> Path:
    """Small multiples: one panel per subject on its own scale (a 600 MB service and a 90 MB
    one on one axis would flatten the smaller's slope), the verdict in each panel's title."""
    columns = min(4, max(1, len(judged)))
    rows = math.ceil(len(judged) / columns)
    figure = Figure(figsize=(3.2 * columns, 2.4 * rows + 0.6), dpi=DPI)
    figure.suptitle(f"{metric} — dashed: fitted slope after the warm-up (shaded)")
    for number, item in enumerate(judged, start=1):
        axes = figure.add_subplot(rows, columns, number)
        minutes = [s / 60 for s in item.series.seconds]
        colour = "#d62728" if item.trend.growing else "#1f77b4"
        axes.plot(minutes, item.series.values, color=colour, linewidth=1)
        start = int(len(minutes) * WARMUP_FRACTION)
        first, last = minutes[start], minutes[-1]
        middle, per_minute = (first + last) / 2, item.trend.slope_per_hour / 60
        axes.plot(  # the slope drawn through the judged part's median level
            [first, last],
            [item.trend.level + per_minute * (x - middle) for x in (first, last)],
            linestyle="--",
            color="#333333",
            linewidth=1,
        )
        axes.axvspan(0, first, color="#cccccc", alpha=0.4)
        verdict = "GROWING" if item.trend.growing else "flat"
        axes.set_title(f"{item.series.subject}: {verdict}", fontsize="small", color=colour)
        axes.set_xlabel("minutes", fontsize="x-small")
        axes.set_ylabel(item.series.metric.unit, fontsize="x-small")
        axes.tick_params(labelsize="x-small")
        axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    return path


def markdown(judged: list[Judged]) -> str:
    lines = [
        "| series | level | slope /h | lower bound /h (95 %) | allowed /h | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for item in judged:
        t = item.trend
        lines.append(
            f"| {t.metric} | {t.level:.4g} {t.unit} | {t.slope_per_hour:+.3g} "
            f"| {t.lower_per_hour:+.3g} | {t.allowed_per_hour:.3g} "
            f"| {'GROWING' if t.growing else 'flat'} |"
        )
    return "\n".join(lines) + "\n"


def write(judged: list[Judged], directory: Path, extra: dict[str, object]) -> list[Path]:
    """soak.md, soak.json and one PNG per metric in ``directory``; returns the PNGs."""
    directory.mkdir(parents=True, exist_ok=True)
    by_metric: dict[str, list[Judged]] = defaultdict(list)
    for item in judged:
        by_metric[item.series.metric.name].append(item)
    charts = [
        chart(name, items, directory / f"soak-{name}.png") for name, items in by_metric.items()
    ]
    (directory / "soak.md").write_text(markdown(judged), encoding="utf-8")
    document = {
        **extra,
        "growing": [j.trend.metric for j in judged if j.trend.growing],
        "trends": [{**asdict(j.trend), "growing": j.trend.growing} for j in judged],
        "samples": {
            j.series.key: {"seconds": j.series.seconds, "values": j.series.values} for j in judged
        },
        "charts": [p.name for p in charts],
    }
    (directory / "soak.json").write_text(json.dumps(document, indent=1), encoding="utf-8")
    return charts

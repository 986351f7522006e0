"""The verdict: a candidate run against a baseline, endpoint by endpoint.

Order of judgement:

1. **Like with like** or nothing: different fingerprint, profile, preset, scale or time scale,
   a saturated generator, an aborted run, noise calibrated for other runs (or from the
   candidate itself), an SLO threshold the load engine could not judge: each is a refusal and
   the verdict is CANNOT_JUDGE (exit 2) with the first reason on one line.
2. **Per endpoint** on both sides: p50, p95, p99 (CO-corrected) and p95 as sent, error rate,
   throughput; run-wide dropped iterations. The p50 is judged relative to the run-wide p50
   shift (``harness.gate.shift``: the median of the endpoints' p50 ratios), which is judged as a
   row of its own. An endpoint with fewer than ``min_samples`` requests on either side is
   NOT_JUDGED, and so is a percentile with fewer than ``runs.MIN_TAIL`` requests beyond it;
   when no endpoint can be judged the runs are refused. Endpoints present on one side only are
   notes.
3. **Absolute checks on the candidate**: every SLO threshold of its results.json, and the P0/P1
   alerts that fired during it (``fired_alerts``, from a real Prometheus).

Any regression, failed SLO or fired alert makes the verdict REGRESSION (exit 1); otherwise
PASS (exit 0). Improvements are reported, never required.

A metric changes only with both evidence and size (``harness.gate.stats``): alpha 0.01 by
default, a minimum effect of ``max(noise.json's calibrated value, the floor)``; the floor and
alpha may be set in load/slo.yaml under ``gate:`` (``settings()``).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from harness.gate import shift as run_shift
from harness.gate import stats
from harness.gate.model import (
    Change,
    FiredAlert,
    GateResult,
    MetricComparison,
    Run,
    SloRow,
    Verdict,
)
from harness.gate.noise import Noise
from harness.gate.runs import (
    KINDS,
    MIN_TAIL,
    OVERALL,
    PERCENTILES,
    bins,
    comparability,
    figures,
    key,
    tail_count,
    unusable,
    with_tail,
)

SLO_FILE = Path(__file__).resolve().parents[3] / "load" / "slo.yaml"
FLOORS: Mapping[str, float] = {
    "latency": 0.05,
    "error_rate": 0.005,
    "throughput": 0.05,
    "dropped_rate": 0.005,
}
"""Built-in minimum effects: latency and throughput relative (5 %), error and dropped rates
absolute (0.5 percentage points). load/slo.yaml's ``gate.min_effect`` overrides them."""
ALPHA = 0.01
MIN_SAMPLES = 200
SEED = 13
"""Bootstrap and subsampling seed: the same runs always give the same verdict."""
ALERT_SEVERITIES = ("P0", "P1")


class GateConfigError(ValueError):
    """The ``gate`` section of load/slo.yaml is malformed; the message names the entry."""


@dataclass(frozen=True)
class Settings:
    alpha: float = ALPHA
    min_samples: int = MIN_SAMPLES
    floors: Mapping[str, float] = field(default_factory=lambda: dict(FLOORS))
    resamples: int = stats.RESAMPLES
    sample_limit: int = stats.SAMPLE_LIMIT
    seed: int = SEED


def _kind(metric: str) -> str:
    """Which floor a metric takes."""
    if metric in PERCENTILES or run_shift.is_shift(metric):
        return "latency"
    return "throughput" if metric == "throughput_rps" else metric


def settings(slo_file: Path = SLO_FILE) -> Settings:
    """Settings with load/slo.yaml's optional ``gate:`` section applied::

    gate:
      alpha: 0.01
      min_samples: 200
      min_effect: {latency: 0.05, error_rate: 0.005, throughput: 0.05, dropped_rate: 0.005}
    """
    try:
        data = yaml.safe_load(slo_file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise GateConfigError(f"{slo_file}: {exc}") from None
    section = data.get("gate") if isinstance(data, Mapping) else None
    if section is None:
        return Settings()
    where = f"{slo_file}: gate"
    if not isinstance(section, Mapping):
        raise GateConfigError(f"{where} must be a mapping")
    if unknown := sorted(set(section) - {"alpha", "min_samples", "min_effect"}):
        raise GateConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    alpha = _positive(section.get("alpha", ALPHA), f"{where}.alpha")
    if alpha >= 0.5:
        raise GateConfigError(f"{where}.alpha must be below 0.5, got {alpha}")
    min_samples = section.get("min_samples", MIN_SAMPLES)
    if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 2:
        raise GateConfigError(f"{where}.min_samples must be an integer ≥ 2")
    floors = dict(FLOORS)
    given = section.get("min_effect") or {}
    if not isinstance(given, Mapping):
        raise GateConfigError(f"{where}.min_effect must be a mapping")
    if unknown := sorted(set(given) - set(FLOORS)):
        raise GateConfigError(f"{where}.min_effect: unknown key(s) {', '.join(unknown)}")
    for name, value in given.items():
        floors[name] = _positive(value, f"{where}.min_effect.{name}")
    return Settings(alpha=alpha, min_samples=min_samples, floors=floors)


def _positive(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise GateConfigError(f"{where} must be a positive number, got {value!r}")
    return float(value)


# --- alerts -------------------------------------------------------------------------------------


def fired_alerts(
    prometheus_url: str,
    rule_files: Iterable[Path],
    start: float,
    end: float,
) -> list[FiredAlert]:
    """The P0/P1 alerting rules of ``rule_files`` that fired in ``[start, end]`` on the
    Prometheus at ``prometheus_url`` (which evaluated those rules), via
    ``harness.obs.coverage``. Raises ``httpx.HTTPError`` when Prometheus does not answer."""
    from harness.obs import coverage  # noqa: PLC0415 — only `--prometheus` needs the obs stack

    report = coverage.coverage(prometheus_url, list(rule_files), start, end)
    return [
        FiredAlert(
            alertname=row.alert,
            severity=row.severity,
            service=row.labels.get("service") or "(from the series)",
            labels=dict(row.labels),
        )
        for row in report
        if row.state == "fired" and row.severity in ALERT_SEVERITIES
    ]


# --- SLO ----------------------------------------------------------------------------------------


def slo_rows(candidate: Run) -> list[SloRow]:
    """The candidate's SLO thresholds as the load engine judged them (results.json)."""
    rows = []
    for entry in candidate.results["slo"]["thresholds"]:
        value = entry.get("value")
        rows.append(
            SloRow(
                scope=str(entry.get("scope")),
                metric=str(entry.get("metric")),
                limit=float(entry.get("limit", 0.0)),
                value=None if value is None else float(value),
                outcome=str(entry.get("outcome")),
            )
        )
    return rows


def _slo_detail(candidate: Run, row: SloRow) -> str:
    for entry in candidate.results["slo"]["thresholds"]:
        if entry.get("scope") == row.scope and entry.get("metric") == row.metric:
            return str(entry.get("detail") or "no samples")
    return "no samples"


# --- comparisons --------------------------------------------------------------------------------


def _rng(settings: Settings, *parts: str) -> np.random.Generator:
    """A generator per (endpoint, histogram): reproducible, independent of the others."""
    return np.random.default_rng([settings.seed, zlib.crc32("|".join(parts).encode())])


def _percent(ratio: float) -> str:
    return f"{100 * (ratio - 1):+.1f} %"


def _points(share: float) -> str:
    return f"{100 * share:+.2f} pp"


def _p(value: float) -> str:
    return f"{value:.2g}"


@dataclass
class _Context:
    baseline: Run
    candidate: Run
    noise: Noise | None
    settings: Settings

    def min_effect(self, endpoint: str, metric: str) -> float:
        floor = self.settings.floors[_kind(metric)]
        calibrated = self.noise.min_effect(endpoint, metric) if self.noise else None
        return floor if calibrated is None else max(calibrated, floor)

    def due(self, run: Run) -> tuple[int, int]:
        """Iterations (started, due) of a run."""
        started = int(run.results["iterations"])
        return started, started + int(run.results["dropped"])


def _not_judged(
    context: _Context, endpoint: str, counts: tuple[int, int]
) -> list[MetricComparison]:
    base = context.baseline.results["endpoints"][endpoint]
    cand = context.candidate.results["endpoints"][endpoint]
    side = "baseline" if counts[0] < context.settings.min_samples else "candidate"
    why = f"not judged: {min(counts)} requests on the {side} (< {context.settings.min_samples})"
    rows = []
    for metric in (*PERCENTILES, "error_rate", "throughput_rps"):
        b, c = _value(base, metric), _value(cand, metric)
        rows.append(_unjudged(context, endpoint, metric, (b, c), why))
    return rows


def _unjudged(
    context: _Context, endpoint: str, metric: str, values: tuple[float, float], why: str
) -> MetricComparison:
    """A NOT_JUDGED row: both values shown, no test, the reason as its evidence."""
    b, c = values
    return MetricComparison(
        endpoint,
        metric,
        b,
        c,
        c / b if b else 1.0,
        Change.NOT_JUDGED,
        None,
        None,
        None,
        context.min_effect(endpoint, metric),
        why,
    )


def _value(summary: Mapping[str, Any], metric: str) -> float:
    if metric == "error_rate":
        count = int(summary["count"])
        return int(summary["failures"]) / count if count else 0.0
    value = summary.get(metric)
    return float(value) if isinstance(value, int | float) else 0.0


def _latency(
    context: _Context, endpoint: str, factors: Mapping[str, float]
) -> list[MetricComparison]:
    """The endpoint's percentiles, each judged relative to its run-wide shift (``factors``,
    percentile → shift; ``harness.gate.shift``)."""
    settings = context.settings
    rows = []
    for kind in KINDS:
        metrics = [(m, pct) for m, (pct, k) in PERCENTILES.items() if k == kind]
        base = bins(context.baseline, endpoint, kind)
        cand = bins(context.candidate, endpoint, kind)
        rng = _rng(settings, endpoint, kind)
        tests: dict[float, tuple[float, float, tuple[int, int]]] = {}
        for metric, percentile in metrics:
            beyond = min(tail_count(base.total, metric), tail_count(cand.total, metric))
            if beyond < MIN_TAIL:
                rows.append(_tail_not_judged(context, endpoint, metric, base, cand, beyond))
                continue
            factor = factors.get(metric, 1.0)
            if factor not in tests:
                tests[factor] = stats.mann_whitney(
                    base, cand, limit=settings.sample_limit, rng=rng, shift=factor
                )
            found = stats.latency(
                base,
                cand,
                percentile,
                alpha=settings.alpha,
                rng=rng,
                resamples=settings.resamples,
                mann_whitney_p=tests[factor],
                shift=factor,
            )
            minimum = context.min_effect(endpoint, metric)
            change = stats.classify_ratio(
                found.ratio,
                found.ci_low,
                found.ci_high,
                found.p_greater,
                found.p_less,
                alpha=settings.alpha,
                min_effect=minimum,
            )
            p_value = found.p_less if found.ratio < 1 else found.p_greater
            relative = (
                f" relative to the run-wide shift {_percent(factor)} "
                f"(raw {_percent(found.ratio * factor)})"
                if factor != 1.0
                else ""
            )
            evidence = (
                f"{_percent(found.ratio)}{relative} ({100 * found.confidence:.0f} % CI "
                f"{_percent(found.ci_low)} … {_percent(found.ci_high)}), Mann-Whitney "
                f"p={_p(p_value)} on {found.sampled[0]}/{found.sampled[1]} samples, "
                f"min effect {100 * minimum:.1f} %"
            )
            rows.append(
                MetricComparison(
                    endpoint,
                    metric,
                    found.baseline / 1000,
                    found.candidate / 1000,
                    found.ratio,
                    change,
                    p_value,
                    found.ci_low,
                    found.ci_high,
                    minimum,
                    evidence,
                    factor,
                )
            )
    return rows


def _tail_not_judged(
    context: _Context,
    endpoint: str,
    metric: str,
    base: stats.Bins,
    cand: stats.Bins,
    beyond: int,
) -> MetricComparison:
    percentile, _ = PERCENTILES[metric]
    values = (base.percentile(percentile) / 1000, cand.percentile(percentile) / 1000)
    why = (
        f"not judged: {beyond} requests beyond the {metric} (< {MIN_TAIL}); "
        "a tail needs more requests than this run has"
    )
    return _unjudged(context, endpoint, metric, values, why)


TAILS = tuple(metric for metric in PERCENTILES if metric not in run_shift.NORMALIZED)


def _tails_moved_alike(
    rows: Sequence[MetricComparison], shift_rows: Sequence[MetricComparison]
) -> list[MetricComparison]:
    """While the run-wide p95 shift is beyond its noise, no endpoint's tail is judged: they
    moved together, and one of them moving with the rest says nothing about that endpoint."""
    moved = next(
        (r for r in shift_rows if r.metric == run_shift.shift_metric("p95")),
        None,
    )
    if moved is None or moved.change is not Change.SHIFTED:
        return list(rows)
    why = f"not judged: every endpoint's p95 moved alike (run-wide {_percent(moved.ratio)}); "
    return [
        replace(row, change=Change.NOT_JUDGED, evidence=why + row.evidence)
        if row.metric in TAILS and row.change in (Change.REGRESSION, Change.IMPROVEMENT)
        else row
        for row in rows
    ]


def _shift_rows(
    context: _Context, rows: Sequence[MetricComparison], factors: Mapping[str, float]
) -> list[MetricComparison]:
    """Each percentile's run-wide shift judged against its own calibrated noise
    (``harness.gate.shift``). The evidence is the endpoints' own raw intervals: a shift is
    SHIFTED only when it is beyond the minimum effect *and* most judged endpoints moved the same
    way significantly on that percentile (the raw ratio's interval above 1, or below it)."""
    out = []
    for metric, factor in factors.items():
        own = [row for row in rows if row.metric == metric and row.ci_low is not None]
        slower = sum(1 for row in own if (row.ci_low or 0.0) * row.shift > 1)
        faster = sum(1 for row in own if (row.ci_high or 0.0) * row.shift < 1)
        name = run_shift.shift_metric(metric)
        minimum = context.min_effect(OVERALL, name)
        majority = len(own) // 2 + 1
        beyond = (factor > 1 + minimum and slower >= majority) or (
            factor < 1 / (1 + minimum) and faster >= majority
        )
        change = Change.SHIFTED if beyond else Change.UNCHANGED
        evidence = (
            f"{_percent(factor)}: median of {len(own)} endpoints' {metric} ratios; "
            f"{slower} significantly slower, {faster} faster (raw interval beside 1); "
            f"min effect {100 * minimum:.1f} %"
            + (
                f" — each endpoint's {metric} is judged relative to it"
                if metric in run_shift.NORMALIZED
                else ""
            )
        )
        out.append(
            MetricComparison(
                OVERALL, name, 1.0, factor, factor, change, None, None, None, minimum, evidence
            )
        )
    return out


def _share(
    context: _Context,
    endpoint: str,
    metric: str,
    events: tuple[int, int],
    trials: tuple[int, int],
    noun: str,
) -> MetricComparison:
    settings = context.settings
    found = stats.proportions(
        events[0], trials[0], events[1], trials[1], confidence=1 - 2 * settings.alpha
    )
    minimum = context.min_effect(endpoint, metric)
    change = stats.classify_difference(
        found.difference,
        found.p_greater,
        found.p_less,
        alpha=settings.alpha,
        min_effect=minimum,
    )
    p_value = found.p_less if found.difference < 0 else found.p_greater
    base, cand = found.baseline, found.candidate
    ratio = cand / base if base else (1.0 if cand == 0 else float("inf"))
    evidence = (
        f"{_points(found.difference)} ({events[0]}/{trials[0]} → {events[1]}/{trials[1]} {noun}; "
        f"{100 * (1 - 2 * settings.alpha):.0f} % CI {_points(found.ci_low)} … "
        f"{_points(found.ci_high)}), Fisher p={_p(p_value)}, min effect {100 * minimum:.2f} pp"
    )
    return MetricComparison(
        endpoint,
        metric,
        base,
        cand,
        ratio,
        change,
        p_value,
        found.ci_low,
        found.ci_high,
        minimum,
        evidence,
    )


def _throughput(context: _Context, endpoint: str, counts: tuple[int, int]) -> MetricComparison:
    """Requests per second. In an open model the rate is the schedule's: a lower rate is a
    regression only when the candidate fell short of its target (dropped iterations beyond the
    dropped-rate minimum), a higher one an improvement only when the baseline did."""
    settings = context.settings
    seconds = (
        float(context.baseline.results["duration_s"]),
        float(context.candidate.results["duration_s"]),
    )
    found = stats.rates(counts[0], seconds[0], counts[1], seconds[1])
    minimum = context.min_effect(endpoint, "throughput_rps")
    # A faster rate is "greater"; classify_ratio's regression direction is "greater", so swap.
    moved = stats.classify_ratio(
        found.ratio,
        None,
        None,
        found.p_greater,
        found.p_less,
        alpha=settings.alpha,
        min_effect=minimum,
    )
    shortfall_floor = context.min_effect(OVERALL, "dropped_rate")
    short = [
        1 - started / due if due else 0.0
        for started, due in (context.due(context.baseline), context.due(context.candidate))
    ]
    change = Change.UNCHANGED
    if moved is Change.IMPROVEMENT and short[1] > shortfall_floor:
        change = Change.REGRESSION
    elif moved is Change.REGRESSION and short[0] > shortfall_floor:
        change = Change.IMPROVEMENT
    p_value = found.p_less if found.ratio < 1 else found.p_greater
    evidence = (
        f"{_percent(found.ratio)}, E-test p={_p(p_value)}, min effect {100 * minimum:.1f} %; "
        f"dropped {100 * short[0]:.2f} % → {100 * short[1]:.2f} % of the iterations due"
    )
    if moved is not Change.UNCHANGED and change is Change.UNCHANGED:
        evidence += " (the run that sent less still met its target rate: the mix, not a limit)"
    return MetricComparison(
        endpoint,
        "throughput_rps",
        found.baseline,
        found.candidate,
        found.ratio,
        change,
        p_value,
        None,
        None,
        minimum,
        evidence,
    )


def compare(
    baseline: Run, candidate: Run, *, noise: Noise | None = None, settings: Settings | None = None
) -> tuple[list[MetricComparison], list[str]]:
    """Every metric of every endpoint both runs have, and the run-wide dropped rate; with
    notes (endpoints on one side only). Assumes the runs are comparable."""
    context = _Context(baseline, candidate, noise, settings or Settings())
    ours, theirs = baseline.results["endpoints"], candidate.results["endpoints"]
    notes = [
        f"only in the {side}: {name}"
        for side, names in (
            ("baseline", set(ours) - set(theirs)),
            ("candidate", set(theirs) - set(ours)),
        )
        for name in sorted(names)
    ]
    rows: list[MetricComparison] = []
    shared = sorted(set(ours) & set(theirs))
    judged = [
        name
        for name in shared
        if min(int(ours[name]["count"]), int(theirs[name]["count"])) >= context.settings.min_samples
    ]
    shifts_known = len(judged) >= run_shift.MIN_ENDPOINTS
    base_figures, cand_figures = figures(baseline), figures(candidate)
    shifts = {
        metric: run_shift.shift(base_figures, cand_figures, tails, metric)
        for metric in run_shift.SHIFTED
        if shifts_known
        and len(tails := with_tail(judged, metric, (base_figures, cand_figures)))
        >= run_shift.MIN_ENDPOINTS
    }
    for endpoint in shared:
        counts = (int(ours[endpoint]["count"]), int(theirs[endpoint]["count"]))
        if endpoint not in judged:
            rows += _not_judged(context, endpoint, counts)
            continue
        failures = (int(ours[endpoint]["failures"]), int(theirs[endpoint]["failures"]))
        rows += _latency(
            context, endpoint, {m: f for m, f in shifts.items() if m in run_shift.NORMALIZED}
        )
        rows.append(_share(context, endpoint, "error_rate", failures, counts, "failed"))
        rows.append(_throughput(context, endpoint, counts))
    (started_b, due_b), (started_c, due_c) = context.due(baseline), context.due(candidate)
    if min(due_b, due_c) >= context.settings.min_samples:
        dropped = (due_b - started_b, due_c - started_c)
        rows.append(_share(context, OVERALL, "dropped_rate", dropped, (due_b, due_c), "dropped"))
    if shifts_known:
        shift_rows = _shift_rows(context, rows, shifts)
        rows = _tails_moved_alike(rows, shift_rows) + shift_rows
    else:
        notes.append(
            f"no run-wide shift: {len(judged)} judged endpoint(s), fewer than "
            f"{run_shift.MIN_ENDPOINTS}; each endpoint is judged on its raw ratio"
        )
    return rows, notes


# --- the verdict --------------------------------------------------------------------------------


def refusals(baseline: Run, candidate: Run, noise: Noise | None) -> list[str]:
    """Every reason the two runs cannot be judged against each other."""
    found = comparability(baseline, candidate)
    if baseline.run_id == candidate.run_id:
        found.append(f"the baseline and the candidate are the same run ({candidate.run_id})")
    found += unusable(baseline, "baseline") + unusable(candidate, "candidate")
    if noise is not None:
        if noise.key != key(candidate):
            found.append(
                "noise.json was calibrated for {}/{}-{}, the candidate is {}/{}-{}".format(
                    *noise.key, *key(candidate)
                )
            )
        if candidate.run_id in noise.runs:
            found.append(
                f"the candidate {candidate.run_id} is one of the noise calibration runs: "
                "judge a run the noise was not learned from"
            )
    for row in slo_rows(candidate):
        if row.outcome == "error":
            detail = _slo_detail(candidate, row)
            found.append(f"SLO {row.scope} {row.metric} could not be judged: {detail}")
    return found


def _one_line(reasons: Sequence[str]) -> str:
    more = f" (+{len(reasons) - 1} more)" if len(reasons) > 1 else ""
    return f"{reasons[0]}{more}"


def _regression_reason(
    comparisons: Sequence[MetricComparison], slo: Sequence[SloRow], alerts: Sequence[FiredAlert]
) -> str:
    by_endpoint: dict[str, list[str]] = {}
    for row in comparisons:
        if row.change is Change.REGRESSION:
            if row.metric in ("error_rate", "dropped_rate"):
                moved = _points(row.candidate - row.baseline)
            else:
                moved = _percent(row.ratio)
            by_endpoint.setdefault(row.endpoint, []).append(f"{row.metric} {moved}")
    parts = [f"{endpoint} ({', '.join(moved)})" for endpoint, moved in by_endpoint.items()]
    parts += [
        f"SLO {row.scope} {row.metric} {row.value:.4g} > {row.limit:g}"
        for row in slo
        if row.outcome == "fail" and row.value is not None
    ]
    parts += [f"alert {a.alertname} ({a.severity}, {a.service}) fired" for a in alerts]
    return "regression: " + "; ".join(parts)


def judge(
    baseline: Run,
    candidate: Run,
    *,
    noise: Noise | None = None,
    settings: Settings | None = None,
    alerts: Sequence[FiredAlert] = (),
) -> GateResult:
    """The gate's verdict on ``candidate`` against ``baseline``. ``noise`` comes from A/A runs
    other than the candidate; ``alerts`` are the P0/P1 alerts that fired during the candidate
    run (``fired_alerts``). ``settings`` defaults to the built-in ones: pass ``settings()`` to
    apply load/slo.yaml's ``gate:`` section (``mgh gate`` does)."""
    settings = settings or Settings()
    slo = slo_rows(candidate)
    alerts = list(alerts)
    refused = refusals(baseline, candidate, noise)
    if refused:
        return GateResult(
            Verdict.CANNOT_JUDGE,
            f"could not judge: {_one_line(refused)}",
            baseline,
            candidate,
            slo=slo,
            alerts=alerts,
            refusals=refused,
        )
    comparisons, notes = compare(baseline, candidate, noise=noise, settings=settings)
    judged = {
        row.endpoint
        for row in comparisons
        if row.change is not Change.NOT_JUDGED and row.endpoint != OVERALL
    }
    if not judged:
        refused = [f"no endpoint has {settings.min_samples} or more requests in both runs"]
        return GateResult(
            Verdict.CANNOT_JUDGE,
            f"could not judge: {refused[0]}",
            baseline,
            candidate,
            comparisons,
            slo,
            alerts,
            refused,
            notes,
        )
    regressed = any(row.change is Change.REGRESSION for row in comparisons)
    shifted = [row for row in comparisons if row.change is Change.SHIFTED]
    if regressed or alerts or any(row.outcome == "fail" for row in slo):
        reason = _regression_reason(comparisons, slo, alerts)
        verdict = Verdict.REGRESSION
    elif shifted:
        moved = ", ".join(
            f"{row.metric.removeprefix(run_shift.PREFIX)} {_percent(row.ratio)} "
            f"(noise {100 * row.min_effect:.0f} %)"
            for row in shifted
        )
        reason = (
            f"could not judge: every endpoint moved alike beyond the machine's noise ({moved}): "
            "the machine or a change common to every route; re-run the candidate"
        )
        verdict = Verdict.CANNOT_JUDGE
    else:
        endpoints = {row.endpoint for row in comparisons if row.endpoint != OVERALL}
        improved = {row.endpoint for row in comparisons if row.change is Change.IMPROVEMENT}
        extra = [f"{len(endpoints - judged)} not judged"] if endpoints - judged else []
        extra += [f"{len(improved)} improved"] if improved else []
        reason = f"pass: {len(judged)} endpoint(s) judged, no regression beyond the noise" + (
            f" ({', '.join(extra)})" if extra else ""
        )
        verdict = Verdict.PASS
    return GateResult(verdict, reason, baseline, candidate, comparisons, slo, alerts, [], notes)

"""promtool unit tests for the generated SLO rules, with their expectations computed.

Hand-writing a test per objective and burn-rate pair would mean well over a hundred cases whose
numbers drift from the spec; instead every scenario runs all objectives at once and a small
model of Prometheus' evaluation decides which alerts fire when, and with which burn value. The
model is exact by construction: every counter starts far above one sample's increase and all of
an SLI's series share timestamps, so ``rate()`` extrapolates bad and total events alike and the
recorded error ratio is exactly (bad increase) / (total increase) over the samples in
``[t - window, t]``. A check whose outcome would hinge on rounding (a burn equal to a factor, a
value on a ``%.1f`` edge) is refused at generation time, so promtool either agrees with the
model or the rules are wrong.

Scenarios, per burn-rate pair (long, short, factor, for):

- ``fire``: healthy for a whole long window, then a burn of 1.9x the factor (under the next
  faster pair's factor). Checked: halfway to the long window's detection time (quiet), once
  detection + ``for:`` has passed (fires for every objective, within the workbook's detection
  time ``long * factor / burn``), and right after the burn stops (resolved within the short
  window while the long window is still over the factor: what the short window is for).
- ``under``: a steady burn of 0.9x the factor, past ``for:``: quiet. Readiness 503s (route
  ``/health/ready``) flow at a huge rate and must not count against availability.

Those checks query ``ALERTS`` (which alert of which objective, with which severity, fires);
other pairs that legitimately fire at a checked instant are listed too, so every check pins
down the whole set. Two scenarios compare whole alerts, labels and annotations: ``templates``
(the fastest pair's fire scenario for one objective of each SLI shape, so the ``$value`` in
the descriptions is checked) and ``absent`` (every SLI's series stops; ``SLIMetricAbsent``
fires after its range and ``for:``, not before).

promtool has one evaluation interval per file and evaluates every rule at every step, so each
pair has its own file stepping about 1/24 of its long window: ``slo_test.yml`` (the 1h pair,
with the whole-alert scenarios), ``slo_6h_test.yml``, ``slo_1d_test.yml``, ``slo_3d_test.yml``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from harness.obs.slo_spec import (
    ABSENT_HOLD,
    ABSENT_RANGE,
    ABSENT_SEVERITY,
    ALERT_ABSENT,
    ALERT_AVAILABILITY,
    ALERT_LATENCY,
    BURN_PAIRS,
    BurnPair,
    Objective,
    ObjectiveSpec,
    dump_yaml,
    duration,
    header,
    runbook_url,
)

EVENTS = 100_000
"""Events per input sample: burns come out as whole bad-event counts."""
OFFSET = 10 * EVENTS
"""Counters start here, far above one sample's increase (see the module docstring)."""
SAMPLES_PER_SHORT_WINDOW = 6
"""Input samples per short window of the pair a scenario tests (its sample interval)."""
FIRE_BURN, UNDER_BURN = 1.9, 0.9
"""Burns as multiples of the pair's factor (capped at every event bad)."""
PROBE_ROUTE = "/api/v1/probe"
_BURN_ALERTS = f"{ALERT_AVAILABILITY}|{ALERT_LATENCY}"
_FIRING_BURNS = (
    f'count by (slo, long, severity) (ALERTS{{alertstate="firing",alertname=~"{_BURN_ALERTS}"}})'
)
_EDGE = 1e-9


@dataclass(frozen=True)
class PromtoolFile:
    """One promtool test file: the pairs it covers at one evaluation step."""

    name: str
    pairs: tuple[BurnPair, ...]
    step: int
    whole_alerts: bool
    """Also the ``templates`` and ``absent`` scenarios (whole alerts compared)."""


TEST_FILES = (
    PromtoolFile("slo_test.yml", BURN_PAIRS[:1], 300, whole_alerts=True),
    *(
        PromtoolFile(f"slo_{duration(p.long)}_test.yml", (p,), p.long // 24, whole_alerts=False)
        for p in BURN_PAIRS[1:]
    ),
)
"""One file per pair, stepping 1/24 of its long window (5m for the 1h pair): promtool evaluates
every rule at every step of a file, so a day-long scenario at a 5m step would take a minute."""


class GenerationError(RuntimeError):
    """A check's outcome would hinge on rounding, or the model disagrees with a check's
    intent: a generator bug, never a spec error."""


@dataclass(frozen=True)
class Firing:
    objective: Objective
    pair: BurnPair
    value: float


class Model:
    """Per-sample bad-event counts for every objective, and Prometheus' view of them."""

    def __init__(self, interval: int, step: int, bad: dict[str, list[int]]) -> None:
        self.interval = interval
        self.step = step
        self.cumulative = {name: _cumulative(counts) for name, counts in bad.items()}
        self.samples = len(next(iter(bad.values()))) + 1

    def burn(self, objective: Objective, t: int, window: int) -> float | None:
        """Bad share over ``[t - window, t]`` in budgets (``None``: under two samples)."""
        first = max(0, math.ceil((t - window) / self.interval))
        last = min(self.samples - 1, t // self.interval)
        if last - first < 1:
            return None
        bad = self.cumulative[objective.name]
        return (bad[last] - bad[first]) / ((last - first) * EVENTS) / objective.budget

    def condition(self, objective: Objective, pair: BurnPair, t: int) -> bool:
        result = True
        for window in (pair.long, pair.short):
            burn = self.burn(objective, t, window)
            if burn is None:
                return False
            if abs(burn - pair.factor) <= _EDGE * pair.factor:
                raise GenerationError(
                    f"{objective.name}: burn {burn} at {duration(t)} over {duration(window)} "
                    f"equals the factor {pair.factor}; adjust the scenario"
                )
            result = result and burn > pair.factor
        return result

    def firing(self, objectives: Sequence[Objective], until: int) -> dict[int, list[Firing]]:
        """Firing burn-rate alerts at every evaluation step up to ``until``."""
        active: dict[tuple[str, int], int] = {}
        timeline: dict[int, list[Firing]] = {}
        for t in range(0, until + 1, self.step):
            now = []
            for objective in objectives:
                for index, pair in enumerate(BURN_PAIRS):
                    key = (objective.name, index)
                    if not self.condition(objective, pair, t):
                        active.pop(key, None)
                        continue
                    if t - active.setdefault(key, t) >= pair.hold:
                        value = self.burn(objective, t, pair.long)
                        assert value is not None  # the condition held
                        now.append(Firing(objective, pair, value))
            timeline[t] = now
        return timeline


def _interval(pair: BurnPair) -> int:
    return pair.short // SAMPLES_PER_SHORT_WINDOW


def _cumulative(counts: list[int]) -> list[int]:
    total, out = 0, [0]
    for count in counts:
        total += count
        out.append(total)
    return out


def _bad(objective: Objective, burn: float) -> int:
    """Bad events per sample for a burn (multiple of the budget), capped at all events."""
    return min(EVENTS, round(burn * objective.budget * EVENTS))


def _values(increments: list[int]) -> str:
    """promtool's expanding notation for a counter rising by ``increments`` per sample."""
    runs: list[tuple[int, int]] = []
    for inc in increments:
        if runs and runs[-1][0] == inc:
            runs[-1] = (inc, runs[-1][1] + 1)
        else:
            runs.append((inc, 1))
    parts, value = [f"{OFFSET}"], OFFSET
    for inc, count in runs:
        start = value + inc
        parts.append(f"{start}+{inc}x{count - 1}" if count > 1 else f"{start}")
        value += inc * count
    return " ".join(parts)


def _name(metric: str, labels: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{metric}{{{inner}}}" if inner else metric


def _counter(metric: str, labels: dict[str, str], increments: list[int]) -> dict[str, str]:
    return {"series": _name(metric, labels), "values": _values(increments)}


def _series(objective: Objective, bad: list[int]) -> Iterator[dict[str, str]]:
    good = [EVENTS - b for b in bad]
    if objective.kind == "availability":
        probe = {"service": objective.service, "route": PROBE_ROUTE, "method": "GET"}
        yield _counter(objective.metric, {**probe, "status": "200"}, good)
        yield _counter(objective.metric, {**probe, "status": "500"}, bad)
        return
    labels = {k: v for k, v in objective.presence_labels().items() if k != "le"}
    yield _counter(f"{objective.metric}_bucket", {**labels, "le": objective.le}, good)
    yield _counter(f"{objective.metric}_count", labels, [EVENTS] * len(bad))


def _burn_alert(firing: Firing) -> dict[str, object]:
    objective, pair = firing.objective, firing.pair
    long, short = duration(pair.long), duration(pair.short)
    tenths = firing.value * 10
    if abs(tenths - math.floor(tenths) - 0.5) <= 1e-6:
        raise GenerationError(f"{objective.name}: burn {firing.value} is on a %.1f rounding edge")
    return {
        "exp_labels": {
            "alertname": objective.alert,
            **objective.record_labels(),
            **objective.burn_labels(pair, long, short),
        },
        "exp_annotations": {
            "summary": objective.burn_summary(pair, long, short),
            "description": objective.burn_description(pair, long, short, f"{firing.value:.1f}"),
            "runbook_url": runbook_url(objective.alert),
        },
    }


def _absent_alert(objective: Objective) -> dict[str, object]:
    return {
        "exp_labels": {
            "alertname": ALERT_ABSENT,
            **objective.presence_labels(),
            "severity": ABSENT_SEVERITY,
            "service": objective.service,
            "slo": objective.name,
        },
        "exp_annotations": {
            "summary": objective.absent_summary(),
            "description": objective.absent_description(duration(ABSENT_RANGE)),
            "runbook_url": runbook_url(ALERT_ABSENT),
        },
    }


def _firing_check(t: int, firing: list[Firing]) -> dict[str, object]:
    """Which burn alert of which objective fires at ``t``, with which severity."""
    samples = [
        {
            "labels": _name(
                "",
                {
                    "long": duration(f.pair.long),
                    "severity": f.objective.severity(f.pair),
                    "slo": f.objective.name,
                },
            ),
            "value": 1,
        }
        for f in firing
    ]
    return {"expr": _FIRING_BURNS, "eval_time": duration(t), "exp_samples": samples}


def _whole_checks(t: int, firing: list[Firing]) -> list[dict[str, object]]:
    """Both burn alert names at ``t``, compared whole (labels and annotations)."""
    return [
        {
            "eval_time": duration(t),
            "alertname": name,
            "exp_alerts": [_burn_alert(f) for f in firing if f.objective.alert == name],
        }
        for name in (ALERT_AVAILABILITY, ALERT_LATENCY)
    ]


def _step_up(t: float, step: int) -> int:
    return math.ceil(t / step) * step


def _of(firing: list[Firing], pair: BurnPair) -> set[str]:
    return {f.objective.name for f in firing if f.pair is pair}


@dataclass(frozen=True)
class _Fired:
    bad: dict[str, list[int]]
    timeline: dict[int, list[Firing]]
    early: int
    fired: int
    reset: int


def _fire_model(objectives: Sequence[Objective], pair: BurnPair, step: int) -> _Fired:
    interval = _interval(pair)
    healthy = pair.long // interval
    burns = {o.name: _bad(o, FIRE_BURN * pair.factor) for o in objectives}
    slowest = min(burns[o.name] / EVENTS / o.budget for o in objectives)
    detect = pair.long * pair.factor / slowest
    start = healthy * interval
    burning = math.ceil((detect + pair.hold + 2 * interval + 2 * step) / interval)
    after = math.ceil((pair.short + 2 * interval + 2 * step) / interval)
    bad = {name: [0] * healthy + [b] * burning + [0] * after for name, b in burns.items()}
    model = Model(interval, step, bad)
    timeline = model.firing(objectives, (healthy + burning + after) * interval)
    names, stop = {o.name for o in objectives}, start + burning * interval

    early = _step_up(start + detect / 2, step)
    if _of(timeline[early], pair):
        raise GenerationError(f"{pair}: fires before the long window could have seen the burn")
    fired = next((t for t in sorted(timeline) if t > start and _of(timeline[t], pair) == names), 0)
    if not fired or fired - start > detect + pair.hold + interval + 2 * step:
        raise GenerationError(f"{pair}: does not fire within its detection time + for:")
    reset = next((t for t in sorted(timeline) if t > stop and not _of(timeline[t], pair)), 0)
    if not reset or reset - stop > pair.short + interval + step:
        raise GenerationError(f"{pair}: does not resolve within its short window")
    for objective in objectives:
        long_burn = model.burn(objective, reset, pair.long)
        if long_burn is None or long_burn <= pair.factor:
            raise GenerationError(f"{pair}: the long window resolved {objective.name} first")
    return _Fired(bad, timeline, early, fired, reset)


def _title(pair: BurnPair) -> str:
    return f"{duration(pair.long)}/{duration(pair.short)} pair ({pair.factor:g}x)"


def _fire(objectives: Sequence[Objective], pair: BurnPair, step: int) -> dict[str, object]:
    run = _fire_model(objectives, pair, step)
    return {
        "name": f"fire {_title(pair)}: {FIRE_BURN}x its factor after a healthy "
        f"{duration(pair.long)}; quiet at {duration(run.early)}, firing at {duration(run.fired)}, "
        f"resolved by the short window at {duration(run.reset)}",
        "interval": duration(_interval(pair)),
        "input_series": [s for o in objectives for s in _series(o, run.bad[o.name])],
        "promql_expr_test": [
            _firing_check(t, run.timeline[t]) for t in (run.early, run.fired, run.reset)
        ],
    }


def _under(objectives: Sequence[Objective], pair: BurnPair, step: int) -> dict[str, object]:
    interval = _interval(pair)
    check = _step_up(pair.hold + pair.short + 2 * interval, step)
    samples = check // interval
    bad = {o.name: [_bad(o, UNDER_BURN * pair.factor)] * samples for o in objectives}
    timeline = Model(interval, step, bad).firing(objectives, check)
    if _of(timeline[check], pair):
        raise GenerationError(f"{pair}: fires under its factor")
    probes = [
        _counter(
            o.metric,
            {"service": o.service, "route": "/health/ready", "method": "GET", "status": "503"},
            [EVENTS] * samples,
        )
        for o in objectives
        if o.kind == "availability"
    ]
    return {
        "name": f"under {_title(pair)}: {UNDER_BURN}x its factor, steady, and readiness 503s; "
        f"quiet at {duration(check)}",
        "interval": duration(interval),
        "input_series": [*(s for o in objectives for s in _series(o, bad[o.name])), *probes],
        "promql_expr_test": [_firing_check(check, timeline[check])],
    }


def _templates(objectives: Sequence[Objective], step: int) -> dict[str, object]:
    """One objective of each SLI shape through the fastest pair, alerts compared whole."""
    shapes: dict[tuple[str, int], Objective] = {}
    for o in objectives:
        shapes.setdefault((o.kind, len(o.matchers)), o)
    chosen = list(shapes.values())
    pair = BURN_PAIRS[0]
    run = _fire_model(chosen, pair, step)
    return {
        "name": f"templates: {', '.join(o.name for o in chosen)} through the {_title(pair)}, "
        "labels and annotations (burn value included) at each check",
        "interval": duration(_interval(pair)),
        "input_series": [s for o in chosen for s in _series(o, run.bad[o.name])],
        "alert_rule_test": [
            check
            for t in (run.early, run.fired, run.reset)
            for check in _whole_checks(t, run.timeline[t])
        ],
    }


def _absent(objectives: Sequence[Objective], step: int) -> dict[str, object]:
    interval, samples = 60, 20
    last = samples * interval
    series = []
    for o in objectives:
        if o.kind == "availability":
            labels = {**o.presence_labels(), "route": PROBE_ROUTE, "method": "GET", "status": "200"}
            series.append(_counter(o.metric, labels, [EVENTS] * samples))
        else:
            series.append(_counter(f"{o.metric}_bucket", o.presence_labels(), [EVENTS] * samples))
    quiet = last + ABSENT_RANGE  # the last sample is still in range (or just left: pending)
    fires = _step_up(last + ABSENT_RANGE + ABSENT_HOLD + step, step)
    return {
        "name": f"absent: every SLI's series stops at {duration(last)}; {ALERT_ABSENT} quiet at "
        f"{duration(quiet)}, firing for each at {duration(fires)}",
        "interval": duration(interval),
        "input_series": series,
        "alert_rule_test": [
            {"eval_time": duration(quiet), "alertname": ALERT_ABSENT, "exp_alerts": []},
            {
                "eval_time": duration(fires),
                "alertname": ALERT_ABSENT,
                "exp_alerts": [_absent_alert(o) for o in objectives],
            },
        ],
    }


def render_tests(spec: ObjectiveSpec, rule_file: str) -> dict[str, str]:
    """Each promtool test file's name and text, for the rules rendered from ``spec`` at scale 1
    (``rule_file``: their path relative to the test files' directory)."""
    objectives = spec.objectives
    files = {}
    for test_file in TEST_FILES:
        tests = []
        for pair in test_file.pairs:
            tests += [
                _fire(objectives, pair, test_file.step),
                _under(objectives, pair, test_file.step),
            ]
        if test_file.whole_alerts:
            tests += [_templates(objectives, test_file.step), _absent(objectives, test_file.step)]
        document = {
            "rule_files": [rule_file],
            "evaluation_interval": duration(test_file.step),
            "tests": tests,
        }
        files[test_file.name] = header(spec, "promtool unit tests") + dump_yaml(document)
    return files

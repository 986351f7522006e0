"""Rules every generated dashboard keeps; each check returns its problems as readable lines.

Offline and textual: PromQL syntax is left to ``promtool`` and execution to a real server. The
rules: unique dashboard uids and titles; unique panel ids and titles within a dashboard, laid
out on the 24-column grid without overlaps; every panel and query on the ``${datasource}``
variable; a unit and a description on every panel; every PromQL range ``[$__rate_interval]``
(fixed SLO windows only where a dashboard declares them); every metric a known one
(``known_metrics``) with known label names in its selectors; every InfluxQL panel or annotation
query limited by ``$timeFilter``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from harness.obs.dashboards.known_metrics import (
    RECORDING_RULE_PREFIXES,
    TARGET_LABELS,
    Metric,
    series_index,
)
from harness.obs.dashboards.queries import panels_of, queries_of

DATASOURCE_UID = "${datasource}"
GRID_WIDTH = 24
RATE_WINDOW = "$__rate_interval"

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_RANGE = re.compile(r"\[([^\]]*)\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_TOKEN = re.compile(
    r"(?P<number>(?<![A-Za-z_:])\d+(?:\.\d+)?(?:[eE][+-]?\d+|(?:ms|[smhdwy])+)?)"
    r"|(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)(?P<call>\s*\()?"
)
_SELECTOR = re.compile(r"(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)\s*\{(?P<matchers>[^}]*)\}")
_MATCHER_LABEL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2", "group_left", "group_right"}
)


def _without_strings(expr: str) -> str:
    return _STRING.sub('""', expr)


def metric_names(expr: str) -> set[str]:
    """Series names a PromQL expression selects (functions, keywords, labels left out)."""
    text = _RANGE.sub("", _GROUPING.sub("", _without_strings(expr)))
    text = re.sub(r"\{[^}]*\}", "", text)
    names = set()
    for token in _TOKEN.finditer(text):
        name = token.group("name")
        if name and not token.group("call") and name.lower() not in _KEYWORDS:
            names.add(name)
    return names


def selector_labels(expr: str) -> list[tuple[str, str]]:
    """``(series, label)`` for every label matcher written in a selector."""
    found = []
    for selector in _SELECTOR.finditer(_without_strings(expr)):
        for label in _MATCHER_LABEL.findall(selector.group("matchers")):
            found.append((selector.group("name"), label))
    return found


def range_windows(expr: str) -> list[str]:
    """Every range (or subquery) written in ``[...]``."""
    return [m.group(1).strip() for m in _RANGE.finditer(_without_strings(expr))]


def dashboard_set(models: Sequence[Mapping[str, Any]]) -> list[str]:
    problems = []
    for key in ("uid", "title"):
        counts = Counter(model.get(key) for model in models)
        problems += [
            f"dashboard {key} {value!r} used {n} times" for value, n in counts.items() if n > 1
        ]
        problems += [f"a dashboard has no {key}" for model in models if not model.get(key)]
    return problems


def panels(model: Mapping[str, Any]) -> list[str]:
    """Ids and titles unique (rows included for ids); datasource, unit and description set."""
    uid = model.get("uid")
    problems = []
    everything = [
        *model.get("panels", []),
        *(p for r in model.get("panels", []) for p in r.get("panels", [])),
    ]
    ids = Counter(panel.get("id") for panel in everything)
    problems += [
        f"{uid}: panel id {i!r} used {n} times" for i, n in ids.items() if n > 1 or i is None
    ]
    titles = Counter(panel.get("title") for panel in panels_of(model))
    problems += [f"{uid}: panel title {t!r} used {n} times" for t, n in titles.items() if n > 1]
    for panel in panels_of(model):
        where = f"{uid}: panel {panel.get('title')!r}"
        if panel.get("datasource", {}).get("uid") != DATASOURCE_UID:
            problems.append(f"{where}: datasource is not the {DATASOURCE_UID} variable")
        for target in panel.get("targets", []):
            if target.get("datasource", {}).get("uid") != DATASOURCE_UID:
                problems.append(
                    f"{where} query {target.get('refId')}: datasource not {DATASOURCE_UID}"
                )
        if not panel.get("fieldConfig", {}).get("defaults", {}).get("unit"):
            problems.append(f"{where}: no unit (fieldConfig.defaults.unit)")
        if not str(panel.get("description", "")).strip():
            problems.append(f"{where}: no description")
        if not panel.get("targets"):
            problems.append(f"{where}: no query")
    for annotation in model.get("annotations", {}).get("list", []):
        if annotation.get("datasource", {}).get("uid") != DATASOURCE_UID:
            problems.append(
                f"{uid}: annotation {annotation.get('name')!r}: datasource not {DATASOURCE_UID}"
            )
    return problems


def layout(model: Mapping[str, Any]) -> list[str]:
    """Panels (rows included) fit Grafana's 24-column grid and do not overlap."""
    uid = model.get("uid")
    taken: dict[tuple[int, int], str] = {}
    problems = []
    for panel in model.get("panels", []):
        title, grid = panel.get("title"), panel.get("gridPos", {})
        x, y, w, h = (int(grid.get(k, 0)) for k in ("x", "y", "w", "h"))
        if w <= 0 or h <= 0 or x < 0 or x + w > GRID_WIDTH:
            problems.append(f"{uid}: panel {title!r} at {grid} is outside the grid")
        clashes = {taken[cell] for cell in _cells(x, y, w, h) if cell in taken}
        problems += [f"{uid}: panel {title!r} overlaps {other!r}" for other in sorted(clashes)]
        taken.update(dict.fromkeys(_cells(x, y, w, h), str(title)))
    return problems


def _cells(x: int, y: int, w: int, h: int) -> list[tuple[int, int]]:
    return [(column, row) for column in range(x, x + w) for row in range(y, y + h)]


def promql(
    model: Mapping[str, Any],
    metrics: Mapping[str, Metric],
    fixed_windows: Iterable[str] = (),
) -> list[str]:
    """Range windows are ``$__rate_interval`` (or one of ``fixed_windows``); metrics and their
    selector labels are known."""
    allowed = {RATE_WINDOW, *fixed_windows}
    series = series_index(dict(metrics))
    problems = []
    for query in queries_of(model):
        if query.datasource_kind != "prometheus":
            continue
        where = f"{query.dashboard}: panel {query.panel_title!r} query {query.ref_id}"
        problems += [
            f"{where}: range [{window}] is not [{RATE_WINDOW}]"
            for window in range_windows(query.expr)
            if window not in allowed
        ]
        for name in sorted(metric_names(query.expr)):
            if name not in series and not name.startswith(RECORDING_RULE_PREFIXES):
                problems.append(f"{where}: unknown metric {name!r}")
        for name, label in selector_labels(query.expr):
            metric = series.get(name)
            if metric is None:
                continue
            known = {*metric.labels, *TARGET_LABELS, *(("le",) if name.endswith("_bucket") else ())}
            if label not in known:
                problems.append(f"{where}: {name} has no label {label!r}")
    return problems


def influxql(model: Mapping[str, Any]) -> list[str]:
    """Panel and annotation queries are limited to the dashboard's range by ``$timeFilter``;
    time buckets follow ``$__interval``."""
    problems = []
    for query in queries_of(model):
        if query.datasource_kind != "influxdb":
            continue
        where = f"{query.dashboard}: {query.source} {query.panel_title!r} query {query.ref_id}"
        if "$timeFilter" not in query.expr:
            problems.append(f"{where}: no $timeFilter")
        for bucket in re.findall(r"time\(([^)]*)\)", query.expr):
            if bucket != "$__interval":
                problems.append(f"{where}: GROUP BY time({bucket}) instead of time($__interval)")
    return problems


def lint(
    models: Sequence[Mapping[str, Any]],
    metrics: Mapping[str, Metric],
    fixed_windows: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """Every rule over every dashboard; ``fixed_windows`` maps a dashboard uid to the fixed
    PromQL ranges it may use (the SLO dashboard's 30d / 1h / 6h)."""
    windows = fixed_windows or {}
    problems = dashboard_set(models)
    for model in models:
        problems += panels(model)
        problems += layout(model)
        problems += promql(model, metrics, windows.get(str(model.get("uid")), ()))
        problems += influxql(model)
    return problems

"""Every query the dashboards run, and Grafana's variable substitution, to run them elsewhere.

Grafana is not installable here, so a panel query is proved by running it against the real
Prometheus or InfluxDB after substituting what Grafana would: the dashboard's own variables
(``$route``, ``$run_id`` …) and its built-ins (``$__rate_interval``, ``$__interval``,
``$timeFilter`` …). ``queries()`` lists them with what is needed to do that; ``substitute()``
and ``builtins()`` do the substitution the way Grafana does for these two datasources.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["prometheus", "influxdb"]
Source = Literal["panel", "annotation"]


@dataclass(frozen=True)
class Variable:
    """A dashboard variable as Grafana will offer it."""

    name: str
    type: str
    """``datasource``, ``query`` …"""
    query: str
    """``label_values(…)`` / ``SHOW TAG VALUES …``; for a datasource variable, its type."""
    multi: bool
    all_value: str | None
    """What *All* stands for (``.*``), or ``None`` when the variable has no *All*."""


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    """The dashboard's uid."""
    panel_title: str
    ref_id: str
    datasource_kind: Kind
    expr: str
    """PromQL or InfluxQL, Grafana variables unsubstituted."""
    instant: bool
    """Prometheus: an instant query (stat / table panels); else a range query."""
    variables: tuple[Variable, ...]
    """Every variable of the dashboard (see ``used_variables`` for the ones ``expr`` uses)."""
    source: Source = "panel"

    @property
    def used_variables(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variables if _reference(v.name).search(self.expr))


def _reference(name: str) -> re.Pattern[str]:
    escaped = re.escape(name)
    return re.compile(
        rf"\$\{{{escaped}(?::[a-z]+)?\}}|\${escaped}(?![A-Za-z0-9_])|\[\[{escaped}\]\]"
    )


def variables_of(model: Mapping[str, Any]) -> tuple[Variable, ...]:
    found = []
    for raw in model.get("templating", {}).get("list", []):
        query = raw.get("query", "")
        found.append(
            Variable(
                name=raw["name"],
                type=raw["type"],
                query=query if isinstance(query, str) else str(query.get("query", "")),
                multi=bool(raw.get("multi")),
                all_value=raw.get("allValue") if raw.get("includeAll") else None,
            )
        )
    return tuple(found)


def panels_of(model: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' nested panels included (rows themselves left out)."""
    for panel in model.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def queries_of(model: Mapping[str, Any]) -> list[PanelQuery]:
    uid, variables = model["uid"], variables_of(model)
    found = []
    for panel in panels_of(model):
        for target in panel.get("targets", []):
            source = target.get("datasource") or panel.get("datasource") or {}
            named = source.get("type") or ("prometheus" if "expr" in target else "influxdb")
            kind: Kind = "prometheus" if named == "prometheus" else "influxdb"
            found.append(
                PanelQuery(
                    uid,
                    panel["title"],
                    target["refId"],
                    kind,
                    target.get("expr", target.get("query", "")),
                    instant=bool(target.get("instant")),
                    variables=variables,
                )
            )
    for annotation in model.get("annotations", {}).get("list", []):
        target = annotation.get("target", {})
        if "query" in target:
            found.append(
                PanelQuery(
                    uid,
                    annotation["name"],
                    target.get("refId", "Anno"),
                    annotation["datasource"]["type"],
                    target["query"],
                    instant=False,
                    variables=variables,
                    source="annotation",
                )
            )
    return found


_PROM_REGEX_SPECIAL = re.compile(r"[$^*{}\[\]'+?.()|]")
_REGEX_SPECIAL = re.compile(r"[\\^$*+?.()|{}\[\]/]")


def _alternation(values: Sequence[str], kind: Kind) -> str:
    """A multi-value selection as Grafana writes it into a regex: ``(a|b)``, each value
    escaped for the datasource (PromQL strings double the backslash)."""
    if kind == "prometheus":
        escaped = [_PROM_REGEX_SPECIAL.sub(lambda m: "\\\\" + m.group(), v) for v in values]
    else:
        escaped = [_REGEX_SPECIAL.sub(lambda m: "\\" + m.group(), v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def _literal(text: str) -> Callable[[re.Match[str]], str]:
    """A ``re.sub`` replacement that puts ``text`` in verbatim (no backslash processing)."""
    return lambda _match: text


def substitute(expr: str, values: Mapping[str, str | Sequence[str]], kind: Kind) -> str:
    """``expr`` with Grafana variables replaced by ``values`` (names without ``$``).

    A string is put in as is (an *All* selection is its ``all_value``, e.g. ``.*``); a sequence
    is a multi-value selection, written as Grafana writes it for ``kind``. Longer names are
    replaced first so ``$__interval_ms`` is not read as ``$__interval``. A variable left
    unreplaced raises ``KeyError``, so a query is never sent half-substituted.
    """
    for name in sorted(values, key=len, reverse=True):
        value = values[name]
        text = value if isinstance(value, str) else _alternation(list(value), kind)
        expr = _reference(name).sub(_literal(text), expr)
    left = re.search(r"\$\{?[A-Za-z_][A-Za-z0-9_]*|\[\[[A-Za-z_]", expr)
    if left:
        raise KeyError(f"no value for {left.group()} in {expr!r}")
    return expr


def _duration(seconds: float) -> str:
    millis = max(1, round(seconds * 1000))
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


def builtins(
    start: float,
    end: float,
    *,
    kind: Kind,
    max_data_points: int = 1000,
    min_interval: float = 0.0,
    scrape_interval: float = 15.0,
) -> dict[str, str]:
    """Grafana's built-in variables for a query over ``[start, end]`` (epoch seconds).

    ``$__interval`` is the range over the panel's data points, at least ``min_interval`` (the
    panel's or datasource's minimum), rounded up to a whole second above one second;
    ``$__rate_interval`` is ``max($__interval + scrape interval, 4 x scrape interval)``.
    ``$timeFilter`` is InfluxQL's time condition in epoch milliseconds, as Grafana writes it.
    """
    if end <= start:
        raise ValueError("end must be after start")
    interval = max((end - start) / max_data_points, min_interval, 0.001)
    if interval > 1:
        interval = float(math.ceil(interval))
    found = {
        "__interval": _duration(interval),
        "__interval_ms": str(round(interval * 1000)),
        "__range": _duration(end - start),
        "__range_s": str(round(end - start)),
        "__range_ms": str(round((end - start) * 1000)),
    }
    if kind == "prometheus":
        found["__rate_interval"] = _duration(max(interval + scrape_interval, 4 * scrape_interval))
    else:
        found["timeFilter"] = f"time >= {round(start * 1000)}ms and time <= {round(end * 1000)}ms"
    return found


def resolve(
    query: PanelQuery,
    start: float,
    end: float,
    selections: Mapping[str, str | Sequence[str]] | None = None,
    *,
    scrape_interval: float = 15.0,
) -> str:
    """``query`` ready to send for ``[start, end]``: built-ins filled in, each variable from
    ``selections`` or, for a variable with an *All* option, *All*. A variable with neither
    (``$run_id``) raises ``KeyError``. InfluxDB panels use a 1 s minimum interval."""
    values: dict[str, str | Sequence[str]] = dict(
        builtins(
            start,
            end,
            kind=query.datasource_kind,
            min_interval=1.0 if query.datasource_kind == "influxdb" else 0.0,
            scrape_interval=scrape_interval,
        )
    )
    for variable in query.variables:
        if variable.all_value is not None:
            values[variable.name] = variable.all_value
    values.update(selections or {})
    return substitute(query.expr, values, query.datasource_kind)

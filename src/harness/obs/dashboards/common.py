"""What every dashboard shares: the datasource variable, query specs, panel factories, layout.

Each dashboard module describes *what* to show; this module decides *how* it is written so the
lint rules hold by construction: every panel gets a numeric id unique in its dashboard, a unit,
a description, and the dashboard's ``${datasource}`` variable (never a fixed datasource), on
the panel and on each of its queries.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models import prometheus as prometheus_models

from harness.obs.dashboards import provisioning
from harness.obs.dashboards.influxql import InfluxQLQuery
from harness.obs.dashboards.queries import Kind

DATASOURCE_VARIABLE = "datasource"
"""Every panel and query points at this variable, so one JSON serves any Grafana."""


def datasource_ref(kind: Kind) -> models.DataSourceRef:
    return models.DataSourceRef(type_val=kind, uid=f"${{{DATASOURCE_VARIABLE}}}")


@dataclass(frozen=True)
class Prom:
    """A PromQL target: range (time series) unless ``instant``; ``table`` for table panels."""

    expr: str
    legend: str = ""
    instant: bool = False
    table: bool = False


@dataclass(frozen=True)
class Influx:
    """A raw InfluxQL target; ``alias`` may use ``$tag_<tag>`` and ``$col``."""

    query: str
    alias: str = ""
    table: bool = False


Query = Prom | Influx


def _kind_of(queries: Sequence[Query]) -> Kind:
    kinds = {"prometheus" if isinstance(q, Prom) else "influxdb" for q in queries}
    if len(kinds) != 1:
        raise ValueError(f"a panel needs queries of one datasource kind, got {sorted(kinds)}")
    kind: Kind = "prometheus" if kinds == {"prometheus"} else "influxdb"
    return kind


def _target(query: Query, ref_id: str) -> cogbuilder.Builder[cogvariants.Dataquery]:
    if isinstance(query, Prom):
        target = (
            prometheus.Dataquery()
            .expr(query.expr)
            .ref_id(ref_id)
            .datasource(datasource_ref("prometheus"))
        )
        if query.legend:
            target = target.legend_format(query.legend)
        if query.table:
            target = target.format(prometheus_models.PromQueryFormat.TABLE)
        return target.instant() if query.instant or query.table else target.range()
    return InfluxQLQuery(
        query.query,
        ref_id=ref_id,
        alias=query.alias,
        result_format="table" if query.table else "time_series",
        datasource=datasource_ref("influxdb"),
    )


PanelBuilder = timeseries.Panel | stat.Panel | table.Panel


@dataclass(frozen=True)
class Step:
    """A threshold step: from ``value`` (``None``: from minus infinity) the colour is ``color``."""

    value: float | None
    color: str


def _thresholds(steps: Sequence[Step]) -> dashboard.ThresholdsConfig:
    return (
        dashboard.ThresholdsConfig()
        .mode(models.ThresholdsMode.ABSOLUTE)
        .steps([models.Threshold(value=s.value, color=s.color) for s in steps])
    )


def _finish(
    panel: PanelBuilder,
    title: str,
    description: str,
    unit: str,
    queries: Sequence[Query],
    width: int,
    height: int,
) -> PanelBuilder:
    if not description.strip() or not unit:
        raise ValueError(f"panel {title!r} needs a unit and a description")
    if not queries:
        raise ValueError(f"panel {title!r} has no query")
    panel = (
        panel.title(title)
        .description(description)
        .unit(unit)
        .datasource(datasource_ref(_kind_of(queries)))
        .span(width)
        .height(height)
    )
    for index, query in enumerate(queries):
        panel = panel.with_target(_target(query, chr(ord("A") + index)))
    return panel


def graph(
    title: str,
    description: str,
    unit: str,
    *queries: Query,
    width: int = 12,
    height: int = 8,
    steps: Sequence[Step] = (),
    stacked: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
    interval: str = "",
) -> PanelBuilder:
    """A time series panel; ``steps`` are drawn as threshold lines (SLO targets)."""
    panel = (
        timeseries.Panel()
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common_models.LegendDisplayMode.TABLE)
            .placement(common_models.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["mean", "max", "lastNotNull"])
        )
        .tooltip(
            common_builders.VizTooltipOptions()
            .mode(common_models.TooltipDisplayMode.MULTI)
            .sort(common_models.SortOrder.DESCENDING)
        )
        .fill_opacity(10)
        .line_width(1)
        .show_points(common_models.VisibilityMode.NEVER)
    )
    if stacked:
        panel = panel.stacking(
            common_builders.StackingConfig().mode(common_models.StackingMode.NORMAL)
        )
    if steps:
        panel = panel.thresholds(_thresholds(steps)).thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(
                common_models.GraphTresholdsStyleMode.LINE  # sic: the SDK spells it so
            )
        )
    if minimum is not None:
        panel = panel.min(minimum)
    if maximum is not None:
        panel = panel.max(maximum)
    if interval:
        panel = panel.interval(interval)
    return _finish(panel, title, description, unit, queries, width, height)


UP_DOWN = [
    models.ValueMap(
        options={
            "0": models.ValueMappingResult(text="DOWN", color="red", index=0),
            "1": models.ValueMappingResult(text="UP", color="green", index=1),
        }
    )
]
"""Value mappings for 0/1 health gauges (``up``, ``dependency_up``)."""


def single(
    title: str,
    description: str,
    unit: str,
    *queries: Query,
    width: int = 6,
    height: int = 4,
    steps: Sequence[Step] = (),
    mappings: Sequence[models.ValueMapping] = (),
    decimals: int | None = None,
    calc: str = "lastNotNull",
) -> PanelBuilder:
    """A stat panel reduced with ``calc`` (last value by default)."""
    panel = (
        stat.Panel()
        .reduce_options(common_builders.ReduceDataOptions().calcs([calc]).values(False))
        .color_mode(
            common_models.BigValueColorMode.BACKGROUND
            if steps or mappings
            else common_models.BigValueColorMode.NONE
        )
        .graph_mode(common_models.BigValueGraphMode.NONE)
        .text_mode(common_models.BigValueTextMode.VALUE_AND_NAME)
    )
    if steps:
        panel = panel.thresholds(_thresholds(steps))
    if mappings:
        panel = panel.mappings(list(mappings))
    if decimals is not None:
        panel = panel.decimals(decimals)
    return _finish(panel, title, description, unit, queries, width, height)


def grid(
    title: str,
    description: str,
    unit: str,
    *queries: Query,
    width: int = 12,
    height: int = 8,
    hide: Sequence[str] = ("Time",),
    units: dict[str, str] | None = None,
    mappings: Sequence[models.ValueMapping] = (),
) -> PanelBuilder:
    """A table panel over instant/table-format queries; ``hide`` names columns to drop and
    ``units`` overrides the unit of named columns."""
    panel = (
        table.Panel()
        .show_header(True)
        .with_transformation(
            models.DataTransformerConfig(
                id_val="organize", options={"excludeByName": dict.fromkeys(hide, True)}
            )
        )
    )
    if mappings:
        panel = panel.mappings(list(mappings))
    for column, column_unit in (units or {}).items():
        panel = panel.override_by_name(
            column, [models.DynamicConfigValue(id_val="unit", value=column_unit)]
        )
    return _finish(panel, title, description, unit, queries, width, height)


@dataclass(frozen=True)
class Choice:
    """A query variable: ``query`` is ``label_values(...)`` (Prometheus) or ``SHOW TAG VALUES``
    (InfluxDB); ``multi`` variables get an *All* option matching everything."""

    name: str
    label: str
    query: str
    description: str
    multi: bool = True
    sort_desc: bool = False


class Board:
    """One dashboard being built: ids, rows and the datasource variable are handled here."""

    def __init__(
        self,
        uid: str,
        title: str,
        description: str,
        kind: Kind,
        tags: Sequence[str] = (),
        time_from: str = "now-6h",
        refresh: str = "30s",
    ) -> None:
        self.uid = uid
        self.kind: Kind = kind
        self._next_id = 1
        source = provisioning.DATASOURCES[kind]
        self._builder = (
            dashboard.Dashboard(title)
            .uid(uid)
            .description(description)
            .tags(["mediagw", *tags])
            .time(time_from, "now")
            .refresh(refresh)
            .timezone("utc")
            .tooltip(models.DashboardCursorSync.CROSSHAIR)
            .with_variable(
                dashboard.DatasourceVariable(DATASOURCE_VARIABLE)
                .label(source.label)
                .type(kind)
                .description(f"The {source.label} datasource every panel queries")
                .current(models.VariableOption(selected=True, text=source.name, value=source.uid))
            )
        )

    def choice(self, choice: Choice) -> Board:
        variable = (
            dashboard.QueryVariable(choice.name)
            .label(choice.label)
            .description(choice.description)
            .query(choice.query)
            .datasource(datasource_ref(self.kind))
            .refresh(models.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(
                models.VariableSort.ALPHABETICAL_DESC
                if choice.sort_desc
                else models.VariableSort.ALPHABETICAL_ASC
            )
            .multi(choice.multi)
            .include_all(choice.multi)
        )
        if choice.multi:
            variable = variable.all_value(".*").current(
                models.VariableOption(selected=True, text="All", value="$__all")
            )
        self._builder = self._builder.with_variable(variable)
        return self

    def annotation(self, annotation: cogbuilder.Builder[models.AnnotationQuery]) -> Board:
        self._builder = self._builder.annotation(annotation)
        return self

    def _take_id(self) -> int:
        taken, self._next_id = self._next_id, self._next_id + 1
        return taken

    def row(self, title: str) -> Board:
        self._builder = self._builder.with_row(dashboard.Row(title).id(self._take_id()))
        return self

    def add(self, *panels: PanelBuilder) -> Board:
        for panel in panels:
            self._builder = self._builder.with_panel(panel.id(self._take_id()))
        return self

    def model(self) -> dict[str, Any]:
        """The dashboard JSON model (plain dicts and lists, key order as the SDK writes it)."""
        encoded: dict[str, Any] = json.loads(json.dumps(self._builder.build(), cls=JSONEncoder))
        return encoded

"""InfluxQL targets and annotations, which grafana-foundation-sdk has no builder for.

The SDK ships query builders for Prometheus, Loki, Elasticsearch, CloudWatch and others, but
not for InfluxDB. These classes write the JSON that Grafana's InfluxDB datasource stores for a
raw InfluxQL query (``InfluxQuery`` in its ``types.ts``: ``query`` with ``rawQuery: true``,
``resultFormat``, ``alias``) and for an InfluxQL annotation, whose ``target`` carries the query
and the column mappings (``textColumn``, ``tagsColumn``, ``titleColumn``, ``timeEndColumn``)
in the shape the datasource's ``prepareAnnotation`` keeps as is.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard as models

ResultFormat = Literal["time_series", "table", "logs"]


class InfluxQLQuery(cogvariants.Dataquery, cogbuilder.Builder[cogvariants.Dataquery]):
    """A raw InfluxQL panel target (its own builder: there is nothing to assemble)."""

    def __init__(
        self,
        query: str,
        ref_id: str,
        alias: str = "",
        result_format: ResultFormat = "time_series",
        datasource: models.DataSourceRef | None = None,
    ) -> None:
        self.query = query
        self.ref_id = ref_id
        self.alias = alias
        self.result_format: ResultFormat = result_format
        self.datasource = datasource

    def build(self) -> Self:
        return self

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {"refId": self.ref_id}
        if self.datasource is not None:
            payload["datasource"] = self.datasource
        payload.update(query=self.query, rawQuery=True, resultFormat=self.result_format)
        if self.alias:
            payload["alias"] = self.alias
        return payload


class _InfluxQLAnnotation(models.AnnotationQuery):
    """The SDK's annotation model, plus the InfluxQL target its ``target`` field cannot hold
    (the SDK types ``target`` as the built-in Grafana datasource's tag filter)."""

    def __init__(self, influx_target: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.influx_target = influx_target

    def to_json(self) -> dict[str, object]:
        payload = super().to_json()
        payload["target"] = self.influx_target
        return payload


class InfluxQLAnnotation(cogbuilder.Builder[models.AnnotationQuery]):
    """Events from an InfluxQL query drawn on every time series panel of the dashboard."""

    def __init__(
        self,
        name: str,
        query: str,
        *,
        datasource: models.DataSourceRef,
        text_column: str,
        tags_column: str = "",
        title_column: str = "",
        icon_color: str = "rgba(0, 211, 255, 1)",
    ) -> None:
        self.name = name
        self.query = query
        self._model = _InfluxQLAnnotation(
            {
                "refId": "Anno",
                "query": query,
                "rawQuery": True,
                "resultFormat": "table",
                "fromAnnotations": True,
                "queryType": "tags",
                "textColumn": text_column,
                "tagsColumn": tags_column,
                "titleColumn": title_column,
                "timeEndColumn": "",
            },
            name=name,
            datasource=datasource,
            enable=True,
            hide=False,
            icon_color=icon_color,
        )

    def build(self) -> models.AnnotationQuery:
        return self._model

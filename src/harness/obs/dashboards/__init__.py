"""Grafana dashboards as code (grafana-foundation-sdk), their provisioning, and their queries.

``generate()`` builds every dashboard's JSON model; ``write(root)`` writes them to
``dashboards/<uid>.json`` with the provisioning files; ``queries()`` lists every panel and
annotation query with its datasource kind and the dashboard's variables, and ``substitute()`` /
``builtins()`` fill in Grafana's variables (``resolve()`` does both for one query), so each
query can be run against the real Prometheus or InfluxDB. One module per dashboard; ``common``
holds what they share.
"""

from __future__ import annotations

from harness.obs.dashboards.build import FIXED_WINDOWS, REGENERATE, drift, generate, write
from harness.obs.dashboards.queries import (
    PanelQuery,
    Variable,
    builtins,
    queries_of,
    resolve,
    substitute,
)


def queries() -> list[PanelQuery]:
    """Every panel and annotation query of every generated dashboard."""
    return [query for model in generate().values() for query in queries_of(model)]


__all__ = [
    "FIXED_WINDOWS",
    "REGENERATE",
    "PanelQuery",
    "Variable",
    "builtins",
    "drift",
    "generate",
    "queries",
    "resolve",
    "substitute",
    "write",
]

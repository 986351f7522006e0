"""Read a service's ``/metrics`` and estimate quantiles from its histograms.

The estimate interpolates linearly inside the bucket that holds the quantile, exactly as
PromQL's ``histogram_quantile`` does, so figures printed here match the dashboards.
"""

from __future__ import annotations

import math
from collections import defaultdict

import httpx
from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """``buckets``: (upper bound, cumulative count) pairs, ``+Inf`` last."""
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] == 0:
        return math.nan
    rank = q * ordered[-1][1]
    previous_bound, previous_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if math.isinf(bound):
                return previous_bound  # PromQL answers the highest finite bound
            width = count - previous_count
            fraction = (rank - previous_count) / width if width else 0.0
            return previous_bound + (bound - previous_bound) * fraction
        previous_bound, previous_count = bound, count
    return math.nan


def histograms(text: str, metric: str) -> dict[Labels, list[tuple[float, float]]]:
    """Buckets of every series of histogram ``metric`` (labels without ``le``)."""
    series: dict[Labels, list[tuple[float, float]]] = defaultdict(list)
    for family in text_string_to_metric_families(text):
        if family.name != metric:
            continue
        for sample in family.samples:
            if not sample.name.endswith("_bucket"):
                continue
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
            series[labels].append((float(sample.labels["le"]), float(sample.value)))
    return dict(series)


def scrape(base_url: str, timeout: float = 10.0) -> str:
    response = httpx.get(f"{base_url.rstrip('/')}/metrics", timeout=timeout)
    response.raise_for_status()
    return response.text


def quantile_between(before: str, after: str, metric: str, q: float, **labels: str) -> float:
    """Quantile ``q`` of histogram ``metric`` over the observations made between two scrapes,
    summed over every series whose labels include ``labels`` (e.g. service, route)."""

    def buckets(text: str) -> dict[float, float]:
        totals: dict[float, float] = {}
        for series_labels, points in histograms(text, metric).items():
            if labels.items() <= dict(series_labels).items():
                for bound, count in points:
                    totals[bound] = totals.get(bound, 0.0) + count
        return totals

    start, end = buckets(before), buckets(after)
    return histogram_quantile(q, [(b, c - start.get(b, 0.0)) for b, c in end.items()])

"""Small PromQL writers, so every rate uses ``$__rate_interval`` and every quantile keeps ``le``.

``$__rate_interval`` is Grafana's window for ``rate()``: at least four scrape intervals and at
least one step plus a scrape, so a rate never sees fewer than two samples however far the
dashboard is zoomed out.
"""

from __future__ import annotations

RATE_INTERVAL = "$__rate_interval"


def sel(metric: str, matchers: str = "") -> str:
    """``metric{matchers}`` (``matchers`` already written: ``service="auth", route=~"$route"``)."""
    return f"{metric}{{{matchers}}}" if matchers else metric


def _by(labels: str) -> str:
    return f" by ({labels})" if labels else ""


def rate(metric: str, matchers: str = "", *, by: str = "", window: str = RATE_INTERVAL) -> str:
    """``sum by (labels) (rate(metric{matchers}[window]))``: per-second rate of a counter."""
    return f"sum{_by(by)} (rate({sel(metric, matchers)}[{window}]))"


def increase(metric: str, matchers: str = "", *, by: str = "", window: str = RATE_INTERVAL) -> str:
    """``sum by (labels) (increase(...))``: how many in each window (rare events such as runs)."""
    return f"sum{_by(by)} (increase({sel(metric, matchers)}[{window}]))"


def quantile(
    q: float, histogram: str, matchers: str = "", *, by: str = "", window: str = RATE_INTERVAL
) -> str:
    """``histogram_quantile`` over a histogram's buckets, summed across instances by ``le``
    (and ``by``)."""
    labels = f"le, {by}" if by else "le"
    bucket = sel(f"{histogram}_bucket", matchers)
    return f"histogram_quantile({q}, sum by ({labels}) (rate({bucket}[{window}])))"


def ratio(numerator: str, denominator: str) -> str:
    return f"{numerator} / {denominator}"


def share(numerator: str, denominator: str) -> str:
    """``numerator / denominator`` that reads 0, not "no data", while the numerator has no
    series (no 5xx yet): the missing groups are filled from the denominator times zero, which
    keeps the ``by`` labels (``or vector(0)`` would drop them)."""
    return f"({numerator} or {denominator} * 0) / {denominator}"


def gauge(metric: str, matchers: str = "", *, by: str = "", agg: str = "sum") -> str:
    return f"{agg}{_by(by)} ({sel(metric, matchers)})"

"""Prometheus metrics of the gateway service: the one place they are declared.

The catalogue (`alerting/metrics.md`, `mediagw metrics catalogue`) is generated from here;
dashboards and alert rules use only the names it lists.
"""

from __future__ import annotations

from prometheus_client import Gauge

BREAKER_STATE = Gauge(
    "gateway_circuit_breaker_open", "1 while the breaker of an upstream is open", ["upstream"],
    multiprocess_mode="max",
)  # fmt: skip

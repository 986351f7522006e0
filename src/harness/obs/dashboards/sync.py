"""The sync service's dashboard (the one sync dashboard): RED, pool, devices, propagation.

Cross-device propagation has a target of 100 ms (DESIGN §5), drawn on the propagation panel;
slow consumers are devices whose socket could not keep up and were dropped.
"""

from __future__ import annotations

from typing import Any

from harness.obs.dashboards import promql
from harness.obs.dashboards.common import Prom, Step, graph, single
from harness.obs.dashboards.red import service_board

PROPAGATION_TARGET_SECONDS = 0.1


def dashboard() -> dict[str, Any]:
    board = service_board(
        "sync",
        "Cross-device sync: request rate, errors and latency by route, database pool, connected "
        "devices, messages, propagation latency and slow consumers.",
    )
    propagation = "sync_propagation_seconds"
    board.row("Devices and propagation")
    board.add(
        single(
            "Connected devices",
            "Devices holding a sync WebSocket now (all workers).",
            "short",
            Prom(promql.gauge("sync_connected_devices"), "devices", instant=True),
            width=6,
            height=8,
        ),
        graph(
            "Connected devices over time",
            "Devices holding a sync WebSocket (all workers).",
            "short",
            Prom(promql.gauge("sync_connected_devices"), "devices"),
            width=18,
        ),
        graph(
            "Messages by direction and type",
            "Sync messages per second, inbound from devices and outbound to them, by type.",
            "mps",
            Prom(
                promql.rate("sync_messages_total", by="direction, type"),
                "{{direction}} {{type}}",
            ),
            stacked=True,
        ),
        graph(
            "Propagation latency p50 / p95 / p99",
            "Time from a change arriving to its delivery on the user's other devices; the line is "
            "the 100 ms target.",
            "s",
            Prom(promql.quantile(0.5, propagation), "p50"),
            Prom(promql.quantile(0.95, propagation), "p95"),
            Prom(promql.quantile(0.99, propagation), "p99"),
            steps=(Step(None, "green"), Step(PROPAGATION_TARGET_SECONDS, "red")),
        ),
        graph(
            "Slow consumers dropped",
            "Devices disconnected per second because their socket fell behind.",
            "ops",
            Prom(promql.rate("sync_slow_consumers_dropped_total"), "dropped"),
            steps=(Step(None, "green"), Step(0.01, "red")),
            width=24,
        ),
    )
    return board.model()

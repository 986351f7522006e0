"""The playback service's dashboard: RED, pool, sessions, heartbeats, progress, sync publishes.

Progress is written to the database and published to sync so other devices resume at the same
point; a publish failure means another device would resume at an older position.
"""

from __future__ import annotations

from typing import Any

from harness.obs.dashboards import promql
from harness.obs.dashboards.common import Prom, Step, graph, single
from harness.obs.dashboards.red import service_board


def dashboard() -> dict[str, Any]:
    board = service_board(
        "playback",
        "Playback sessions: request rate, errors and latency by route, database pool, active "
        "and started sessions, heartbeats, progress writes and sync publishes.",
    )
    board.row("Sessions and progress")
    board.add(
        single(
            "Active sessions",
            "Playback sessions open now (started, not stopped or expired).",
            "short",
            Prom(promql.gauge("playback_sessions_active"), "active", instant=True),
            width=6,
            height=8,
        ),
        graph(
            "Active sessions over time",
            "Playback sessions open (started, not stopped or expired).",
            "short",
            Prom(promql.gauge("playback_sessions_active"), "active"),
            width=9,
        ),
        graph(
            "Sessions started",
            "Playback sessions started per second.",
            "ops",
            Prom(promql.rate("playback_sessions_started_total"), "started"),
            width=9,
        ),
        graph(
            "Heartbeats by state",
            "Heartbeats accepted per second by player state.",
            "ops",
            Prom(promql.rate("playback_heartbeats_total", by="state"), "{{state}}"),
            stacked=True,
        ),
        graph(
            "Progress writes by trigger",
            "Progress rows written per second by what triggered the write.",
            "wps",
            Prom(promql.rate("playback_progress_writes_total", by="trigger"), "{{trigger}}"),
            stacked=True,
        ),
        graph(
            "Sync publishes and failures",
            "Progress operations published to sync per second, and publish failures by reason.",
            "ops",
            Prom(promql.rate("playback_sync_publishes_total"), "published"),
            Prom(
                promql.rate("playback_sync_publish_failures_total", by="reason"),
                "failed: {{reason}}",
            ),
            width=24,
            steps=(Step(None, "green"), Step(0.01, "red")),
        ),
    )
    return board.model()

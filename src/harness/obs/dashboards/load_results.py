"""Load results from InfluxDB: what the load engine (``harness.load.plugin``) wrote for a run.

What the engine writes, every point tagged with ``run_id``, ``profile``, ``preset``, ``git_sha``,
``branch`` and ``fingerprint``:

* ``requests`` (+ tag ``endpoint``), one point per endpoint per second: ``count``, ``failures``
  and, in milliseconds, ``p50`` ``p90`` ``p95`` ``p99`` ``max`` corrected for coordinated
  omission (from each request's intended start) and the same with ``_actual`` (from the send);
* ``run`` (+ tag ``stage``), one point per second: ``users``, ``target_rate``,
  ``achieved_rate`` (iterations started), ``dropped`` (iterations not started on time),
  ``requests``, ``failures``;
* ``events`` (+ tag ``kind``: start, stage, abort, stop …): ``text``;
* ``summary`` (+ tag ``endpoint``), once at the end: the whole run's figures, as ``requests``.

Per-second points make a rate ``sum(count)`` over a ``$__interval`` bucket divided by its
length; panels set a 1 s minimum interval so a bucket never splits a second. Percentiles cannot
be merged in InfluxQL: a bucket shows the worst second's percentile (``max``), exact at 1 s.
"""

from __future__ import annotations

from typing import Any

from harness.obs.dashboards.common import (
    Board,
    Choice,
    Influx,
    PanelBuilder,
    Step,
    datasource_ref,
    graph,
    grid,
    single,
)
from harness.obs.dashboards.influxql import InfluxQLAnnotation

RUN = """"run_id" = '$run_id'"""
ENDPOINTS = f"""{RUN} AND "endpoint" =~ /^$endpoint$/"""
PER_SECOND = "* 1000 / $__interval_ms"
"""Turns a bucket's sum of per-second counts into a per-second rate."""
BY_ENDPOINT = 'GROUP BY time($__interval), "endpoint" fill(null)'
BY_TIME = "GROUP BY time($__interval) fill(null)"
MIN_INTERVAL = "1s"


def _select(measurement: str, select: str, where: str, group: str) -> str:
    query = f'SELECT {select} FROM "{measurement}" WHERE {where} AND $timeFilter {group}'  # noqa: S608 — InfluxQL for a dashboard, from constants only
    return query.rstrip()


def _requests(select: str, group: str = BY_ENDPOINT) -> str:
    return _select("requests", select, ENDPOINTS, group)


def _run(select: str, group: str = BY_TIME) -> str:
    return _select("run", select, RUN, group)


def _latency(percentile: str) -> PanelBuilder:
    return graph(
        f"Latency {percentile} by endpoint",
        f"{percentile} response time per endpoint, corrected for coordinated omission (from "
        "each request's intended start) and actual (from the send); per bucket, the worst "
        "second.",
        "ms",
        Influx(
            _requests(
                f'max("{percentile}") AS "corrected", max("{percentile}_actual") AS "actual"'
            ),
            "$tag_endpoint $col",
        ),
        interval=MIN_INTERVAL,
    )


def dashboard() -> dict[str, Any]:
    # Longer than 80 lines on purpose: one panel after another, in the order the dashboard
    # shows them, so the code reads top to bottom like the board it draws.
    board = (
        Board(
            "mgh-load-results",
            "Media Gateway / Load results",
            "One load run from InfluxDB: throughput, latency percentiles (corrected and "
            "actual), errors, dropped iterations and users, with the run's events.",
            "influxdb",
            tags=("load",),
            time_from="now-1h",
            refresh="10s",
        )
        .choice(
            Choice(
                "run_id",
                "Run",
                'SHOW TAG VALUES FROM "run" WITH KEY = "run_id"',
                "Load runs in InfluxDB, newest first (ids start with their UTC start time)",
                multi=False,
                sort_desc=True,
            )
        )
        .choice(
            Choice(
                "endpoint",
                "Endpoint",
                f'SHOW TAG VALUES FROM "requests" WITH KEY = "endpoint" WHERE {RUN}',
                "Endpoints (METHOD /route/template) the selected run requested",
            )
        )
        .annotation(
            InfluxQLAnnotation(
                "Run events",
                f'SELECT "text", "kind" FROM "events" WHERE {RUN} AND $timeFilter',  # noqa: S608 — InfluxQL for a dashboard, from constants only
                datasource=datasource_ref("influxdb"),
                text_column="text",
                tags_column="kind",
            )
        )
    )
    board.row("Throughput")
    board.add(
        graph(
            "Requests per second by endpoint",
            "Requests completed per second, per endpoint.",
            "reqps",
            Influx(_requests(f'sum("count") {PER_SECOND} AS "rps"'), "$tag_endpoint"),
            interval=MIN_INTERVAL,
        ),
        graph(
            "Iterations: target and achieved",
            "Iterations per second the profile asked for (target) and the generator started "
            "(achieved); a gap means the generator or the system could not keep up.",
            "ops",
            Influx(
                _run('mean("target_rate") AS "target", mean("achieved_rate") AS "achieved"'), "$col"
            ),
            interval=MIN_INTERVAL,
        ),
        graph(
            "Users",
            "Simulated users running (Locust users; the arrival rate, not this, sets the load).",
            "short",
            Influx(_run('max("users") AS "users"'), "$col"),
            interval=MIN_INTERVAL,
        ),
        graph(
            "Dropped iterations",
            "Iterations per second the generator could not start on time (open model: they "
            "count against the run, see overall.dropped_rate in load/slo.yaml).",
            "ops",
            Influx(_run(f'sum("dropped") {PER_SECOND} AS "dropped"'), "$col"),
            steps=(Step(None, "green"), Step(1, "red")),
            interval=MIN_INTERVAL,
        ),
    )
    board.row("Latency")
    board.add(_latency("p50"), _latency("p95"), _latency("p99"))
    board.row("Errors")
    board.add(
        graph(
            "Failures per second by endpoint",
            "Failed requests per second, per endpoint.",
            "reqps",
            Influx(_requests(f'sum("failures") {PER_SECOND} AS "failures"'), "$tag_endpoint"),
            interval=MIN_INTERVAL,
        ),
        graph(
            "Error ratio by endpoint",
            "Failed requests as a share of requests, per endpoint (the SLO's error_rate).",
            "percentunit",
            Influx(_requests('sum("failures") / sum("count") AS "error ratio"'), "$tag_endpoint"),
            steps=(Step(None, "green"), Step(0.01, "red")),
            minimum=0,
            interval=MIN_INTERVAL,
        ),
        single(
            "Dropped iterations in range",
            "Iterations the generator could not start on time, over the dashboard's range.",
            "short",
            Influx(_run('sum("dropped") AS "dropped"', group="")),
            steps=(Step(None, "green"), Step(1, "red")),
            calc="sum",
        ),
        single(
            "Failed requests in range",
            "Failed requests over the dashboard's range, selected endpoints.",
            "short",
            Influx(_requests('sum("failures") AS "failures"', group="")),
            steps=(Step(None, "green"), Step(1, "red")),
            calc="sum",
        ),
    )
    board.row("Run summary")
    board.add(
        grid(
            "Run summary by endpoint",
            "The whole run's figures per endpoint from HDR histograms merged across workers, "
            "written once at the end (latencies in ms).",
            "ms",
            Influx(
                _select(
                    "summary",
                    'last("count") AS "requests", last("failures") AS "failures", '
                    'last("p50") AS "p50", last("p95") AS "p95", last("p99") AS "p99", '
                    'last("p95_actual") AS "p95 actual", last("p99_actual") AS "p99 actual", '
                    'last("max") AS "max"',
                    ENDPOINTS,
                    'GROUP BY "endpoint"',
                ),
                table=True,
            ),
            units={"requests": "short", "failures": "short"},
            width=24,
        ),
    )
    return board.model()

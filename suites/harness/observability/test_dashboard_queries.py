"""Every Grafana panel query, run as Grafana would run it, against the real Prometheus and
InfluxDB after a short load run.

Grafana is not installable here (DESIGN.md §3), so a panel is proved by its query. One
module-scoped setup: a Prometheus (1 s scrape and rule evaluation, ``alerting/rules/*.yml``
loaded) scraping the session stack as component ``all-in-one``; a ~30 s baseline load (smoke
preset, six test accounts) through the gateway writing to the session's InfluxDB; during it,
what the load mix lacks: one platform's feed re-ingested (scheduled work) and one user who
records interactions and logs out; then a wait until Prometheus has scraped after the run.

Then, one test per dashboard: each query-type variable answers, and every panel and annotation
query is sent with Grafana's variables substituted (``resolve``: multi-value variables *All*,
then, for the queries that use them, a concrete selection — the two busiest routes or topics,
two endpoints; ``$run_id`` the run's id) over the load window: Prometheus range queries with
the step Grafana would use (``$__interval``, at least the scrape interval), instant ones at the
window's end, InfluxQL over ``/query``. Each must answer without error and with data (a non-NaN
sample, a non-null field). The test prints a table: dashboard, panel, selection, result.

No data is accepted only when it is explained: some selector of the query selected nothing in
the window (no series at all, or a counter or histogram that never increased), and every such
silent selector is in ``EVENT_ONLY`` — the short list of series that only move on an event a
healthy run does not have (failures, fallbacks, retries, a catalogue change), each with its
reason. A silent selector that is not on the list fails the test, and so does a query that
returns nothing while every selector it uses has data (a broken expression).

The last test runs the alert-coverage report (``harness.obs.coverage``) over the same window.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest

from harness.accounts import Account, expect, login, register_verified
from harness.backends import Backend
from harness.load import profiles
from harness.load.influx import V1Sink
from harness.load.runinfo import new_run_id
from harness.load.runner import REPOSITORY, LoadRequest, Target, locust_command
from harness.obs import coverage
from harness.obs.dashboards import PanelQuery, Variable, builtins, queries, resolve, substitute
from harness.obs.prometheus import PrometheusQueryError, PrometheusServer, ScrapeTarget
from harness.obs.promql_expr import Matcher, Selector, selectors
from harness.obs.servers import wait_until
from harness.obs.slo_rules import RULES_DIR, alert_rules
from harness.seeding import ingest_feed
from harness.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.load, pytest.mark.slow]

SCRAPE_INTERVAL = 1.0
RUN_SECONDS = 30.0
PROFILE = "baseline"
POOL_SIZE = 6
"""Test accounts: few enough that each plays a whole session (start, 8 heartbeats, stop,
continue-watching) within 30 s, so the stop and continue-watching routes see traffic."""
REINGESTED_PLATFORM = "appletv"
"""The smallest seed feed, re-ingested during the load: a run in the window for the ingestion
panels (its unchanged titles send no Kafka events)."""
SELECTION_SIZE = 2


@dataclass(frozen=True)
class EventOnly:
    """A series that a healthy run may leave without samples or increments, and why."""

    name: str
    why: str
    matcher: Matcher | None = None
    """Only selectors carrying this matcher (``status=~"5.."``) are covered."""

    def covers(self, selector: Selector) -> bool:
        return selector.name == self.name and (
            self.matcher is None or self.matcher in selector.matchers
        )


_KAFKA_QUIET = (
    "Kafka events are written only when an ingestion run changes the catalogue (new or updated "
    "titles, availability); the seeded catalogue does not change during the run"
)
EVENT_ONLY: tuple[EventOnly, ...] = (
    EventOnly(
        "http_requests_total",
        "5xx answers: none in a healthy run (the 5xx ratio panels are empty rather than 0)",
        Matcher("status", "=~", "5.."),
    ),
    EventOnly("search_rerank_fallback_total", "SONA re-rank failed or timed out for a search"),
    EventOnly("playback_sync_publish_failures_total", "a playback position failed to reach sync"),
    EventOnly("ingestion_unknown_genres_total", "a feed item's genre is not in the genre map"),
    EventOnly("kafka_events_failed_total", "a Kafka delivery failed"),
    EventOnly("kafka_produce_retries_total", "a Kafka produce was retried"),
    EventOnly("kafka_events_sent_total", _KAFKA_QUIET),
    EventOnly("kafka_events_delivered_total", _KAFKA_QUIET),
    EventOnly("kafka_delivery_latency_seconds_bucket", _KAFKA_QUIET),
    EventOnly(
        "gateway_circuit_breaker_open",
        "set when the gateway calls an upstream over HTTP (per-service mode); the all-in-one "
        "process calls its services in-process, with no breakers",
    ),
)
"""Series a healthy all-in-one run may leave silent. Short on purpose: each entry excuses a
panel only while the series really selected nothing (see ``ObservedRun.silent``)."""


Result = Literal["data", "event-only-no-data", "no data", "error"]


@dataclass(frozen=True)
class Row:
    dashboard: str
    panel: str
    ref_id: str
    selection: str
    result: Result
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.result in ("data", "event-only-no-data")


@dataclass
class ObservedRun:
    """The load run as Prometheus and InfluxDB saw it."""

    prometheus: PrometheusServer
    influx: V1Sink
    run_id: str
    start: float
    end: float
    timings: dict[str, float]
    _silent: dict[str, str | None] = field(default_factory=dict)

    @property
    def window(self) -> str:
        """The whole window as a PromQL range."""
        return f"{math.ceil(self.end - self.start)}s"

    def silent(self, selector: Selector) -> str | None:
        """Why ``selector`` selected nothing in the window (None when it did)."""
        if selector.text not in self._silent:
            self._silent[selector.text] = self._why_silent(selector)
        return self._silent[selector.text]

    def _why_silent(self, selector: Selector) -> str | None:
        ranged = f"{selector.text}[{self.window}]"
        if not self.prometheus.query(f"count(count_over_time({ranged}))", self.end):
            return "no series"
        cumulative = ("_total", "_bucket", "_count", "_sum")
        if selector.name and selector.name.endswith(cumulative):
            increase = self.prometheus.query_value(f"sum(increase({ranged}))", self.end)
            if increase == 0:
                return "never increased"
        return None


# --- the run -------------------------------------------------------------------------------------


def _target(stack: Stack) -> Target:
    mailbox = str(stack.mailbox.directory) if stack.mailbox else None
    return Target(stack.base_url, mailbox, "all-in-one" if stack.launched else "external", 1)


def _last_scrape(prometheus: PrometheusServer) -> float:
    return prometheus.query_value('max(timestamp(up{job="mediagw"}))') or 0.0


def _background_work(stack: Stack, admin: Account) -> None:
    """During the load: what the load mix does not do, the way users and operators do it.

    An ingestion run of one feed (scheduled work), and one user who records interactions with
    a title and logs out (the mix has neither: SONA's interaction counter and the token-family
    revocation counter would otherwise have no series).
    """
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        result = ingest_feed(client, admin, REINGESTED_PLATFORM, timeout=120)
        if result.status != "succeeded":
            raise RuntimeError(f"re-ingesting {REINGESTED_PLATFORM}: {result.counts}")
        assert stack.mailbox is not None, "the interactions need a user: the stack's mailbox"
        user = login(client, register_verified(client, stack.mailbox))
        found = expect(client.get("/api/v1/search", params={"q": "space adventure"}), 200)
        title = found.json()["items"][0]["id"]
        for kind, value in (("view", 0.5), ("rate", 4.0), ("watchlist_add", None)):
            body = {"content_id": title, "kind": kind, "value": value}
            expect(client.post("/api/v1/interactions", json=body, headers=user.headers), 202)
        expect(client.post("/api/v1/auth/logout", headers=user.headers), 204)


@pytest.fixture(scope="module")
def observed(
    stack: Stack,
    admin_account: Account,
    influxdb_backend: Backend,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ObservedRun]:
    began = time.monotonic()
    timings: dict[str, float] = {}
    prometheus = PrometheusServer(
        [ScrapeTarget(f"{stack.base_url}/metrics", "all-in-one")],
        interval=SCRAPE_INTERVAL,
        rule_files=sorted(RULES_DIR.glob("*.yml")),
    )
    influx = V1Sink(influxdb_backend.url)
    try:
        prometheus.start()
        wait_until(lambda: _last_scrape(prometheus), 30, "the first scrape of the stack")
        timings["first scrape"] = time.monotonic() - began
        nominal = profiles.load(PROFILE).duration
        request = LoadRequest(
            profile=PROFILE,
            preset="smoke",
            time_scale=RUN_SECONDS / nominal,
            pool_size=POOL_SIZE,
            results_dir=tmp_path_factory.mktemp("runs"),
        )
        run_id = new_run_id(PROFILE, request.preset)
        argv = locust_command(request, _target(stack), influxdb_backend.url, run_id)
        # The window opens before Locust prepares its users: registrations and logins are
        # traffic too (the password-hashing panel sees nothing else).
        start = time.time()
        load = subprocess.Popen(
            argv, cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        try:
            with ThreadPoolExecutor(1) as background:
                extra = background.submit(_background_work, stack, admin_account)
                output, _ = load.communicate(timeout=240)
                extra.result(timeout=120)
        finally:
            if load.poll() is None:
                load.kill()
                load.wait()
        timings["load run"] = time.monotonic() - began
        assert load.returncode in (0, 1, 2), output[-4000:]  # 1/2: SLO verdicts, not failures
        path = request.results_dir / run_id / "results.json"
        assert path.exists(), f"no results file\n{output[-4000:]}"
        assert json.loads(path.read_text(encoding="utf-8"))["run_id"] == run_id
        finished = time.time()
        wait_until(
            lambda: _last_scrape(prometheus) > finished + SCRAPE_INTERVAL,
            15,
            "a scrape after the run",
        )
        timings["scraped after"] = time.monotonic() - began
        yield ObservedRun(
            prometheus,
            influx,
            run_id,
            start=start,
            end=time.time(),
            timings=timings,
        )
    finally:
        prometheus.stop()
        influx.close()


# --- executing queries ---------------------------------------------------------------------------


def _step(run: ObservedRun) -> float:
    """Grafana's step: ``$__interval``, at least the datasource's scrape interval."""
    interval = builtins(run.start, run.end, kind="prometheus")["__interval_ms"]
    return max(int(interval) / 1000, SCRAPE_INTERVAL)


def _is_number(value: Any) -> bool:
    try:
        return not math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def _run_prometheus(
    run: ObservedRun, query: PanelQuery, selection: str, values: Mapping[str, Any]
) -> Row:
    text = resolve(query, run.start, run.end, values, scrape_interval=SCRAPE_INTERVAL)
    row = Row(query.dashboard, query.panel_title, query.ref_id, selection, "data")
    try:
        if query.instant:
            samples = [s["value"][1] for s in run.prometheus.query(text, run.end)]
        else:
            series = run.prometheus.query_range(text, run.start, run.end, _step(run))
            samples = [v[1] for s in series for v in s["values"]]
    except PrometheusQueryError as exc:
        return replace(row, result="error", detail=f"{exc}")
    if any(_is_number(v) for v in samples):
        return row
    silent = {s.text: why for s in selectors(text).needed if (why := run.silent(s)) is not None}
    if not silent:
        return replace(
            row, result="no data", detail=f"every selector has data, the query has none: {text}"
        )
    unlisted = [
        f"{s.text} ({why})"
        for s in selectors(text).needed
        if (why := silent.get(s.text)) and not any(e.covers(s) for e in EVENT_ONLY)
    ]
    if unlisted:
        return replace(
            row, result="no data", detail="silent, not event-only: " + "; ".join(unlisted)
        )
    return replace(
        row, result="event-only-no-data", detail="; ".join(f"{k} ({v})" for k, v in silent.items())
    )


def _influxql(run: ObservedRun, text: str) -> dict[str, Any]:
    response = run.influx.client.get(
        f"{run.influx.server}/query", params={"db": run.influx.database, "q": text, "epoch": "ms"}
    )
    response.raise_for_status()
    result: dict[str, Any] = response.json()["results"][0]
    return result


def _run_influx(
    run: ObservedRun, query: PanelQuery, selection: str, values: Mapping[str, Any]
) -> Row:
    text = resolve(query, run.start, run.end, values)
    row = Row(query.dashboard, query.panel_title, query.ref_id, selection, "data")
    result = _influxql(run, text)
    if "error" in result:
        return replace(row, result="error", detail=f"{result['error']}: {text}")
    filled = [
        value
        for series in result.get("series", [])
        for values_row in series["values"]
        for value in values_row[1:]  # column 0 is the time
        if value is not None
    ]
    return row if filled else replace(row, result="no data", detail=text)


# --- variables -----------------------------------------------------------------------------------

_LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>[A-Za-z_]\w*)\)$")


def _prometheus_variable(run: ObservedRun, variable: Variable) -> list[str]:
    """What Grafana offers for ``label_values(selector, label)`` over the window."""
    found = _LABEL_VALUES.match(variable.query)
    assert found, f"{variable.name}: not label_values(…): {variable.query}"
    response = run.prometheus.http.get(
        f"/api/v1/label/{found['label']}/values",
        params={"match[]": found["selector"], "start": run.start, "end": run.end},
    )
    response.raise_for_status()
    return list(response.json()["data"])


def _busiest(run: ObservedRun, variable: Variable, offered: Sequence[str]) -> list[str]:
    """The ``SELECTION_SIZE`` values of ``variable`` with the most increase in the window."""
    found = _LABEL_VALUES.match(variable.query)
    assert found
    ranked = run.prometheus.query(
        f"sort_desc(sum by ({found['label']}) (increase({found['selector']}[{run.window}])))",
        run.end,
    )
    busiest = [
        s["metric"][found["label"]]
        for s in ranked
        if float(s["value"][1]) > 0 and s["metric"].get(found["label"]) in offered
    ]
    # Padded with other offered values, so the selection is a real alternation ``(a|b)``.
    busiest += [value for value in offered if value not in busiest]
    return busiest[:SELECTION_SIZE]


def _influx_variable(run: ObservedRun, variable: Variable) -> list[str]:
    text = substitute(variable.query, {"run_id": run.run_id}, "influxdb")
    result = _influxql(run, text)
    assert "error" not in result, f"{variable.name}: {result['error']}"
    return [row[1] for series in result.get("series", []) for row in series["values"]]


@dataclass(frozen=True)
class Selection:
    name: str
    """``All``, or ``concrete`` (the printed table's selection column)."""
    values: dict[str, Any]
    concrete: frozenset[str] = frozenset()
    """Variables given concrete values; only queries using one of them are run again."""

    def describe(self) -> str:
        chosen = {k: v for k, v in self.values.items() if k in self.concrete}
        return ", ".join(f"{k}={'|'.join(v)}" for k, v in chosen.items()) or "All"


def _selections(run: ObservedRun, dashboard: str, variables: Sequence[Variable]) -> list[Selection]:
    """*All* first, then one concrete selection of every multi-value variable; each variable's
    own query must offer something (and ``$run_id`` the run's id)."""
    fixed: dict[str, Any] = {}
    concrete: dict[str, Any] = {}
    for variable in variables:
        if variable.type != "query":
            continue
        if variable.query.startswith("label_values("):
            offered = _prometheus_variable(run, variable)
            assert offered, f"{dashboard}: variable {variable.name} offers nothing"
            concrete[variable.name] = _busiest(run, variable, offered)
        else:
            offered = _influx_variable(run, variable)
            assert offered, f"{dashboard}: variable {variable.name} offers nothing"
            if variable.name == "run_id":
                assert run.run_id in offered, (run.run_id, offered)
                fixed["run_id"] = run.run_id
            else:
                concrete[variable.name] = offered[:SELECTION_SIZE]
    chosen = [Selection("All", dict(fixed))]
    if concrete:
        chosen.append(Selection("concrete", {**fixed, **concrete}, frozenset(concrete)))
    return chosen


# --- the tests -----------------------------------------------------------------------------------

ALL_QUERIES = queries()
DASHBOARDS = sorted({q.dashboard for q in ALL_QUERIES})


def _table(rows: Sequence[Row]) -> str:
    width = max(len(r.panel) + len(r.ref_id) + 3 for r in rows)
    lines = [f"{'dashboard':<22} {'panel':<{width}} {'selection':<9} result"]
    for r in rows:
        panel = f"{r.panel} [{r.ref_id}]"
        detail = f"  ({r.detail})" if r.detail and r.result != "data" else ""
        lines.append(f"{r.dashboard:<22} {panel:<{width}} {r.selection:<9} {r.result}{detail}")
    return "\n".join(lines)


@pytest.mark.parametrize("dashboard", DASHBOARDS)
def test_every_panel_query_answers_with_data(dashboard: str, observed: ObservedRun) -> None:
    own = [q for q in ALL_QUERIES if q.dashboard == dashboard]
    rows = []
    print(f"\nrun {observed.run_id}; setup timings (s): {observed.timings}")
    for selection in _selections(observed, dashboard, own[0].variables):
        print(f"selection {selection.name}: {selection.describe()}")
        for query in own:
            if selection.concrete and not selection.concrete & set(query.used_variables):
                continue  # the same query as with All
            run = _run_prometheus if query.datasource_kind == "prometheus" else _run_influx
            rows.append(run(observed, query, selection.name, selection.values))
    print(_table(rows))
    failed = [r for r in rows if not r.passed]
    assert not failed, "\n" + _table(failed)


def test_the_allowlist_names_only_series_some_panel_uses() -> None:
    """An ``EVENT_ONLY`` entry no panel selects would excuse nothing; it is stale."""
    used = {
        s.name
        for q in ALL_QUERIES
        if q.datasource_kind == "prometheus"
        for s in selectors(resolve(q, 0, 3600, scrape_interval=SCRAPE_INTERVAL)).needed
    }
    assert {e.name for e in EVENT_ONLY} <= used


def test_alert_coverage_after_the_load(observed: ObservedRun, tmp_path: Path) -> None:
    """The coverage report on the committed rules and a real scrape (sharing this module's
    run): every rule was loaded, none needs a series that exists nowhere."""
    rule_files = sorted(RULES_DIR.glob("*.yml"))
    report = coverage.coverage(observed.prometheus, rule_files, observed.start, observed.end)
    print("\n" + coverage.render_console(report))
    markdown, _ = coverage.write(report, observed.start, observed.end, tmp_path)
    assert len(report) == len(alert_rules(rule_files))
    assert not [r.identity for r in report if r.state == "can-never-fire"]
    assert not [(r.identity, r.notes) for r in report if any("not loaded" in n for n in r.notes)]
    assert not [(r.identity, r.notes) for r in report if any("misspelt" in n for n in r.notes)]
    assert markdown.read_text(encoding="utf-8").count("\n| `") == len(report)

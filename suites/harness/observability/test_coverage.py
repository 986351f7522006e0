"""The alert-coverage report: against a real Prometheus evaluating a tiny rules file, each rule
lands in the class it was built for (fired, pending-only, quiet, can-never-fire), same-named
rules are told apart by their labels, a rule the server did not load says so, and the report
renders as markdown, JSON and a console table. The PromQL reading it rests on is checked on its
own: selectors, ``absent()``, ``or`` / ``unless``, and every committed rule and dashboard query.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.obs import coverage as cov
from harness.obs.dashboards import queries, resolve
from harness.obs.prometheus import PrometheusServer
from harness.obs.promql_expr import PromQLSyntaxError, can_produce, parse, selectors
from harness.obs.servers import wait_until
from harness.obs.slo_rules import RULES_DIR, alert_rules

PrometheusFactory = Callable[..., PrometheusServer]
NO_SUCH = "mgh_coverage_no_such_metric_total"

RULES = f"""
groups:
  - name: coverage-test
    rules:
      - record: test:nothing:rate5m
        expr: sum(rate({NO_SUCH}[5m]))
      - alert: AlwaysFiring
        expr: vector(1)
        labels: {{severity: P3, service: test}}
      - alert: Twin
        expr: vector(1)
        labels: {{severity: P2, service: test}}
      - alert: Twin
        expr: vector(1) < 0
        labels: {{severity: P3, service: test}}
      - alert: StaysPending
        expr: vector(1)
        for: 10m
        labels: {{severity: P3, service: test}}
      - alert: QuietButPossible
        # catalogued, so a deployment can make it true; this Prometheus scrapes nothing.
        expr: sum(rate(http_requests_total{{status="599"}}[1m])) > 0
        labels: {{severity: P3, service: test}}
      - alert: NeedsAMetricNobodyHas
        expr: {NO_SUCH} > 0
        labels: {{severity: P2, service: test}}
      - alert: NeedsItThroughARecordingRule
        expr: test:nothing:rate5m > 0
        labels: {{severity: P2, service: test}}
      - alert: HasAFallback
        expr: {NO_SUCH} > 0 or sum(up) < 0
        labels: {{severity: P3, service: test}}
      - alert: AbsentOfAMisspeltName
        expr: absent({NO_SUCH})
        labels: {{severity: P3, service: "{{{{ $labels.job }}}}"}}
"""

EXPECTED = {
    "AlwaysFiring": "fired",
    "Twin{severity=P2}": "fired",
    "Twin{severity=P3}": "quiet",
    "StaysPending": "pending-only",
    "QuietButPossible": "quiet",
    "NeedsAMetricNobodyHas": "can-never-fire",
    "NeedsItThroughARecordingRule": "can-never-fire",
    "HasAFallback": "quiet",
    "AbsentOfAMisspeltName": "fired",
    "NotLoaded": "quiet",
}


def _wait_for_alerts_series(server: PrometheusServer) -> None:
    """Until the ALERTS series the report reads are queryable. Measured: at start-up they lag
    the rule states of ``/api/v1/alerts`` by one to two seconds."""

    def written() -> bool:
        states = {
            (s["metric"]["alertname"], s["metric"]["alertstate"]) for s in server.query("ALERTS")
        }
        return {("AlwaysFiring", "firing"), ("StaysPending", "pending")} <= states

    wait_until(written, 20, "the test rules' ALERTS series")


@pytest.mark.integration
def test_each_rule_lands_in_its_class_against_a_real_prometheus(
    prometheus_factory: PrometheusFactory, tmp_path: Path
) -> None:
    rules = tmp_path / "coverage.yml"
    rules.write_text(RULES, encoding="utf-8")
    unloaded = tmp_path / "unloaded.yml"
    unloaded.write_text(
        "groups:\n  - name: elsewhere\n    rules:\n      - alert: NotLoaded\n"
        "        expr: vector(1)\n        labels: {severity: P3, service: test}\n",
        encoding="utf-8",
    )
    start = time.time()
    server: PrometheusServer = prometheus_factory(interval=1.0, rule_files=[rules])

    _wait_for_alerts_series(server)
    end = time.time()
    report = cov.coverage(server, [rules, unloaded], start, end)

    got = {row.identity: row.state for row in report}
    assert got == EXPECTED
    rows = {row.identity: row for row in report}
    assert rows["NeedsAMetricNobodyHas"].missing == (NO_SUCH,)
    assert rows["NeedsItThroughARecordingRule"].needs == ("test:nothing:rate5m",)
    assert rows["NeedsItThroughARecordingRule"].missing == (NO_SUCH,)
    assert rows["HasAFallback"].missing == (NO_SUCH,)  # missing, yet the other branch can fire
    assert rows["QuietButPossible"].missing == ()
    assert rows["AlwaysFiring"].firing_series == 1
    assert rows["StaysPending"].pending_series == 1
    assert rows["StaysPending"].firing_series == 0
    assert any("misspelt" in note for note in rows["AbsentOfAMisspeltName"].notes)
    assert rows["AbsentOfAMisspeltName"].labels == {"severity": "P3"}  # templated one left out
    assert rows["AbsentOfAMisspeltName"].templated == ("service",)
    assert any("not loaded" in note for note in rows["NotLoaded"].notes)
    assert not any("not loaded" in note for note in rows["AlwaysFiring"].notes)

    markdown, data = cov.write(report, start, end, tmp_path / "out")
    assert (markdown.name, data.name) == ("alert-coverage.md", "alert-coverage.json")
    text = markdown.read_text(encoding="utf-8")
    assert "| can-never-fire | 2 |" in text
    assert "| fired | 3 |" in text
    assert f"`{NO_SUCH}`" in text
    body = json.loads(data.read_text(encoding="utf-8"))
    assert body["counts"] == {"fired": 3, "pending-only": 1, "quiet": 4, "can-never-fire": 2}
    assert {a["identity"]: a["state"] for a in body["alerts"]} == EXPECTED
    assert body["window"] == {"start": start, "end": end}
    console = cov.render_console(report)
    print(console)
    assert console.splitlines()[-1] == "3 fired, 1 pending-only, 4 quiet, 2 can-never-fire"
    assert console.index("fired") < console.index("can-never-fire")


@pytest.mark.integration
def test_a_window_before_anything_fired_reports_nothing_fired(
    prometheus_factory: PrometheusFactory, tmp_path: Path
) -> None:
    """The window bounds the answer: the same server, asked about a moment before the first
    evaluation, has no firing rule."""
    rules = tmp_path / "coverage.yml"
    rules.write_text(RULES, encoding="utf-8")
    server: PrometheusServer = prometheus_factory(interval=1.0, rule_files=[rules])
    _wait_for_alerts_series(server)
    before = time.time() - 120
    report = cov.coverage(server.url, [rules], before, before + 60)
    assert {row.state for row in report} == {"quiet", "can-never-fire"}


# --- the committed rules -------------------------------------------------------------------------


@pytest.mark.unit
def test_every_committed_alert_can_fire_by_the_catalogue_alone() -> None:
    """No committed rule needs a name that is neither catalogued nor recorded, and each one is
    read by the parser (a rule the parser cannot read would be reported unanalysed)."""
    files = sorted(RULES_DIR.glob("*.yml"))
    analysed = cov.analyse(files)
    assert len(analysed) == len(alert_rules(files)) > 0
    for rule, analysis in analysed:
        assert not analysis.missing, (rule.name, rule.labels, analysis.missing)
        assert analysis.possible, (rule.name, rule.labels)
        assert analysis.needs or "absent" in rule.expr, rule.name
        assert not any("not analysed" in note for note in analysis.notes), analysis.notes


@pytest.mark.unit
def test_every_committed_alert_has_a_name_of_its_own_in_the_report() -> None:
    rules = alert_rules(sorted(RULES_DIR.glob("*.yml")))
    names = cov.identities(rules)
    assert len(set(names)) == len(rules), sorted(n for n in names if names.count(n) > 1)
    assert "ServiceDown{severity=P0}" in names  # told apart by severity alone


@pytest.mark.unit
def test_an_empty_catalogue_makes_metric_alerts_impossible_but_not_absent_or_up_ones() -> None:
    files = sorted(RULES_DIR.glob("*.yml"))
    for rule, analysis in cov.analyse(files, catalogue_names=()):
        if "absent" in rule.expr:
            assert analysis.possible, rule.name
        elif analysis.needs == ("up",):
            assert analysis.possible, rule.name  # Prometheus writes `up` itself
        else:
            assert not analysis.possible, rule.name
            assert analysis.missing, rule.name


# --- PromQL reading ------------------------------------------------------------------------------


@pytest.mark.unit
def test_selectors_leave_out_functions_keywords_labels_strings_and_ranges() -> None:
    expr = (
        'sum by (le, route) (rate(http_request_duration_seconds_bucket{route=~"/a/{id}|(b)",'
        ' method!="GET"}[5m] offset 1m @ 1700000000)) / on (route) group_left (service) '
        'max without (instance) (label_replace(up, "x", "$1", "job", "(.*)")) '
        'and bool count_values("le", {__name__="db_pool_max_connections"}) '
        "unless max_over_time((sync_connected_devices > 0)[10m:1m]) # a comment\n"
        "or -avg(sum) ^ 2 > Inf"
    )
    refs = selectors(expr)
    assert refs.names() == {
        "http_request_duration_seconds_bucket",
        "up",
        "db_pool_max_connections",
        "sync_connected_devices",
        "sum",  # a metric named like an aggregation, when not followed by ( or by/without
    }
    assert refs.absence_names() == set()
    bucket = next(s for s in refs.needed if s.name == "http_request_duration_seconds_bucket")
    assert [(m.label, m.op, m.value) for m in bucket.matchers] == [
        ("route", "=~", "/a/{id}|(b)"),
        ("method", "!=", "GET"),
    ]
    assert bucket.text == (
        'http_request_duration_seconds_bucket{route=~"/a/{id}|(b)", method!="GET"}'
    )


@pytest.mark.unit
def test_absence_functions_test_for_missing_series() -> None:
    refs = selectors('absent_over_time(a{x="1"}[10m]) or absent(b) and c')
    assert refs.absence_names() == {"a", "b"}
    assert refs.names() == {"c"}


@pytest.mark.unit
@pytest.mark.parametrize(
    ("expr", "missing", "possible"),
    [
        ("x > 0", {"x"}, False),
        ("x > 0 or vector(1)", {"x"}, True),
        ("(sum(rate(x[5m])) or vector(0)) / sum(rate(y[5m]))", {"x"}, True),
        ("(sum(rate(x[5m])) or vector(0)) / sum(rate(y[5m]))", {"y"}, False),
        ("y unless x", {"x"}, True),
        ("x unless y", {"x"}, False),
        ("x and y", {"y"}, False),
        ("absent(x)", {"x"}, True),
        ("absent_over_time(x[5m]) and y", {"x", "y"}, False),
        ("histogram_quantile(0.95, sum by (le) (rate(x_bucket[5m]))) > 0.1", {"x_bucket"}, False),
        ("time() > 0", {"x"}, True),
        ("scalar(x) > 1", {"x"}, False),
        ('{__name__=~"x|y"} > 0', {"x", "y"}, True),  # a regex name cannot be ruled out
    ],
)
def test_can_produce_follows_the_operators(expr: str, missing: set[str], possible: bool) -> None:
    assert can_produce(expr, lambda s: s.name not in missing) is possible


@pytest.mark.unit
@pytest.mark.parametrize("expr", ["sum(", "x{a=1}", "x{a=}", "x[5m", "rate(x[5m]) ]", "a $ b"])
def test_unreadable_expressions_raise(expr: str) -> None:
    with pytest.raises(PromQLSyntaxError):
        parse(expr)


@pytest.mark.unit
def test_every_dashboard_query_is_read() -> None:
    """The dashboard query test finds selectors with the same parser."""
    read = 0
    for query in queries():
        if query.datasource_kind == "prometheus":
            text = resolve(query, 0, 3600, {"route": [r"/api/v1/content/{content_id}"]})
            assert selectors(text).needed, (query.dashboard, query.panel_title, text)
            read += 1
    assert read > 200


@pytest.mark.unit
def test_recording_rules_are_followed_by_their_labels(tmp_path: Path) -> None:
    """A recording rule with several definitions: only those whose static labels fit the
    selector count (``slo="a"`` is fed by ``x``, ``slo="b"`` by a missing name)."""
    rules = tmp_path / "r.yml"
    rules.write_text(
        """
groups:
  - name: g
    rules:
      - {record: "r:ratio", expr: sum(x), labels: {slo: a}}
      - {record: "r:ratio", expr: sum(gone), labels: {slo: b}}
      - {alert: A, expr: 'r:ratio{slo="a"} > 1', labels: {severity: P3}}
      - {alert: B, expr: 'r:ratio{slo="b"} > 1', labels: {severity: P3}}
      - {alert: C, expr: 'r:ratio{slo=~"a|b"} > 1', labels: {severity: P3}}
""",
        encoding="utf-8",
    )
    result = {rule.name: a for rule, a in cov.analyse([rules], catalogue_names={"x"})}
    assert (result["A"].possible, result["A"].missing) == (True, ())
    assert (result["B"].possible, result["B"].missing) == (False, ("gone",))
    assert (result["C"].possible, result["C"].missing) == (True, ("gone",))

"""The Grafana dashboards: committed JSON equals the generator's, the lint rules hold (and
catch what they name), every PromQL expression parses with the real ``promtool``, every
InfluxQL query answers from a real InfluxDB holding points shaped as the load engine writes
them, and the provisioning files match Grafana's documented schema and the dashboards' uids.

Grafana itself is not installable here; executing the PromQL against a Prometheus that scraped
a load run is the lead's end-to-end test (``harness.obs.dashboards.queries()``).
"""

from __future__ import annotations

import contextlib
import copy
import re
import secrets
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from harness.backends.base import Backend
from harness.backends.influxdb import server_url
from harness.load.influx import V1Sink, line
from harness.load.stats import Series
from harness.obs import slo_spec
from harness.obs.dashboards import (
    FIXED_WINDOWS,
    REGENERATE,
    builtins,
    drift,
    generate,
    provisioning,
    queries,
    resolve,
    substitute,
    write,
)
from harness.obs.dashboards import lint as dashboard_lint
from harness.obs.dashboards.known_metrics import known_metrics
from harness.obs.dashboards.queries import panels_of, queries_of
from harness.obs.dashboards.slo import slo_dashboard

pytestmark = pytest.mark.integration

REPOSITORY = Path(__file__).resolve().parents[3]
SERVICES = ("gateway", "auth", "discovery", "sona", "sync", "playback", "ingestion")
Model = dict[str, Any]


@pytest.fixture(scope="module")
def models() -> dict[str, Model]:
    return generate()


def _by_uid(models: dict[str, Model], uid: str) -> Model:
    return copy.deepcopy(models[f"{uid}.json"])


# --- generation ---------------------------------------------------------------------------


def test_committed_files_match_the_generator() -> None:
    problems = drift(REPOSITORY)
    assert not problems, f"regenerate with `{REGENERATE}`:\n" + "\n".join(problems)


def test_write_creates_every_file_and_removes_dashboards_no_longer_generated(
    tmp_path: Path,
) -> None:
    stale = tmp_path / "dashboards" / "mgh-removed.json"
    stale.parent.mkdir()
    stale.write_text("{}\n", encoding="utf-8")
    assert drift(tmp_path) != []

    written = write(tmp_path)

    assert not stale.exists()
    assert drift(tmp_path) == []
    assert {p.relative_to(tmp_path / "dashboards").as_posix() for p in written} >= {
        provisioning.DATASOURCES_FILE,
        provisioning.DASHBOARDS_FILE,
    }
    assert all(
        p.read_text(encoding="utf-8").endswith("}\n") for p in written if p.suffix == ".json"
    )


def test_the_expected_dashboards_are_generated(models: dict[str, Model]) -> None:
    expected = {
        "mgh-overview",
        "mgh-kafka",
        "mgh-slo",
        "mgh-load-results",
        *(f"mgh-service-{s}" for s in SERVICES),
    }
    assert {model["uid"] for model in models.values()} == expected
    assert set(models) == {f"{uid}.json" for uid in expected}


@pytest.mark.parametrize("service", SERVICES)
def test_service_dashboards_show_red_by_route_for_their_service(
    models: dict[str, Model], service: str
) -> None:
    model = models[f"mgh-service-{service}.json"]
    variables = {v["name"]: v for v in model["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["route"]["query"] == (
        f'label_values(http_requests_total{{service="{service}"}}, route)'
    )
    red = [q.expr for q in queries_of(model) if "http_request" in q.expr]
    assert red, "no RED query"
    assert all(f'service="{service}"' in expr for expr in red)
    assert any('route=~"$route"' in expr for expr in red)


def test_slo_dashboard_has_a_row_per_objective_reading_its_sli(models: dict[str, Model]) -> None:
    objectives = slo_spec.load().objectives
    model = models["mgh-slo.json"]
    rows = [p["title"] for p in model["panels"] if p["type"] == "row"]
    assert rows == [f"{o.name}: {o.what()}" for o in objectives]
    exprs = {q.panel_title: " ".join(q.expr.split()) for q in queries_of(model)}
    for objective in objectives:
        sli = " ".join(objective.error_ratio("30d").split())
        assert sli in exprs[f"{objective.name}: SLI over 30d"]
        assert str(slo_spec.number(objective.budget)) in exprs[f"{objective.name}: burn rate"]


def test_slo_dashboard_takes_any_list_of_objectives() -> None:
    one = slo_spec.load().objectives[:1]
    model = slo_dashboard(one)
    assert [p["title"] for p in model["panels"] if p["type"] == "row"] == [
        f"{one[0].name}: {one[0].what()}"
    ]


# --- lint --------------------------------------------------------------------------------------


def test_every_dashboard_passes_the_lint(models: dict[str, Model]) -> None:
    problems = dashboard_lint.lint(list(models.values()), known_metrics(), FIXED_WINDOWS)
    assert problems == []


def _first_panel(model: Model) -> Model:
    return next(p for p in model["panels"] if p["type"] != "row")


def _duplicate_uid(models: dict[str, Model]) -> list[Model]:
    first, second = _by_uid(models, "mgh-overview"), _by_uid(models, "mgh-kafka")
    second["uid"] = first["uid"]
    return [first, second]


def _duplicate_title(models: dict[str, Model]) -> list[Model]:
    first, second = _by_uid(models, "mgh-overview"), _by_uid(models, "mgh-kafka")
    second["title"] = first["title"]
    return [first, second]


def _mutated(change: Callable[[Model], None], uid: str = "mgh-kafka") -> Callable[..., list[Model]]:
    def make(models: dict[str, Model]) -> list[Model]:
        model = _by_uid(models, uid)
        change(model)
        return [model]

    return make


def _panels(model: Model) -> list[Model]:
    return list(panels_of(model))


def _set_target(model: Model, key: str, value: str, uid_kind: str = "prometheus") -> None:
    panel = next(p for p in _panels(model) if p["datasource"]["type"] == uid_kind)
    panel["targets"][0][key] = value


LINT_CASES: dict[str, tuple[Callable[..., list[Model]], str]] = {
    "duplicate dashboard uid": (_duplicate_uid, "dashboard uid 'mgh-overview' used 2 times"),
    "duplicate dashboard title": (_duplicate_title, "dashboard title"),
    "duplicate panel id": (
        _mutated(lambda m: _panels(m)[1].update(id=_panels(m)[0]["id"])),
        "panel id",
    ),
    "duplicate panel title": (
        _mutated(lambda m: _panels(m)[1].update(title=_panels(m)[0]["title"])),
        "panel title",
    ),
    "fixed panel datasource": (
        _mutated(lambda m: _first_panel(m).update(datasource={"type": "prometheus", "uid": "p1"})),
        "datasource is not the ${datasource} variable",
    ),
    "fixed query datasource": (
        _mutated(
            lambda m: _first_panel(m)["targets"][0].update(
                datasource={"type": "prometheus", "uid": "p1"}
            )
        ),
        "query A: datasource not ${datasource}",
    ),
    "overlapping panels": (
        _mutated(lambda m: _panels(m)[1].update(gridPos=dict(_panels(m)[0]["gridPos"]))),
        "overlaps",
    ),
    "panel off the grid": (
        _mutated(lambda m: _panels(m)[0]["gridPos"].update(x=20, w=12)),
        "outside the grid",
    ),
    "no unit": (
        _mutated(lambda m: _first_panel(m)["fieldConfig"]["defaults"].pop("unit")),
        "no unit",
    ),
    "no description": (
        _mutated(lambda m: _first_panel(m).update(description=" ")),
        "no description",
    ),
    "rate over a fixed window": (
        _mutated(lambda m: _set_target(m, "expr", "sum(rate(kafka_events_sent_total[5m]))")),
        "range [5m] is not [$__rate_interval]",
    ),
    "SLO window outside the SLO dashboard": (
        _mutated(lambda m: _set_target(m, "expr", "sum(rate(kafka_events_sent_total[30d]))")),
        "range [30d] is not [$__rate_interval]",
    ),
    "unknown metric": (
        _mutated(
            lambda m: _set_target(
                m, "expr", "sum(rate(kafka_events_sendt_total[$__rate_interval]))"
            )
        ),
        "unknown metric 'kafka_events_sendt_total'",
    ),
    "unknown label": (
        _mutated(
            lambda m: _set_target(
                m, "expr", 'sum(rate(kafka_events_sent_total{topik="x"}[$__rate_interval]))'
            )
        ),
        "kafka_events_sent_total has no label 'topik'",
    ),
    "InfluxQL without $timeFilter": (
        _mutated(
            lambda m: _set_target(m, "query", 'SELECT max("users") FROM "run"', "influxdb"),
            "mgh-load-results",
        ),
        "no $timeFilter",
    ),
    "InfluxQL with a fixed time bucket": (
        _mutated(
            lambda m: _set_target(
                m,
                "query",
                'SELECT max("users") FROM "run" WHERE $timeFilter GROUP BY time(10s)',
                "influxdb",
            ),
            "mgh-load-results",
        ),
        "GROUP BY time(10s) instead of time($__interval)",
    ),
}


@pytest.mark.parametrize("case", LINT_CASES)
def test_the_lint_reports_what_it_names(models: dict[str, Model], case: str) -> None:
    make, expected = LINT_CASES[case]
    problems = dashboard_lint.lint(make(models), known_metrics(), FIXED_WINDOWS)
    assert any(expected in problem for problem in problems), problems


def test_metric_names_ignore_functions_labels_strings_and_ranges() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le, route) (rate(http_request_duration_seconds_bucket"
        '{service="a b", route=~"/x/{id}"}[$__rate_interval]))) / on (route) group_left '
        "sum without (status) (up offset 5m) or vector(1e-3) and bool 1"
    )
    assert dashboard_lint.metric_names(expr) == {"http_request_duration_seconds_bucket", "up"}
    assert dashboard_lint.range_windows(expr) == ["$__rate_interval"]


def test_known_metrics_come_from_the_catalogue_once_it_is_committed(tmp_path: Path) -> None:
    catalogue = tmp_path / "metrics.md"
    assert known_metrics(catalogue).keys() >= {"http_requests_total", "dependency_up", "up"}
    catalogue.write_text(
        "| metric | type | labels |\n|---|---|---|\n"
        "| `http_requests_total` | counter | `service`, `route`, `method`, `status` |\n"
        "| `sona_catalogue_titles` | gauge | — |\n",
        encoding="utf-8",
    )
    metrics = known_metrics(catalogue)
    assert set(metrics) == {"http_requests_total", "sona_catalogue_titles", "up"}
    assert metrics["http_requests_total"].labels == ("service", "route", "method", "status")
    problems = dashboard_lint.lint([generate()["mgh-kafka.json"]], metrics)
    assert any("unknown metric 'kafka_events_sent_total'" in p for p in problems)


# --- variable substitution --------------------------------------------------------------------


def test_substitute_writes_values_as_grafana_does() -> None:
    prom = 'sum(rate(x{route=~"$route", s="${service}"}[$__rate_interval])) and $__interval_ms'
    assert substitute(
        prom,
        {
            "route": ["/a/{id}", "/b.c"],
            "service": "auth",
            "__rate_interval": "1m",
            "__interval": "5s",
            "__interval_ms": "5000",
        },
        "prometheus",
    ) == (r'sum(rate(x{route=~"(/a/\\{id\\}|/b\\.c)", s="auth"}[1m])) and 5000')
    influx = 'SELECT 1 FROM "r" WHERE "e" =~ /^$endpoint$/ AND $timeFilter'
    assert substitute(
        influx, {"endpoint": ["GET /a/{id}"], "timeFilter": "time > 0"}, "influxdb"
    ) == (r'SELECT 1 FROM "r" WHERE "e" =~ /^GET \/a\/\{id\}$/ AND time > 0')
    with pytest.raises(KeyError, match=r"\$route"):
        substitute(prom, {"service": "auth"}, "prometheus")


def test_builtins_follow_grafanas_rules() -> None:
    prom = builtins(0, 3600, kind="prometheus", max_data_points=600, scrape_interval=15)
    assert prom["__interval"] == "6s"
    assert prom["__interval_ms"] == "6000"
    assert prom["__rate_interval"] == "60s"  # four scrapes: more than interval + one scrape
    wide = builtins(0, 86400, kind="prometheus", max_data_points=100, scrape_interval=15)
    assert wide["__rate_interval"] == "879s"  # interval 864 s + one scrape
    influx = builtins(10, 20, kind="influxdb", min_interval=1)
    assert influx["timeFilter"] == "time >= 10000ms and time <= 20000ms"
    assert influx["__interval"] == "1s"


# --- PromQL syntax (promtool) -----------------------------------------------------------------


def _promtool_check(
    rules: list[dict[str, str]], directory: Path
) -> subprocess.CompletedProcess[str]:
    path = directory / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    return subprocess.run(
        ["promtool", "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_every_promql_expression_parses_with_promtool(tmp_path: Path) -> None:
    """promtool has no offline query parser, but ``check rules`` parses each rule's expression
    with Prometheus's own parser: every panel query becomes a recording rule."""
    prom = [q for q in queries() if q.datasource_kind == "prometheus"]
    rules = [
        {"record": f"dashboard:query_{i}", "expr": resolve(q, 1_700_000_000, 1_700_021_600)}
        for i, q in enumerate(prom)
    ]
    result = _promtool_check(rules, tmp_path)
    failed = {int(n) for n in re.findall(r"dashboard:query_(\d+)", result.stdout + result.stderr)}
    assert result.returncode == 0, (
        "\n".join(
            f"{prom[i].dashboard} / {prom[i].panel_title} / {prom[i].ref_id}: {prom[i].expr}"
            for i in sorted(failed)
        )
        + f"\n{result.stdout}{result.stderr}"
    )

    broken = _promtool_check([{"record": "dashboard:query_0", "expr": "sum(rate(x[5m])"}], tmp_path)
    assert broken.returncode != 0
    assert "dashboard:query_0" in broken.stdout + broken.stderr


# --- InfluxQL against a real InfluxDB ---------------------------------------------------------

RUN_ID = "20240101T000000Z-baseline-smoke-abcd"
ENDPOINTS = ("GET /api/v1/search", "GET /api/v1/content/{content_id}")
START = 1_704_067_200


def _load_run_points() -> list[str]:
    """A 20-second run as the load engine writes it (``harness.load.plugin``): per-second
    ``requests`` per endpoint and ``run`` points, ``events``, and the final ``summary``; the
    percentile fields come from the engine's own ``Series.summary``."""
    tags = {
        "run_id": RUN_ID,
        "profile": "baseline",
        "preset": "smoke",
        "git_sha": "0123456789ab",
        "branch": "main",
        "fingerprint": "test",
    }
    points, whole = [], {e: Series() for e in ENDPOINTS}
    for second in range(20):
        at = START + second
        for endpoint in ENDPOINTS:
            series = Series()
            for ms in (5.0, 12.0, 40.0 + second):
                series.record(ms, ms + 3.0, failed=ms > 50)
            whole[endpoint].add(series)
            fields = {k: v for k, v in series.summary().items() if not k.startswith("mean")}
            points.append(line("requests", {**tags, "endpoint": endpoint}, fields, at * 10**9))
        run_fields = {
            "users": 10 + second,
            "target_rate": 20.0,
            "achieved_rate": 19,
            "dropped": second % 2,
            "requests": 6,
            "failures": 0,
        }
        points.append(line("run", {**tags, "stage": "steady"}, run_fields, at * 10**9))
    for kind, offset in (("start", 0), ("stop", 19)):
        event = {**tags, "kind": kind}
        points.append(line("events", event, {"text": f"run {kind}"}, (START + offset) * 10**9))
    for endpoint in ENDPOINTS:
        summary = {k: v for k, v in whole[endpoint].summary().items() if not k.startswith("mean")}
        points.append(
            line("summary", {**tags, "endpoint": endpoint}, summary, (START + 19) * 10**9)
        )
    return points


def _influx_query(sink: V1Sink, influxql: str) -> dict[str, Any]:
    response = sink.client.get(
        f"{sink.server}/query", params={"db": sink.database, "q": influxql, "epoch": "ms"}
    )
    response.raise_for_status()
    result: dict[str, Any] = response.json()["results"][0]
    return result


def test_every_influxql_query_answers_from_a_load_run(influxdb_backend: Backend) -> None:
    sink = V1Sink(f"{server_url(influxdb_backend.url)}/mgh_dashboards_{secrets.token_hex(4)}")
    try:
        sink.write(_load_run_points())
        model = generate()["mgh-load-results.json"]
        variables = {v["name"]: v for v in model["templating"]["list"]}
        runs = _influx_query(sink, variables["run_id"]["query"])
        assert [row[1] for row in runs["series"][0]["values"]] == [RUN_ID]
        endpoints = _influx_query(
            sink, substitute(variables["endpoint"]["query"], {"run_id": RUN_ID}, "influxdb")
        )
        assert sorted(row[1] for row in endpoints["series"][0]["values"]) == sorted(ENDPOINTS)

        influx = [q for q in queries_of(model) if q.datasource_kind == "influxdb"]
        assert {q.source for q in influx} == {"panel", "annotation"}
        for chosen in (None, [ENDPOINTS[1]]):  # All, then one endpoint
            selections: dict[str, str | list[str]] = {"run_id": RUN_ID}
            if chosen is not None:
                selections["endpoint"] = chosen
            for query in influx:
                text = resolve(query, START - 30, START + 60, selections)
                result = _influx_query(sink, text)
                where = f"{query.panel_title} / {query.ref_id}: {text}"
                assert "error" not in result, f"{where}: {result.get('error')}"
                series = result.get("series", [])
                assert series, f"{where}: no data"
                for column in range(1, len(series[0]["columns"])):
                    name = series[0]["columns"][column]
                    filled = [row[column] for s in series for row in s["values"]]
                    assert any(v is not None for v in filled), f"{where}: {name} is empty"
                if '"endpoint"' in text.partition("GROUP BY")[2]:
                    tags = {s.get("tags", {}).get("endpoint") for s in series}
                    assert tags == set(chosen or ENDPOINTS), where
    finally:
        with contextlib.suppress(httpx.HTTPError):
            sink.client.post(
                f"{sink.server}/query", params={"q": f'DROP DATABASE "{sink.database}"'}
            )
        sink.close()


# --- provisioning -----------------------------------------------------------------------------

UID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
ENV_REFERENCE = re.compile(r"^\$\{?[A-Z_][A-Z0-9_]*\}?$")


def _provisioning(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPOSITORY / "dashboards" / name).read_text())
    return loaded


def test_datasources_file_follows_grafanas_schema() -> None:
    config = _provisioning(provisioning.DATASOURCES_FILE)
    assert config["apiVersion"] == 1
    sources = config["datasources"]
    assert {s["type"] for s in sources} == {"prometheus", "influxdb"}
    for source in sources:
        assert {"name", "type", "uid", "access", "url"} <= set(source), source
        assert source["access"] in ("proxy", "direct")
        assert UID.match(source["uid"]), source["uid"]
        assert ENV_REFERENCE.match(source["url"]), "URLs come from Grafana's environment"
        assert set(source) <= {
            "name", "type", "uid", "access", "orgId", "url", "isDefault", "editable",
            "jsonData", "secureJsonData", "database", "user", "basicAuth", "version",
        }  # fmt: skip
    for key in ("name", "uid"):
        assert len({s[key] for s in sources}) == len(sources), f"duplicate datasource {key}"
    assert sum(bool(s.get("isDefault")) for s in sources) <= 1, "one default per organisation"
    influx = next(s for s in sources if s["type"] == "influxdb")
    assert influx["jsonData"]["dbName"]
    assert influx["jsonData"]["version"] == "InfluxQL"


def test_dashboard_provider_file_follows_grafanas_schema() -> None:
    config = _provisioning(provisioning.DASHBOARDS_FILE)
    assert config["apiVersion"] == 1
    providers = config["providers"]
    assert len({p["name"] for p in providers}) == len(providers)
    for provider in providers:
        assert provider["type"] == "file"
        assert ENV_REFERENCE.match(provider["options"]["path"])
        assert provider["options"]["path"].strip("${}") == provisioning.DASHBOARDS_DIR_ENV
        assert isinstance(provider["updateIntervalSeconds"], int)
        assert UID.match(provider["folderUid"])


def test_every_dashboard_defaults_to_a_provisioned_datasource(models: dict[str, Model]) -> None:
    sources = {s["uid"]: s for s in _provisioning(provisioning.DATASOURCES_FILE)["datasources"]}
    for model in models.values():
        variable = next(v for v in model["templating"]["list"] if v["name"] == "datasource")
        assert variable["type"] == "datasource"
        chosen = sources.get(variable["current"]["value"])
        assert chosen is not None, f"{model['uid']}: default datasource not provisioned"
        assert chosen["type"] == variable["query"], model["uid"]
        assert chosen["name"] == variable["current"]["text"]
        kinds = {p["datasource"]["type"] for p in panels_of(model)}
        assert kinds == {variable["query"]}, model["uid"]

"""The Prometheus / Alertmanager runners and the webhook receiver, on the real binaries.

The scrape target here is a prometheus_client HTTP server started by the test: a stand-in for a
service's /metrics, not for Prometheus.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from harness.backends.base import BackendUnavailable
from harness.backends.process import free_port
from harness.obs import alertmanager as am
from harness.obs.alertmanager import AlertmanagerServer, alert_payload
from harness.obs.prometheus import PrometheusQueryError, PrometheusServer, ScrapeTarget
from harness.obs.servers import wait_until
from harness.obs.webhook import WebhookReceiver

pytestmark = pytest.mark.integration

PrometheusFactory = Callable[..., PrometheusServer]
LocalAlertmanagerFactory = Callable[..., AlertmanagerServer]

RUNBOOK = "https://github.com/media-gateway/harness/blob/main/alerting/runbooks/{}.md"


@pytest.fixture
def metrics_target() -> Iterator[tuple[str, CollectorRegistry]]:
    """A /metrics endpoint on a free port serving a registry the test fills."""
    registry = CollectorRegistry()
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        yield f"http://127.0.0.1:{port}/metrics", registry
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_prometheus_scrapes_its_target_with_the_component_label(
    prometheus_factory: PrometheusFactory, metrics_target: tuple[str, CollectorRegistry]
) -> None:
    url, registry = metrics_target
    Gauge("drill_temperature", "a value the test sets", registry=registry).set(42.5)
    requests = Counter("drill_requests", "a counter", ["route"], registry=registry)
    requests.labels(route="/api/v1/search").inc(3)

    prometheus = prometheus_factory([ScrapeTarget(url, "discovery")], interval=1)

    series = wait_until(
        lambda: prometheus.query('drill_temperature{job="mediagw"}'), 15, "the first scrape"
    )
    assert len(series) == 1
    assert series[0]["metric"]["component"] == "discovery"
    assert series[0]["metric"]["instance"] == url.split("/")[2]
    assert float(series[0]["value"][1]) == 42.5
    assert prometheus.query_value('up{job="mediagw", component="discovery"}') == 1.0
    assert prometheus.query_value('drill_requests_total{route="/api/v1/search"}') == 3.0
    assert prometheus.query_value("drill_no_such_metric") is None

    (target,) = prometheus.targets()
    assert target["health"] == "up"
    assert target["labels"]["component"] == "discovery"
    assert target["scrapeUrl"] == url

    now = time.time()
    (ranged,) = prometheus.query_range("drill_temperature", now - 5, now, step=1)
    assert ranged["values"]
    assert {float(v) for _, v in ranged["values"]} == {42.5}


def test_prometheus_config_targets_by_path_and_tuple_form() -> None:
    server = PrometheusServer(
        [("http://10.0.0.1:8080/metrics", "all-in-one"), ("https://h:9/custom", "auth")],
        interval=1,
        rule_files=["alerting/rules/x.yml"],
        alertmanager_url="http://127.0.0.1:9093",
        extra_scrape_configs=[{"job_name": "self", "static_configs": [{"targets": ["a:1"]}]}],
    )
    config = server.config
    assert config["global"] == {
        "scrape_interval": "1s",
        "scrape_timeout": "1s",
        "evaluation_interval": "1s",
    }
    job, extra = config["scrape_configs"]
    assert job["job_name"] == "mediagw"
    assert extra["job_name"] == "self"
    assert [c["labels"] for c in job["static_configs"]] == [
        {"component": "all-in-one", "__metrics_path__": "/metrics", "__scheme__": "http"},
        {"component": "auth", "__metrics_path__": "/custom", "__scheme__": "https"},
    ]
    assert Path(config["rule_files"][0]).is_absolute()
    assert config["alerting"]["alertmanagers"] == [
        {"scheme": "http", "api_version": "v2", "static_configs": [{"targets": ["127.0.0.1:9093"]}]}
    ]
    assert PrometheusServer().config["global"]["scrape_interval"] == "15s"


def test_prometheus_loads_rule_files_and_reloads_them(
    prometheus_factory: PrometheusFactory, tmp_path: Path
) -> None:
    rules = tmp_path / "drill.yml"
    rules.write_text(
        "groups:\n"
        "  - name: drill\n"
        "    rules:\n"
        "      - record: drill:one\n"
        "        expr: vector(1)\n",
        encoding="utf-8",
    )
    prometheus = prometheus_factory(rule_files=[rules], interval=1)
    (group,) = prometheus.rules()
    assert group["name"] == "drill"
    assert [r["name"] for r in group["rules"]] == ["drill:one"]

    rules.write_text(
        rules.read_text(encoding="utf-8")
        + "      - alert: DrillAlert\n        expr: vector(0) > 1\n",
        encoding="utf-8",
    )
    prometheus.reload()
    (group,) = prometheus.rules()
    assert [r["name"] for r in group["rules"]] == ["drill:one", "DrillAlert"]
    assert [g["name"] for g in prometheus.rules(kind="alert")] == ["drill"]
    assert wait_until(lambda: prometheus.query_value("drill:one"), 10, "a rule evaluation") == 1.0

    with pytest.raises(PrometheusQueryError, match="parse error"):
        prometheus.query("sum(")


def test_stop_ends_the_process_and_removes_its_scratch_directory(
    prometheus_factory: PrometheusFactory,
) -> None:
    prometheus = prometheus_factory()
    pid, workdir, url = prometheus.pid, prometheus.workdir, prometheus.url
    assert pid is not None
    assert workdir is not None
    assert (workdir / "prometheus.yml").is_file()
    assert httpx.get(f"{url}/-/ready").status_code == 200

    prometheus.stop()

    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not workdir.exists()
    assert not prometheus.alive
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/-/ready")


@pytest.mark.parametrize(
    ("start", "package"),
    [
        (lambda: PrometheusServer().start(), "'prometheus'"),
        (lambda: AlertmanagerServer("route: {receiver: x}\n").start(), "'prometheus-alertmanager'"),
        (am.check_config, "'prometheus-alertmanager'"),
    ],
    ids=["prometheus", "alertmanager", "amtool"],
)
def test_a_missing_binary_fails_at_once_naming_the_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, start: Callable[[], object], package: str
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no binary at all
    began = time.monotonic()
    with pytest.raises(BackendUnavailable) as raised:
        start()
    message = str(raised.value)
    assert "\n" not in message
    assert f"install the Debian package {package}" in message
    assert time.monotonic() - began < 1


def test_alertmanager_server_accepts_lists_and_reports(
    webhook_receiver: WebhookReceiver, tmp_path: Path
) -> None:
    config = (
        "route: {receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 1s}\n"
        f"receivers: [{{name: hook, webhook_configs: [{{url: '{webhook_receiver.url('/x')}'}}]}}]\n"
    )
    with AlertmanagerServer(config) as server:
        server.post_alerts([alert_payload({"alertname": "Probe", "service": "auth"})])
        (alert,) = wait_until(server.alerts, 5, "the posted alert")
        assert alert["labels"] == {"alertname": "Probe", "service": "auth"}
        assert [r["name"] for r in alert["receivers"]] == ["hook"]
        assert server.alerts(filters=['alertname="Other"']) == []
        status = server.status()
        assert status["versionInfo"]["version"] == "0.25.0"
        assert status["cluster"]["status"] == "disabled"
        assert "hook" in status["config"]["original"]

        notification = webhook_receiver.wait_for(lambda n: n.has_alert(alertname="Probe"), 10)
        assert (notification.receiver, notification.status, notification.path) == (
            "hook",
            "firing",
            "/x",
        )
        assert notification.alert_statuses == ("firing",)
        assert notification.group_labels == {"alertname": "Probe"}

        server.reload(config.replace(": hook", ": renamed"))
        assert "renamed" in server.status()["config"]["original"]
        workdir = server.workdir
    assert workdir is not None
    assert not workdir.exists()


def test_webhook_receiver_rejects_what_is_not_an_alertmanager_payload(
    webhook_receiver: WebhookReceiver,
) -> None:
    response = httpx.post(webhook_receiver.url("/y"), content=json.dumps({"version": "3"}))
    assert response.status_code == 400
    assert webhook_receiver.notifications == []
    assert len(webhook_receiver.rejected) == 1
    with pytest.raises(TimeoutError, match="received 0"):
        webhook_receiver.wait_for(lambda n: True, timeout=0.2)


def test_a_firing_rule_reaches_the_webhook_through_the_committed_routing(
    prometheus_factory: PrometheusFactory,
    local_alertmanager_factory: LocalAlertmanagerFactory,
    webhook_receiver: WebhookReceiver,
    tmp_path: Path,
) -> None:
    """Prometheus (1 s evaluation) → Alertmanager (committed routes, webhook delivery)."""
    rules = tmp_path / "always.yml"
    rules.write_text(
        f"""groups:
  - name: drill
    rules:
      - alert: DrillAlwaysFiring
        expr: vector(1)
        for: 0s
        labels: {{severity: P1, service: drill}}
        annotations:
          summary: always firing
          description: a drill alert
          runbook_url: {RUNBOOK.format("DrillAlwaysFiring")}
""",
        encoding="utf-8",
    )
    began = time.monotonic()
    alertmanager = local_alertmanager_factory()
    prometheus = prometheus_factory(
        rule_files=[rules], interval=1, alertmanager_url=alertmanager.url
    )

    notification = webhook_receiver.wait_for(
        lambda n: n.has_alert(alertname="DrillAlwaysFiring"), timeout=30
    )
    elapsed = notification.received_monotonic - began
    print(f"\nrule → Alertmanager → webhook: {elapsed:.1f} s from starting both servers")

    assert notification.receiver == "slack-alerts"
    assert notification.status == "firing"
    (labels,) = notification.alerts
    assert labels == {"alertname": "DrillAlwaysFiring", "severity": "P1", "service": "drill"}
    (alert,) = notification.payload["alerts"]
    assert alert["annotations"]["runbook_url"] == RUNBOOK.format("DrillAlwaysFiring")
    assert alert["generatorURL"].startswith(prometheus.url)
    (held,) = prometheus.alerts()
    assert held["state"] == "firing"

"""alerting/alertmanager.yml and its templates, proved on the real Alertmanager 0.25 and amtool.

- ``amtool check-config`` parses the file and its templates. It does not open the ``*_file``
  secrets (Alertmanager reads them when it notifies), so they need not exist here.
- Routing: one table of label sets → receivers, checked by ``amtool config routes test`` (the
  tree alone: it ignores time intervals and inhibition) AND by a running Alertmanager with the
  committed tree delivering to a local webhook.
- Business hours: ``amtool`` cannot evaluate time intervals and Alertmanager has no clock to
  set, so each case runs the real Alertmanager with its interval's location (Europe/London)
  pinned through ZONEINFO to a chosen local time (``harness.obs.tzclock``): the committed
  weekdays and times are evaluated by Alertmanager itself.
- Inhibition: source and target alerts posted to a running Alertmanager; its API reports which
  are suppressed and by which alert (``status.inhibitedBy``).
- Templates: every templated field of every receiver rendered by ``amtool template render``
  (Alertmanager's template engine) with sample alerts.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from harness.obs import alertmanager_config as amc
from harness.obs.alertmanager import (
    AlertmanagerServer,
    alert_payload,
    check_config,
    render_template,
    route_receivers,
)
from harness.obs.servers import wait_until
from harness.obs.webhook import WebhookReceiver

pytestmark = pytest.mark.integration

LocalAlertmanagerFactory = Callable[..., AlertmanagerServer]

RUNBOOK = "https://github.com/media-gateway/harness/blob/main/alerting/runbooks/{}.md"
SECRETS_DIR = "/etc/alertmanager/secrets/"
GRACE = 1.5
"""After the last expected notification: more than one group_interval (1 s in tests), so a
notification that should not come would have come."""


def annotations_for(alertname: str, service: str | None) -> dict[str, str]:
    where = service or "no service"
    return {
        "summary": f"{alertname} on {where}",
        "description": f"{alertname} has been true for 5 minutes on {where}",
        "runbook_url": RUNBOOK.format(alertname),
    }


def alert(labels: Mapping[str, str]) -> dict[str, Any]:
    return alert_payload(labels, annotations_for(labels["alertname"], labels.get("service")))


# --- the committed file --------------------------------------------------------------------


def test_committed_config_passes_amtool_check_config() -> None:
    output = check_config(amc.CONFIG_FILE)
    assert "SUCCESS" in output
    assert " - 5 receivers" in output
    assert " - 3 inhibit rules" in output
    assert " - 1 templates" in output  # the glob templates/*.tmpl, parsed with the file


def test_secrets_come_only_from_files() -> None:
    config = amc.load()
    assert amc.inline_secrets(config) == []
    files = amc.secret_files(config)
    assert files
    assert all(path.startswith(SECRETS_DIR) for path in files), files
    for receiver in config["receivers"]:
        for kind, settings in amc.integrations(receiver):
            if kind == "slack_configs":
                assert settings["api_url_file"].startswith(SECRETS_DIR)
            if kind == "pagerduty_configs":
                assert settings["routing_key_file"].startswith(SECRETS_DIR)
    assert config["global"]["smtp_auth_password_file"].startswith(SECRETS_DIR)
    # The audit itself can fail: an inline credential anywhere is reported by its path.
    leaky = {"receivers": [{"slack_configs": [{"api_url": "https://hooks.slack.test/x"}]}]}
    assert amc.inline_secrets(leaky) == ["receivers[0].slack_configs[0].api_url"]


def test_local_delivery_keeps_routing_inhibition_and_intervals(tmp_path: Path) -> None:
    committed = amc.load()
    as_is = amc.local_delivery("http://127.0.0.1:1/hook", timings=None)
    assert as_is["route"] == committed["route"]
    assert as_is["inhibit_rules"] == committed["inhibit_rules"]
    assert as_is["time_intervals"] == committed["time_intervals"]
    assert as_is["global"] == committed["global"]
    assert amc.receiver_names(as_is) == amc.receiver_names(committed)
    for receiver in as_is["receivers"]:
        assert set(receiver) == {"name", "webhook_configs"}
        (hook,) = receiver["webhook_configs"]
        assert hook["url"] == "http://127.0.0.1:1/hook"
        # The digest e-mail never reports resolutions; the others do.
        assert hook["send_resolved"] is (receiver["name"] != "email-digest")
    assert as_is["templates"] == [str(amc.TEMPLATES_DIR / "*.tmpl")]

    short = amc.local_delivery("http://127.0.0.1:1/hook")
    for node in amc.routes(short):
        for key in ("group_wait", "group_interval", "repeat_interval"):
            assert node.get(key) in (None, getattr(amc.TEST_TIMINGS, key))
    assert [n.get("group_by") for n in amc.routes(short)] == [
        n.get("group_by") for n in amc.routes(committed)
    ]
    derived = tmp_path / "alertmanager.yml"
    derived.write_text(amc.dump(short), encoding="utf-8")
    assert "SUCCESS" in check_config(derived)
    assert "group_interval: 6h" in amc.CONFIG_FILE.read_text(encoding="utf-8")  # untouched


# --- routing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    labels: Mapping[str, str]
    receiver: str

    @property
    def alertname(self) -> str:
        return self.labels["alertname"]


ROUTING = [
    Row(
        {"alertname": "ServiceDown", "severity": "P0", "service": "gateway"}, "pagerduty-incidents"
    ),
    Row({"alertname": "TokenReuse", "severity": "P0", "service": "auth"}, "pagerduty-incidents"),
    Row({"alertname": "SearchSlow", "severity": "P1", "service": "discovery"}, "slack-alerts"),
    Row({"alertname": "SyncSlow", "severity": "P1", "service": "sync"}, "slack-alerts"),
    Row({"alertname": "RerankSlow", "severity": "P2", "service": "sona"}, "slack-monitoring"),
    Row({"alertname": "PublishFails", "severity": "P2", "service": "playback"}, "slack-monitoring"),
    Row({"alertname": "UnknownGenres", "severity": "P3", "service": "ingestion"}, "email-digest"),
    Row({"alertname": "OutboxBacklog", "severity": "P3", "service": "sync"}, "email-digest"),
    Row({"alertname": "NoSeverity", "service": "discovery"}, "triage"),
    Row({"alertname": "SeverityP4", "severity": "P4", "service": "sona"}, "triage"),
    Row({"alertname": "LowerCaseP1", "severity": "p1", "service": "playback"}, "triage"),
    Row({"alertname": "NoLabels"}, "triage"),
]
"""Every severity, several services, the default route. Alertnames are unique and no P1-P3 row
shares a service with a P0 row, so in the live batch no row inhibits another."""


@pytest.mark.parametrize("row", ROUTING, ids=[r.alertname for r in ROUTING])
def test_amtool_routes_each_label_set_to_its_receiver(row: Row) -> None:
    assert route_receivers(row.labels) == [row.receiver]


def test_running_alertmanager_notifies_each_row_only_on_its_receiver(
    local_alertmanager: AlertmanagerServer, webhook_receiver: WebhookReceiver
) -> None:
    """The same table through the real dispatcher, clock pinned inside business hours."""
    local_alertmanager.post_alerts([alert(row.labels) for row in ROUTING])
    for row in ROUTING:
        webhook_receiver.wait_for_alert(receiver=row.receiver, timeout=15, **row.labels)
    time.sleep(GRACE)
    delivered: dict[str, set[str]] = {}
    for notification in webhook_receiver.notifications:
        for name in notification.alertnames:
            delivered.setdefault(name, set()).add(notification.receiver)
    assert delivered == {row.alertname: {row.receiver} for row in ROUTING}
    digest = next(n for n in webhook_receiver.notifications if n.receiver == "email-digest")
    assert sorted(digest.alertnames) == ["OutboxBacklog", "UnknownGenres"]  # one e-mail


# --- business hours ------------------------------------------------------------------------


@dataclass(frozen=True)
class Clock:
    name: str
    local: datetime
    p2_delivered: bool


# 2025-01-06 is a Monday. Margins of 30-60 s cover start-up and group_wait.
BUSINESS_HOURS = [
    Clock("wednesday-noon", datetime(2025, 1, 8, 12, 0), True),
    Clock("monday-0900-30", datetime(2025, 1, 6, 9, 0, 30), True),
    Clock("friday-1759", datetime(2025, 1, 10, 17, 59), True),
    Clock("monday-0859", datetime(2025, 1, 6, 8, 59), False),
    Clock("friday-1800-30", datetime(2025, 1, 10, 18, 0, 30), False),
    Clock("tuesday-0300", datetime(2025, 1, 7, 3, 0), False),
    Clock("saturday-noon", datetime(2025, 1, 11, 12, 0), False),
    Clock("sunday-noon", datetime(2025, 1, 12, 12, 0), False),
]
OPENING = Clock("monday-0859-52", datetime(2025, 1, 6, 8, 59, 52), True)
"""Muted at its first flush, delivered at the first group_interval after 09:00."""


def test_p2_reaches_monitoring_only_in_business_hours_london_time(
    local_alertmanager_factory: LocalAlertmanagerFactory, webhook_receiver: WebhookReceiver
) -> None:
    clocks = [*BUSINESS_HOURS, OPENING]

    def start(clock: Clock) -> AlertmanagerServer:
        return local_alertmanager_factory(f"/{clock.name}", local_time=clock.local)

    with ThreadPoolExecutor(max_workers=len(clocks)) as pool:  # start-up in parallel
        servers = list(pool.map(start, clocks))
    for server in servers:
        server.post_alerts(
            [
                alert({"alertname": "P2Probe", "severity": "P2", "service": "sona"}),
                alert({"alertname": "P1Control", "severity": "P1", "service": "discovery"}),
            ]
        )

    # The P1 control shows each Alertmanager has flushed its groups at least once.
    for clock in clocks:
        webhook_receiver.wait_for_alert(path=f"/{clock.name}", timeout=15, alertname="P1Control")
    for clock in (c for c in clocks if c.p2_delivered):
        webhook_receiver.wait_for_alert(path=f"/{clock.name}", timeout=15, alertname="P2Probe")
    time.sleep(GRACE)

    p2_paths = {n.path for n in webhook_receiver.notifications if n.has_alert(alertname="P2Probe")}
    assert p2_paths == {f"/{c.name}" for c in clocks if c.p2_delivered}
    assert all(
        n.receiver == "slack-monitoring"
        for n in webhook_receiver.notifications
        if n.has_alert(alertname="P2Probe")
    )
    # Muted is not dropped: the alert is still active in Alertmanager, routed to #monitoring.
    muted = servers[clocks.index(BUSINESS_HOURS[-1])]
    (held,) = muted.alerts(filters=['alertname="P2Probe"'])
    assert held["status"]["state"] == "active"
    assert [r["name"] for r in held["receivers"]] == ["slack-monitoring"]

    # Opening: the control was sent before 09:00 local, the P2 only from 09:00.
    opening = servers[-1]
    opened_at = datetime(2025, 1, 6, 9, 0)
    control = webhook_receiver.wait_for_alert(
        path=f"/{OPENING.name}", timeout=0, alertname="P1Control"
    )
    probe = webhook_receiver.wait_for_alert(path=f"/{OPENING.name}", timeout=0, alertname="P2Probe")
    assert opening.local_time(control.received_at) < opened_at
    assert opened_at <= opening.local_time(probe.received_at) < opened_at + timedelta(seconds=5)


def test_business_hours_interval_is_weekdays_nine_to_six_in_london() -> None:
    """The definition the live test exercises; the location is what the pinned clock replaces."""
    (interval,) = next(
        t["time_intervals"] for t in amc.load()["time_intervals"] if t["name"] == "business-hours"
    )
    assert interval == {
        "weekdays": ["monday:friday"],
        "times": [{"start_time": "09:00", "end_time": "18:00"}],
        "location": "Europe/London",
    }
    (p2,) = [r for r in amc.routes(amc.load()) if r.get("receiver") == "slack-monitoring"]
    assert p2["active_time_intervals"] == ["business-hours"]


# --- inhibition ----------------------------------------------------------------------------

Key = tuple[str, str]  # (alertname, service)


@dataclass(frozen=True)
class Inhibition:
    name: str
    alerts: list[dict[str, str]]
    muted_by: Mapping[Key, set[Key]]
    """Each inhibited alert → the alerts allowed as its ``inhibitedBy``; the rest stay active."""


def key(labels: Mapping[str, str]) -> Key:
    return labels["alertname"], labels.get("service", "")


SD_SYNC = ("ServiceDown", "sync")
SD_ALL = ("ServiceDown", "all-in-one")
AUTH_PAGE, AUTH_PAGE_2 = ("AuthLoginsFailing", "auth"), ("AuthSecondPage", "auth")
SYNC_PAGE = ("SyncPropagationSlow", "sync")

INHIBITIONS = [
    Inhibition(
        "p0-mutes-same-service-p1-p3",
        [
            {"alertname": "AuthLoginsFailing", "severity": "P0", "service": "auth"},
            {"alertname": "AuthSecondPage", "severity": "P0", "service": "auth"},
            {"alertname": "AuthLatency", "severity": "P1", "service": "auth"},
            {"alertname": "AuthPool", "severity": "P2", "service": "auth"},
            {"alertname": "AuthHashSlow", "severity": "P3", "service": "auth"},
            {"alertname": "SearchSlow", "severity": "P1", "service": "discovery"},
            {"alertname": "SearchCache", "severity": "P3", "service": "discovery"},
        ],
        {
            ("AuthLatency", "auth"): {AUTH_PAGE, AUTH_PAGE_2},
            ("AuthPool", "auth"): {AUTH_PAGE, AUTH_PAGE_2},
            ("AuthHashSlow", "auth"): {AUTH_PAGE, AUTH_PAGE_2},
        },
    ),
    Inhibition(
        "servicedown-mutes-same-service-symptoms",
        [
            {"alertname": "ServiceDown", "severity": "P0", "service": "sync"},
            # A P0 symptom: only the ServiceDown rule can mute it (P0 does not mute P0).
            {"alertname": "SyncPropagationSlow", "severity": "P0", "service": "sync"},
            {"alertname": "SyncNoSeverity", "service": "sync"},
            {"alertname": "SyncSlowConsumers", "severity": "P2", "service": "sync"},
            {"alertname": "ServiceDown", "severity": "P0", "service": "playback"},
            {"alertname": "SearchSlow", "severity": "P1", "service": "discovery"},
        ],
        {
            SYNC_PAGE: {SD_SYNC},
            ("SyncNoSeverity", "sync"): {SD_SYNC},
            ("SyncSlowConsumers", "sync"): {SD_SYNC, SYNC_PAGE},
        },
    ),
    Inhibition(
        "all-in-one-servicedown-mutes-everything",
        [
            {"alertname": "ServiceDown", "severity": "P0", "service": "all-in-one"},
            {"alertname": "AuthLoginsFailing", "severity": "P0", "service": "auth"},
            {"alertname": "SearchSlow", "severity": "P1", "service": "discovery"},
            {"alertname": "RerankSlow", "severity": "P2", "service": "sona"},
            {"alertname": "UnknownGenres", "severity": "P3", "service": "ingestion"},
            {"alertname": "NoLabels"},
        ],
        {
            AUTH_PAGE: {SD_ALL},
            ("SearchSlow", "discovery"): {SD_ALL},
            ("RerankSlow", "sona"): {SD_ALL},
            ("UnknownGenres", "ingestion"): {SD_ALL},
            ("NoLabels", ""): {SD_ALL},
        },
    ),
]


def inhibition_state(server: AlertmanagerServer) -> dict[Key, set[Key]]:
    """Each alert → the alerts that inhibit it, as the API reports them."""
    alerts = server.alerts()
    by_fingerprint = {a["fingerprint"]: key(a["labels"]) for a in alerts}
    return {
        key(a["labels"]): {by_fingerprint[f] for f in a["status"]["inhibitedBy"]} for a in alerts
    }


@pytest.mark.parametrize("case", INHIBITIONS, ids=[c.name for c in INHIBITIONS])
def test_inhibition_on_a_running_alertmanager(
    case: Inhibition,
    local_alertmanager: AlertmanagerServer,
    webhook_receiver: WebhookReceiver,
) -> None:
    local_alertmanager.post_alerts([alert(labels) for labels in case.alerts])
    everyone = {key(labels) for labels in case.alerts}

    def settled() -> dict[Key, set[Key]] | None:
        state = inhibition_state(local_alertmanager)
        done = set(state) == everyone and all(state[k] for k in case.muted_by)
        return state if done else None

    wait_until(settled, 10, f"inhibition of {sorted(case.muted_by)}")
    time.sleep(0.3)  # the inhibitor has seen every source; nothing else may become muted
    state = inhibition_state(local_alertmanager)
    for target, allowed in case.muted_by.items():
        assert state[target], f"{target} is not inhibited"
        assert state[target] <= allowed, f"{target} inhibited by {state[target]}"
    assert {k for k, sources in state.items() if not sources} == everyone - set(case.muted_by)
    suppressed = {key(a["labels"]) for a in local_alertmanager.alerts(inhibited=True, active=False)}
    assert suppressed == set(case.muted_by)

    # Muted alerts are not notified: once the active ones arrived, none of the muted did.
    for active in everyone - set(case.muted_by):
        alertname, service = active
        labels = {"alertname": alertname, **({"service": service} if service else {})}
        webhook_receiver.wait_for_alert(timeout=15, **labels)
    time.sleep(GRACE)
    notified = {key(a) for n in webhook_receiver.notifications for a in n.alerts}
    assert notified == everyone - set(case.muted_by)


# --- templates -----------------------------------------------------------------------------


def template_data(
    receiver: str, alerts: list[dict[str, Any]], group_by: tuple[str, ...]
) -> dict[str, Any]:
    """Alertmanager's template data for one notification (template.Data)."""

    def common(field: str) -> dict[str, str]:
        maps = [a[field] for a in alerts]
        return {k: v for k, v in maps[0].items() if all(m.get(k) == v for m in maps)}

    firing = any(a["status"] == "firing" for a in alerts)
    labels = common("labels")
    return {
        "receiver": receiver,
        "status": "firing" if firing else "resolved",
        "alerts": alerts,
        "groupLabels": {k: labels[k] for k in group_by if k in labels},
        "commonLabels": labels,
        "commonAnnotations": common("annotations"),
        "externalURL": "http://alertmanager.test:9093",
    }


def sample_alert(
    alertname: str, severity: str, service: str, *, resolved: bool = False
) -> dict[str, Any]:
    started = datetime(2025, 1, 8, 10, 30, tzinfo=UTC)
    return {
        "status": "resolved" if resolved else "firing",
        "labels": {
            "alertname": alertname,
            "severity": severity,
            "service": service,
            "component": service,
        },
        "annotations": annotations_for(alertname, service),
        "startsAt": started.isoformat(),
        # Go's zero time: what a firing alert's endsAt is in template data.
        "endsAt": (started + timedelta(minutes=20)).isoformat()
        if resolved
        else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.test:9090/graph",
        "fingerprint": hashlib.sha256(f"{alertname}/{service}".encode()).hexdigest()[:16],
    }


def templated_fields(node: Any, path: str = "") -> dict[str, str]:
    """Every string of an integration that Alertmanager renders as a template."""
    found: dict[str, str] = {}
    if isinstance(node, Mapping):
        for name, value in node.items():
            found.update(templated_fields(value, f"{path}.{name}" if path else str(name)))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found.update(templated_fields(item, f"{path}[{index}]"))
    elif isinstance(node, str) and "{{" in node:
        found[path] = node
    return found


def render_integration(settings: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, str]:
    # Alertmanager renders an e-mail ``html`` body with html/template, everything else as text.
    return {
        field: render_template(text, data, html=field == "html")
        for field, text in templated_fields(settings).items()
    }


SEVERITY_OF = {
    "pagerduty-incidents": "P0",
    "slack-alerts": "P1",
    "slack-monitoring": "P2",
    "email-digest": "P3",
    "triage": "P1",
}


@pytest.mark.parametrize("receiver", list(SEVERITY_OF))
def test_each_receiver_renders_summary_runbook_and_service(receiver: str) -> None:
    config = amc.load()
    (settings,) = [r for r in config["receivers"] if r["name"] == receiver]
    severity = SEVERITY_OF[receiver]
    alerts = [
        sample_alert("SearchLatencyHigh", severity, "discovery"),
        sample_alert("SearchLatencyHigh", severity, "discovery"),
    ]
    alerts[1]["labels"]["component"] = "all-in-one"
    data = template_data(receiver, alerts, ("alertname", "service"))
    runbook = RUNBOOK.format("SearchLatencyHigh")
    summary = "SearchLatencyHigh on discovery"

    kinds = list(amc.integrations(settings))
    assert kinds
    for kind, integration in kinds:
        out = render_integration(integration, data)
        everything = "\n".join(out.values())
        assert summary in everything, (kind, out)
        assert runbook in everything, (kind, out)
        assert "discovery" in everything, (kind, out)
        if kind == "slack_configs":
            assert out["title"] == f"[FIRING:2] {severity} SearchLatencyHigh - discovery"
            assert out["title_link"] == runbook
            assert out["text"].count(f"<{runbook}|SearchLatencyHigh runbook>") == 2
            assert "*Description:* SearchLatencyHigh has been true" in out["text"]
            assert "component `all-in-one`" in out["text"]
            assert out["color"] == ("danger" if severity == "P0" else "warning")
        elif kind == "pagerduty_configs":
            assert out["description"] == (f"[FIRING:2] P0 SearchLatencyHigh - discovery: {summary}")
            assert out["details.runbook"] == runbook
            assert out["details.service"] == "discovery"
            assert out["details.alerts"].count(runbook) == 2
            assert out["links[0].href"] == runbook
            assert out["client_url"] == "http://alertmanager.test:9093"
        elif kind == "email_configs":
            assert out["headers.Subject"].startswith("[Media Gateway] [FIRING:2] P3")
            assert out["html"].count(f'<a href="{runbook}">') == 2
            assert f"Runbook:     {runbook}" in out["text"]
        else:
            pytest.fail(f"no expectations for {kind}")


def test_digest_lists_every_alert_and_resolution_renders_as_resolved() -> None:
    (digest,) = amc.integrations(
        next(r for r in amc.load()["receivers"] if r["name"] == "email-digest")
    )
    alerts = [
        sample_alert("UnknownGenres", "P3", "ingestion"),
        sample_alert("OutboxBacklog", "P3", "sync"),
        sample_alert("CacheColdStart", "P3", "discovery", resolved=True),
    ]
    out = render_integration(digest[1], template_data("email-digest", alerts, ("severity",)))
    assert out["headers.Subject"] == (
        "[Media Gateway] [FIRING:2] P3 3 alerts - several services (see each alert)"
    )
    for name, service in [
        ("UnknownGenres", "ingestion"),
        ("OutboxBacklog", "sync"),
        ("CacheColdStart", "discovery"),
    ]:
        assert f'<a href="{RUNBOOK.format(name)}">' in out["html"]
        assert f"<td>{service}</td>" in out["html"]
        assert f"{name} on {service}" in out["text"]
    assert "CacheColdStart (resolved)" in out["html"]

    (slack,) = amc.integrations(
        next(r for r in amc.load()["receivers"] if r["name"] == "slack-alerts")
    )
    resolved = [sample_alert("SearchSlow", "P1", "discovery", resolved=True)]
    out = render_integration(slack[1], template_data("slack-alerts", resolved, ("alertname",)))
    assert out["title"] == "[RESOLVED] P1 SearchSlow - discovery"
    assert out["color"] == "good"
    assert ":large_green_circle:" in out["text"]
    assert "resolved 2025-01-08 10:50 UTC" in out["text"]


def test_every_defined_template_is_used() -> None:
    sources = {p.name: p.read_text(encoding="utf-8") for p in amc.TEMPLATES_DIR.glob("*.tmpl")}
    defined = {name for text in sources.values() for name in re.findall(r'define "([^"]+)"', text)}
    used = set(re.findall(r'template "([^"]+)"', amc.CONFIG_FILE.read_text(encoding="utf-8")))
    for text in sources.values():
        used |= set(re.findall(r'template "([^"]+)"', text))
    assert defined
    assert defined - used == set()
    assert used - defined == set()

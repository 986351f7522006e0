"""The committed Alertmanager configuration, and the local-delivery variant tests and drills run.

``alerting/alertmanager.yml`` notifies PagerDuty, Slack and an SMTP relay, with credentials read
from ``*_file`` paths on the production host. Neither the network nor the secrets exist here, so
tests and fire drills run the SAME routing tree, inhibition rules and time intervals with every
receiver's integrations replaced by one webhook to a local :class:`~harness.obs.webhook.
WebhookReceiver`, under the receiver's own name: what arrives says which receiver would have paged
or posted. The webhook keeps the receiver's ``send_resolved`` choice. Group timings can be
shortened for tests; the committed file is never rewritten.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

ALERTING_DIR = Path(__file__).resolve().parents[3] / "alerting"
CONFIG_FILE = ALERTING_DIR / "alertmanager.yml"
TEMPLATES_DIR = ALERTING_DIR / "templates"

# Alertmanager's defaults for send_resolved per integration (0.25 docs): PagerDuty, webhook,
# OpsGenie, VictorOps notify on resolve unless told not to; Slack and e-mail do not.
_SEND_RESOLVED_DEFAULT = {
    "email_configs": False,
    "slack_configs": False,
    "pagerduty_configs": True,
    "webhook_configs": True,
    "opsgenie_configs": True,
    "victorops_configs": True,
}

# Settings that hold a credential when written inline (each has a ``*_file`` twin or belongs in
# an http_config that reads from a file). The repo keeps none of them.
SECRET_KEYS = frozenset(
    {
        "slack_api_url",
        "api_url",
        "routing_key",
        "service_key",
        "smtp_auth_password",
        "auth_password",
        "smtp_auth_secret",
        "auth_secret",
        "opsgenie_api_key",
        "api_key",
        "victorops_api_key",
        "wechat_api_secret",
        "api_secret",
        "bot_token",
        "user_key",
        "token",
        "password",
        "bearer_token",
        "credentials",
        "webhook_url",
    }
)

_TIMING_KEYS = ("group_wait", "group_interval", "repeat_interval")


@dataclass(frozen=True)
class Timings:
    """Group timings to impose on every route that sets them (and on the root route)."""

    group_wait: str | None = None
    group_interval: str | None = None
    repeat_interval: str | None = None

    def items(self) -> Iterator[tuple[str, str]]:
        for key in _TIMING_KEYS:
            value = getattr(self, key)
            if value is not None:
                yield key, value


IN_BUSINESS_HOURS = datetime(2025, 1, 8, 12, 0)
"""A Wednesday noon: inside ``business-hours``. Drills pin Alertmanager's zones to it (see
``harness.obs.tzclock``) so P2 routing does not depend on when they run."""

TEST_TIMINGS = Timings(group_wait="1s", group_interval="1s", repeat_interval="1h")
"""Short enough for a test to see a notification in ~1 s, long enough not to see repeats."""


def load(path: Path = CONFIG_FILE) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: not a YAML mapping")
    return loaded


def dump(config: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(config), sort_keys=False, allow_unicode=True)


def receiver_names(config: Mapping[str, Any]) -> list[str]:
    return [str(r["name"]) for r in config.get("receivers", [])]


def routes(config: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every route node, root first, depth first."""
    stack = [config["route"]]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.get("routes", [])))


def integrations(receiver: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(kind, settings)`` for each integration of a receiver, kind like ``slack_configs``."""
    for key, value in receiver.items():
        if key.endswith("_configs"):
            for settings in value or []:
                yield key, settings


def sends_resolved(receiver: Mapping[str, Any]) -> bool:
    """Whether any of the receiver's integrations would notify on resolve."""
    return any(
        settings.get("send_resolved", _SEND_RESOLVED_DEFAULT.get(kind, True))
        for kind, settings in integrations(receiver)
    )


def time_interval_locations(config: Mapping[str, Any]) -> set[str]:
    """The ``location`` of every time interval (``UTC`` where none is set)."""
    locations = set()
    for named in config.get("time_intervals", []) + config.get("mute_time_intervals", []):
        for interval in named.get("time_intervals", []):
            locations.add(str(interval.get("location", "UTC")))
    return locations


def inline_secrets(node: Any, path: str = "") -> list[str]:
    """Where a credential is written inline (``global.slack_api_url``, ``…routing_key`` …)."""
    found: list[str] = []
    if isinstance(node, Mapping):
        for key, value in node.items():
            here = f"{path}.{key}" if path else str(key)
            if key in SECRET_KEYS and value not in (None, ""):
                found.append(here)
            found.extend(inline_secrets(value, here))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found.extend(inline_secrets(item, f"{path}[{index}]"))
    return found


def secret_files(node: Any) -> list[str]:
    """Every ``*_file`` path the configuration reads a credential from."""
    found: list[str] = []
    if isinstance(node, Mapping):
        for key, value in node.items():
            if str(key).endswith("_file") and isinstance(value, str):
                found.append(value)
            else:
                found.extend(secret_files(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(secret_files(item))
    return found


def local_delivery(
    webhook_url: str,
    *,
    config: Mapping[str, Any] | None = None,
    config_dir: Path = CONFIG_FILE.parent,
    timings: Timings | None = TEST_TIMINGS,
) -> dict[str, Any]:
    """The committed configuration with every receiver delivering to ``webhook_url`` instead.

    Kept as committed: ``route`` (matchers, grouping, ``active_time_intervals``, ``continue``),
    ``inhibit_rules``, ``time_intervals``, ``templates`` (made absolute against ``config_dir``
    so the file can live anywhere) and receiver names. ``timings`` (None: keep them) override the
    group timings on the root route and on each route that sets its own.
    """
    derived = copy.deepcopy(dict(config if config is not None else load()))
    derived["receivers"] = [
        {
            "name": receiver["name"],
            "webhook_configs": [
                {"url": webhook_url, "send_resolved": sends_resolved(receiver), "max_alerts": 0}
            ],
        }
        for receiver in derived.get("receivers", [])
    ]
    derived["templates"] = [
        str(glob) if Path(glob).is_absolute() else str(config_dir.resolve() / glob)
        for glob in derived.get("templates", [])
    ]
    if timings is not None:
        for index, node in enumerate(routes(derived)):
            for key, value in timings.items():
                if index == 0 or key in node:  # index 0 is the root route
                    node[key] = value
    return derived

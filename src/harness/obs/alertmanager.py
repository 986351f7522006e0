"""A throwaway Alertmanager and the ``amtool`` checks, both on the real Debian binaries.

:class:`AlertmanagerServer` runs ``prometheus-alertmanager`` with gossip off
(``--cluster.listen-address=`` empty: a lone instance never waits for peers), storage in a
scratch directory, and a free port. Start it from a file path (relative ``templates`` globs
resolve against the file, as in production) or from YAML text / a mapping (written into the
scratch directory, with ``templates_dir`` copied beside it as ``templates/``). A
:class:`~harness.obs.tzclock.ZoneClock` pins the wall clock its time intervals see.

The ``amtool`` wrappers answer what a running server cannot: does the file parse
(``check-config``), where does a label set route (``config routes test``, which ignores time
intervals), and what does a template render to (``template render``, Alertmanager's own
template engine and default templates).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from harness.obs.alertmanager_config import (
    CONFIG_FILE,
    IN_BUSINESS_HOURS,
    TEMPLATES_DIR,
    TEST_TIMINGS,
    Timings,
    load,
    local_delivery,
    time_interval_locations,
)
from harness.obs.servers import LocalServer, find_binary
from harness.obs.tzclock import ZoneClock

PACKAGE = "prometheus-alertmanager"


class AlertmanagerServer(LocalServer):
    """Alertmanager 0.25 on a free port; alerts in and out through API v2."""

    name = "alertmanager"
    binaries = ("prometheus-alertmanager", "alertmanager")
    package = PACKAGE

    def __init__(
        self,
        config: Path | str | Mapping[str, Any],
        *,
        templates_dir: Path | None = None,
        zone_clock: ZoneClock | None = None,
        log_level: str = "info",
        env: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        super().__init__(env=env, host=host)
        self._config_source = config
        self.templates_dir = templates_dir
        self.zone_clock = zone_clock
        self.log_level = log_level
        self.zone_offset: int | None = None
        """Seconds the pinned zones run ahead of UTC (None: real zones)."""

    @property
    def config_path(self) -> Path:
        if isinstance(self._config_source, Path):
            return self._config_source
        if self.workdir is None:
            raise RuntimeError("alertmanager is not running")
        return self.workdir / "alertmanager.yml"

    def _prepare(self, workdir: Path) -> dict[str, str]:
        if not isinstance(self._config_source, Path):
            _write_config(workdir / "alertmanager.yml", self._config_source)
        elif not self._config_source.is_file():
            raise FileNotFoundError(f"alertmanager config {self._config_source} not found")
        if self.templates_dir is not None:
            shutil.copytree(self.templates_dir, workdir / "templates")
        if self.zone_clock is not None:
            now = datetime.now(UTC)
            self.zone_offset = self.zone_clock.offset_seconds(now)
            return self.zone_clock.write(workdir / "zoneinfo", now)
        return {}

    def local_time(self, at: datetime | None = None) -> datetime:
        """The wall-clock time the pinned zones read at ``at`` (default now), naive."""
        if self.zone_offset is None:
            raise RuntimeError("no zone clock: the time intervals use the real zones")
        instant = (at or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
        return instant + timedelta(seconds=self.zone_offset)

    def _argv(self, binary: str, workdir: Path, port: int) -> list[str]:
        config = (
            self._config_source
            if isinstance(self._config_source, Path)
            else workdir / "alertmanager.yml"
        )
        return [
            binary,
            f"--config.file={config}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address={self.host}:{port}",
            f"--web.external-url=http://{self.host}:{port}",
            "--cluster.listen-address=",
            f"--log.level={self.log_level}",
        ]

    # --- API v2 ------------------------------------------------------------------------------

    def post_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        """POST /api/v2/alerts: each alert ``{"labels": …, "annotations": …, "startsAt": …}``.

        An ``endsAt`` in the past resolves an alert; without one it fires until
        ``resolve_timeout`` passes with no re-post (Prometheus re-posts while it fires).
        """
        self._post("/api/v2/alerts", json=[dict(a) for a in alerts])

    def alerts(
        self,
        *,
        active: bool = True,
        silenced: bool = True,
        inhibited: bool = True,
        unprocessed: bool = True,
        filters: Sequence[str] = (),
        receiver: str | None = None,
    ) -> list[dict[str, Any]]:
        """GET /api/v2/alerts: each with ``labels``, ``receivers`` and ``status`` (``state``
        active|suppressed|unprocessed, ``inhibitedBy`` and ``silencedBy`` fingerprints)."""
        params: list[tuple[str, str]] = [
            ("active", _flag(active)),
            ("silenced", _flag(silenced)),
            ("inhibited", _flag(inhibited)),
            ("unprocessed", _flag(unprocessed)),
        ]
        params.extend(("filter", f) for f in filters)
        if receiver is not None:
            params.append(("receiver", receiver))
        return list(self._get_json("/api/v2/alerts", params))

    def status(self) -> dict[str, Any]:
        """GET /api/v2/status: version, uptime, cluster and the loaded ``config.original``."""
        return dict(self._get_json("/api/v2/status"))

    def reload(self, config: str | Mapping[str, Any] | None = None) -> None:
        """Re-read the configuration (POST /-/reload), first replacing it if ``config`` is given.

        Replacing works only for a server started from text or a mapping: the committed file
        given as a path is never written.
        """
        if config is not None:
            if isinstance(self._config_source, Path):
                raise ValueError("started from a file path: reload(config=…) would overwrite it")
            _write_config(self.config_path, config)
        response = self.http.post("/-/reload")
        if response.is_error:
            raise RuntimeError(f"alertmanager reload failed: {response.text.strip()}")


def local_alertmanager(
    webhook_url: str,
    *,
    local_time: datetime | None = IN_BUSINESS_HOURS,
    timings: Timings | None = TEST_TIMINGS,
    config_file: Path = CONFIG_FILE,
    log_level: str = "info",
) -> AlertmanagerServer:
    """An unstarted Alertmanager with the committed routing, delivering to ``webhook_url``.

    See :func:`harness.obs.alertmanager_config.local_delivery` for what is kept. ``local_time``
    pins the clock of the time intervals (default: inside business hours, so P2 alerts are
    delivered whenever the drill runs); None leaves the real clock.
    """
    config = local_delivery(
        webhook_url, config=load(config_file), config_dir=config_file.parent, timings=timings
    )
    clock = None
    if local_time is not None:
        clock = ZoneClock(local_time, tuple(sorted(time_interval_locations(config))))
    return AlertmanagerServer(config, zone_clock=clock, log_level=log_level)


def alert_payload(
    labels: Mapping[str, str],
    annotations: Mapping[str, str] | None = None,
    *,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    generator_url: str | None = None,
) -> dict[str, Any]:
    """One alert for :meth:`AlertmanagerServer.post_alerts` (API v2 ``postableAlert``)."""
    alert: dict[str, Any] = {"labels": dict(labels), "annotations": dict(annotations or {})}
    if starts_at is not None:
        alert["startsAt"] = starts_at.isoformat()
    if ends_at is not None:
        alert["endsAt"] = ends_at.isoformat()
    if generator_url is not None:
        alert["generatorURL"] = generator_url
    return alert


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _write_config(path: Path, config: str | Mapping[str, Any]) -> None:
    text = config if isinstance(config, str) else yaml.safe_dump(dict(config), sort_keys=False)
    path.write_text(text, encoding="utf-8")


# --- amtool ---------------------------------------------------------------------------------


class AmtoolError(RuntimeError):
    """amtool exited non-zero; the message carries its output."""


def amtool(*args: str, timeout: float = 30.0) -> str:
    """Run ``amtool`` (no server contacted unless ``args`` ask for one); returns stdout."""
    binary = find_binary(("amtool",), PACKAGE)
    result = subprocess.run(
        [binary, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise AmtoolError(
            f"amtool {' '.join(args)} exited {result.returncode}:\n"
            f"{result.stdout.strip()}\n{result.stderr.strip()}"
        )
    return result.stdout


def check_config(path: Path = CONFIG_FILE) -> str:
    """``amtool check-config``: parses the file and its templates; returns the summary."""
    return amtool("check-config", str(path))


def route_receivers(labels: Mapping[str, str], config_file: Path = CONFIG_FILE) -> list[str]:
    """The receivers a label set routes to (``amtool config routes test``).

    The routing tree only: ``active_time_intervals`` / ``mute_time_intervals`` and inhibition
    are not evaluated here; a running Alertmanager proves those.
    """
    matchers = [f'{key}="{_escape(value)}"' for key, value in labels.items()]
    output = amtool("config", "routes", "test", f"--config.file={config_file}", *matchers)
    return [name.strip() for name in output.strip().split(",") if name.strip()]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def render_template(
    text: str,
    data: Mapping[str, Any] | None = None,
    *,
    templates_glob: str = str(TEMPLATES_DIR / "*.tmpl"),
    html: bool = False,
) -> str:
    """Render ``text`` (e.g. a Slack ``title`` from the config) as Alertmanager would.

    ``data`` is template data in Alertmanager's layout (``receiver``, ``status``, ``alerts``
    with ``labels``/``annotations``/``startsAt``…, ``groupLabels``, ``commonLabels``,
    ``commonAnnotations``, ``externalURL``); ``html`` selects html/template escaping, which
    Alertmanager applies to e-mail ``html`` bodies.
    """
    args = [
        "template",
        "render",
        f"--template.glob={templates_glob}",
        f"--template.text={text}",
        f"--template.type={'html' if html else 'text'}",
    ]
    if data is None:
        return amtool(*args)
    with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8") as handle:
        json.dump(data, handle)
        handle.flush()
        return amtool(*args, f"--template.data={handle.name}")

"""A throwaway Prometheus: the scrape convention of issue 12, rule files, and its HTTP API.

The generated configuration is the one ``mgh obs up`` and the fire drills use: one job
``mediagw`` whose targets each carry the target label ``component`` (a service name, or
``all-in-one``), so ``up{job="mediagw"}`` is the liveness series alert rules watch. Storage lives
in a scratch directory removed on stop; ``--web.enable-lifecycle`` lets :meth:`reload` re-read
rule files a test rewrote.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from harness.obs.servers import LocalServer

JOB = "mediagw"
DEFAULT_INTERVAL = 15.0


@dataclass(frozen=True)
class ScrapeTarget:
    """A ``/metrics`` URL and the component it belongs to (target label ``component``)."""

    url: str
    component: str

    def static_config(self) -> dict[str, Any]:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise ValueError(f"scrape target must be http(s)://host:port/path, got {self.url!r}")
        # __metrics_path__ / __scheme__ in a target group's labels override the job's defaults,
        # so targets with different paths still share the one job.
        return {
            "targets": [parts.netloc],
            "labels": {
                "component": self.component,
                "__metrics_path__": parts.path or "/metrics",
                "__scheme__": parts.scheme,
            },
        }


def duration(seconds: float) -> str:
    """A Prometheus / Alertmanager duration string: ``15s``, ``500ms``."""
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    millis = round(seconds * 1000)
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


def alertmanager_target(url: str) -> dict[str, Any]:
    """An ``alerting.alertmanagers`` entry for one Alertmanager URL (API v2)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"Alertmanager URL must be http(s)://host:port, got {url!r}")
    entry: dict[str, Any] = {
        "scheme": parts.scheme,
        "api_version": "v2",
        "static_configs": [{"targets": [parts.netloc]}],
    }
    if parts.path.strip("/"):
        entry["path_prefix"] = parts.path
    return entry


def prometheus_config(
    targets: Sequence[ScrapeTarget | tuple[str, str]] = (),
    *,
    interval: float = DEFAULT_INTERVAL,
    evaluation_interval: float | None = None,
    rule_files: Sequence[Path | str] = (),
    alertmanager_url: str | None = None,
    extra_scrape_configs: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """prometheus.yml as a mapping: job ``mediagw`` + extras, rules, one Alertmanager."""
    scrape_targets = [t if isinstance(t, ScrapeTarget) else ScrapeTarget(*t) for t in targets]
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": duration(interval),
            "scrape_timeout": duration(min(interval, 10.0)),
            "evaluation_interval": duration(evaluation_interval or interval),
        },
        "rule_files": [str(Path(p).resolve()) for p in rule_files],
        "scrape_configs": [],
    }
    if scrape_targets:
        config["scrape_configs"].append(
            {"job_name": JOB, "static_configs": [t.static_config() for t in scrape_targets]}
        )
    config["scrape_configs"].extend(dict(c) for c in extra_scrape_configs)
    if alertmanager_url is not None:
        config["alerting"] = {"alertmanagers": [alertmanager_target(alertmanager_url)]}
    return config


def _api_time(value: float | datetime) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("pass an aware datetime (or a Unix timestamp)")
        return f"{value.timestamp():.3f}"
    return f"{value:.3f}"


class PrometheusQueryError(RuntimeError):
    """Prometheus answered a query with ``status: error`` (bad PromQL, timeout …)."""


class PrometheusServer(LocalServer):
    """``prometheus`` 2.x on a free port, scraping ``targets`` into a scratch TSDB.

    ``interval`` is both the scrape and the rule evaluation interval unless
    ``evaluation_interval`` is given: 15 s like production by default, 1 s in drills.

    ``resend_delay`` (``--rules.alert.resend-delay``) defaults to the evaluation interval rather
    than Prometheus's 1 m. Measured: Prometheus hands static Alertmanager targets to its notifier
    only after the discovery manager's ~5 s update tick, so the first send of an alert that fires
    at once is dropped ("prometheus_notifications_dropped_total"); with 1 m the first
    notification of a drill would wait a minute, with the interval it arrives in ~6 s.
    """

    name = "prometheus"
    binaries = ("prometheus",)
    package = "prometheus"

    def __init__(
        self,
        targets: Sequence[ScrapeTarget | tuple[str, str]] = (),
        *,
        interval: float = DEFAULT_INTERVAL,
        evaluation_interval: float | None = None,
        rule_files: Sequence[Path | str] = (),
        alertmanager_url: str | None = None,
        extra_scrape_configs: Sequence[Mapping[str, Any]] = (),
        resend_delay: float | None = None,
        env: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        super().__init__(env=env, host=host)
        self.resend_delay = resend_delay or evaluation_interval or interval
        self.config = prometheus_config(
            targets,
            interval=interval,
            evaluation_interval=evaluation_interval,
            rule_files=rule_files,
            alertmanager_url=alertmanager_url,
            extra_scrape_configs=extra_scrape_configs,
        )

    @property
    def config_path(self) -> Path:
        if self.workdir is None:
            raise RuntimeError("prometheus is not running")
        return self.workdir / "prometheus.yml"

    def _prepare(self, workdir: Path) -> dict[str, str]:
        (workdir / "prometheus.yml").write_text(
            yaml.safe_dump(self.config, sort_keys=False), encoding="utf-8"
        )
        return {}

    def _argv(self, binary: str, workdir: Path, port: int) -> list[str]:
        return [
            binary,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address={self.host}:{port}",
            f"--web.external-url=http://{self.host}:{port}",  # alerts' generatorURL links here
            "--web.enable-lifecycle",
            "--storage.tsdb.retention.time=1d",
            f"--rules.alert.resend-delay={duration(self.resend_delay)}",
        ]

    # --- API ---------------------------------------------------------------------------------

    def _data(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        body = self._get_json(path, params) if params is None else self._query_api(path, params)
        if body.get("status") != "success":
            raise PrometheusQueryError(f"{path}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def _query_api(self, path: str, params: Mapping[str, str]) -> Any:
        # POST form: long PromQL expressions do not hit URL length limits; errors keep the body.
        response = self.http.post(path, data=dict(params))
        if response.status_code in (400, 422, 503):
            body = response.json()
            raise PrometheusQueryError(f"{params.get('query')!r}: {body.get('error')}")
        response.raise_for_status()
        return response.json()

    def query(self, expr: str, time: float | datetime | None = None) -> list[dict[str, Any]]:
        """Instant query: the result's series (``metric`` labels, ``value`` [ts, "v"]).

        A scalar result comes back as one series with no labels, so callers handle one shape.
        """
        params = {"query": expr}
        if time is not None:
            params["time"] = _api_time(time)
        data = self._data("/api/v1/query", params)
        if data["resultType"] == "vector":
            return list(data["result"])
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        raise PrometheusQueryError(f"{expr!r}: unexpected result type {data['resultType']}")

    def query_value(self, expr: str, time: float | datetime | None = None) -> float | None:
        """The single value of an instant query; None when it returns no series."""
        result = self.query(expr, time)
        if not result:
            return None
        if len(result) > 1:
            raise PrometheusQueryError(f"{expr!r} returned {len(result)} series, expected one")
        return float(result[0]["value"][1])

    def query_range(
        self,
        expr: str,
        start: float | datetime,
        end: float | datetime,
        step: float,
    ) -> list[dict[str, Any]]:
        """Range query: series with ``values`` [[ts, "v"], …]."""
        data = self._data(
            "/api/v1/query_range",
            {"query": expr, "start": _api_time(start), "end": _api_time(end), "step": f"{step}"},
        )
        return list(data["result"])

    def alerts(self) -> list[dict[str, Any]]:
        """Active alerts (pending and firing) as Prometheus holds them: GET /api/v1/alerts."""
        return list(self._data("/api/v1/alerts")["alerts"])

    def rules(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Loaded rule groups with their rules' health and state; ``kind`` = alert | record."""
        path = "/api/v1/rules" if kind is None else f"/api/v1/rules?type={kind}"
        return list(self._data(path)["groups"])

    def targets(self, state: str = "active") -> list[dict[str, Any]]:
        """Scrape targets (``active`` or ``dropped``) with ``health``, ``labels``, last error."""
        data = self._data(f"/api/v1/targets?state={state}")
        key = "activeTargets" if state == "active" else "droppedTargets"
        return list(data[key])

    def reload(self) -> None:
        """Re-read the configuration and rule files (POST /-/reload)."""
        response = self.http.post("/-/reload")
        if response.is_error:
            raise RuntimeError(f"prometheus reload failed: {response.text.strip()}")

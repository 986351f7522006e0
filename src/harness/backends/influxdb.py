"""InfluxDB for load results: env URL, testcontainers, or a throwaway ``influxd`` (1.x).

Debian ships InfluxDB 1.6, which speaks the v1 API (``/write`` line protocol, ``/query``
InfluxQL) and not ``/api/v2/write``; the results writer (``harness.load.influx``) speaks both.
A URL names the flavour: ``http://host:8086/db`` (1.x, database in the path) or
``influx2://host:8086/org/bucket`` with ``INFLUX_TOKEN`` in the environment (2.x, written with
``influxdb-client``). The throwaway server keeps its data, WAL and meta directories in a private
scratch directory, listens on free ports, and reports no usage.
"""

from __future__ import annotations

import shutil
from typing import Any
from urllib.parse import urlsplit

import httpx

from harness.backends.base import Backend, BackendSpec, BackendUnavailable
from harness.backends.process import ManagedProcess, free_port, make_workdir

CONTAINER_IMAGE = "influxdb:1.8"
DEFAULT_DATABASE = "mgh_load"

_CONFIG = """\
reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{workdir}/meta"

[data]
  dir = "{workdir}/data"
  wal-dir = "{workdir}/wal"
  query-log-enabled = false
  wal-fsync-delay = "100ms"

[http]
  enabled = true
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false
  max-body-size = 0

[monitor]
  store-enabled = false

[continuous_queries]
  enabled = false
"""


def server_url(url: str) -> str:
    """``scheme://host:port`` of an InfluxDB URL (for ``/ping``)."""
    parts = urlsplit(url)
    scheme = "https" if parts.scheme in ("https", "influx2s") else "http"
    return f"{scheme}://{parts.netloc}"


class InfluxSpec(BackendSpec):
    name = "influxdb"
    env_var = "MG_INFLUX_URL"
    install_hint = "the Debian package 'influxdb' (1.x), or set MG_INFLUX_URL to a 2.x server"

    def validate_url(self, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https", "influx2", "influx2s") or not parts.netloc:
            raise ValueError(
                "expected http://host:8086/database (1.x) or influx2://host:8086/org/bucket (2.x)"
            )
        if parts.scheme.startswith("influx2") and len(parts.path.strip("/").split("/")) != 2:
            raise ValueError(
                "a 2.x URL names its organisation and bucket: influx2://host/org/bucket"
            )
        return url

    def probe(self, url: str) -> None:
        response = httpx.get(f"{server_url(url)}/ping", timeout=2)
        if response.status_code != 204:
            raise ConnectionError(f"/ping answered {response.status_code}")

    def start_container(self) -> Backend:
        from testcontainers.core.container import DockerContainer  # noqa: PLC0415 — needs Docker

        container = DockerContainer(CONTAINER_IMAGE).with_exposed_ports(8086).start()

        def url_of(c: Any) -> str:
            host, port = c.get_container_host_ip(), c.get_exposed_port(8086)
            return f"http://{host}:{port}/{DEFAULT_DATABASE}"

        return self._container_backend(container, url_of)

    def process_available(self) -> bool:
        return shutil.which("influxd") is not None

    def start_process(self) -> Backend:
        binary = shutil.which("influxd")
        if binary is None:
            raise BackendUnavailable(f"influxdb: influxd not found; install {self.install_hint}")
        workdir = make_workdir("influxdb")
        http_port, rpc_port = free_port(), free_port()
        config = workdir / "influxdb.conf"
        config.write_text(
            _CONFIG.format(workdir=workdir, http_port=http_port, rpc_port=rpc_port),
            encoding="utf-8",
        )
        process = ManagedProcess(self.name, [binary, "-config", str(config)], workdir=workdir)
        return self._process_backend(process, f"http://127.0.0.1:{http_port}/{DEFAULT_DATABASE}")


SPEC = InfluxSpec()

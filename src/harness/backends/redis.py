"""Redis: env URL, testcontainers, or a throwaway ``redis-server`` with nothing on disk.

The throwaway server is given many logical databases so tests can each take one (see
harness.isolation.RedisDatabases).
"""

from __future__ import annotations

import shutil
from typing import Any

import redis

from harness.backends.base import Backend, BackendSpec, BackendUnavailable
from harness.backends.process import ManagedProcess, free_port, make_workdir

CONTAINER_IMAGE = "redis:7-alpine"
THROWAWAY_DATABASES = 256


class RedisSpec(BackendSpec):
    name = "redis"
    env_var = "MG_REDIS_URL"
    install_hint = "the Debian package 'redis-server'"

    def validate_url(self, url: str) -> str:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected redis://host:port/db")
        return url

    def probe(self, url: str) -> None:
        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        try:
            client.ping()
        finally:
            client.close()

    def start_container(self) -> Backend:
        from testcontainers.community.redis import RedisContainer  # noqa: PLC0415 — needs Docker

        container = RedisContainer(CONTAINER_IMAGE).start()

        def url_of(c: Any) -> str:
            return f"redis://{c.get_container_host_ip()}:{c.get_exposed_port(6379)}/0"

        return self._container_backend(container, url_of)

    def process_available(self) -> bool:
        return shutil.which("redis-server") is not None

    def start_process(self) -> Backend:
        binary = shutil.which("redis-server")
        if binary is None:
            raise BackendUnavailable(f"redis: redis-server not found; install {self.install_hint}")
        workdir = make_workdir("redis")
        port = free_port()
        argv = [
            binary,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(workdir),
            "--databases", str(THROWAWAY_DATABASES),
            "--protected-mode", "no",
            "--daemonize", "no",
        ]  # fmt: skip
        process = ManagedProcess(self.name, argv, workdir=workdir)
        url = f"redis://127.0.0.1:{port}/0"
        return self._process_backend(process, url)


SPEC = RedisSpec()

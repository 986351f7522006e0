"""The reference services as processes: start them on free ports, wait until they are ready.

The launched stack (all-in-one or per-service) and the contract suites' direct services start
``python -m mediagw serve <service>`` the same way; this module is that one way, so both wire
peers (discovery → SONA, playback → sync) and report a crashed start-up with its log alike.
"""

from __future__ import annotations

import sys
import time
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness.backends.process import ManagedProcess, free_port

SERVICES = ("auth", "sona", "sync", "discovery", "playback", "ingestion")
"""In start order: callees (SONA, sync) before their callers (discovery, playback)."""
PEER_URLS = {"discovery": {"MG_SONA_URL": "sona"}, "playback": {"MG_SYNC_URL": "sync"}}


class StackError(RuntimeError):
    """The stack did not start; the message carries the tail of its log."""


def wait_ready(
    url: str,
    timeout: float,
    process: ManagedProcess | None = None,
    probe: Literal["ready", "live"] = "ready",
) -> None:
    """Until ``url``'s ``/health/<probe>`` answers 200; a process that dies meanwhile, or a
    timeout, raises :class:`StackError` with the process's log tail."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if process is not None:
            try:
                process.check_running()
            except RuntimeError as exc:
                raise StackError(str(exc)) from None
        try:
            with urllib.request.urlopen(f"{url}/health/{probe}", timeout=2) as response:  # noqa: S310 — our own loopback URL
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.1)
    tail = process.log_tail() if process else ""
    raise StackError(f"{url} not {probe} after {timeout:.0f}s ({last})\n{tail}")


def serve_argv(service: str, port: int, workers: int = 1) -> list[str]:
    """The command line of one service (or ``gateway``) on ``port``; the worker count is always
    given (``mediagw serve`` defaults to one per core)."""
    return [sys.executable, "-m", "mediagw", "serve", service, "--port", str(port),
            "--workers", str(workers)]  # fmt: skip


def start_services(
    names: tuple[str, ...],
    env: dict[str, str],
    workdir: Path,
    cleanup: ExitStack,
    timeout: float = 90.0,
) -> tuple[dict[str, str], dict[str, ManagedProcess]]:
    """Start ``names`` (in :data:`SERVICES` order) with ``env``, each on a free port, peers
    pointed at each other; returns their URLs and processes once every one is ready (they
    start side by side, then are waited for). Each process is terminated by ``cleanup``."""
    processes = ServiceProcesses(workdir)
    cleanup.callback(processes.stop_all)
    urls: dict[str, str] = {}
    for name in (service for service in SERVICES if service in names):
        own_env = dict(env)
        for variable, peer in PEER_URLS.get(name, {}).items():
            if peer in urls:
                own_env[variable] = urls[peer]
        urls[name] = processes.spawn(name, own_env).url
    for running in processes.started:
        wait_ready(running.url, timeout, running.process)
    return urls, {running.name: running.process for running in processes.started}


@dataclass(frozen=True)
class RunningService:
    name: str
    url: str
    process: ManagedProcess

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


class ServiceProcesses:
    """Service processes started one by one, as a test needs them, and all stopped together.

    Suites that start a service with an environment of their own (a weak secret, a tight
    timeout, a gateway in front of two services) use this instead of ``subprocess`` by hand, so
    every one of them waits the same way and a start-up that fails shows the service's log.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[RunningService] = []

    def spawn(self, service: str, env: dict[str, str], port: int | None = None) -> RunningService:
        """``service`` (or ``gateway``) started on ``port`` (a free one by default), its log in
        a directory of its own; not waited for."""
        port = port or free_port()
        workdir = self.workdir / f"{service}-{len(self.started)}"
        workdir.mkdir(parents=True)
        process = ManagedProcess(service, serve_argv(service, port), workdir=workdir, env=env)
        running = RunningService(service, f"http://127.0.0.1:{port}", process)
        self.started.append(running)
        process.start()
        return running

    def start(
        self,
        service: str,
        env: dict[str, str],
        *,
        port: int | None = None,
        probe: Literal["ready", "live"] = "ready",
        timeout: float = 30.0,
    ) -> RunningService:
        """:meth:`spawn`, then wait until its ``/health/<probe>`` answers 200."""
        running = self.spawn(service, env, port)
        wait_ready(running.url, timeout, running.process, probe)
        return running

    def stop_all(self) -> None:
        for running in reversed(self.started):
            running.process.terminate()

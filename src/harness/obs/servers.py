"""What Prometheus and Alertmanager runners share: a throwaway server process with an HTTP API.

Each runner starts the real Debian binary on a free loopback port with its storage in a private
scratch directory, waits for ``/-/ready``, and removes everything on :meth:`LocalServer.stop`.
A missing binary fails at once with one line naming the Debian package, as every backend does.
"""

from __future__ import annotations

import abc
import os
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from harness.backends.base import BackendUnavailable, BackendUnhealthy
from harness.backends.process import ManagedProcess, ProcessExited, free_port, make_workdir

READY_TIMEOUT = 30.0
_PORT_ATTEMPTS = 3

T = TypeVar("T")


def find_binary(names: tuple[str, ...], package: str) -> str:
    """The first of ``names`` on PATH, else BackendUnavailable naming the package."""
    for name in names:
        if found := shutil.which(name):
            return found
    wanted = " or ".join(f"'{n}'" for n in names)
    raise BackendUnavailable(
        f"{names[0]}: binary {wanted} not found on PATH; install the Debian package '{package}'"
    )


def wait_until(
    probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.1
) -> T:
    """Poll ``probe`` until it returns something other than None (or falsy), or time out."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(interval)


class LocalServer(abc.ABC):
    """A server binary on a free port in a scratch directory; a context manager."""

    name: str
    binaries: tuple[str, ...]
    package: str

    def __init__(self, *, env: Mapping[str, str] | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self.extra_env = dict(env or {})
        self.port: int | None = None
        self.workdir: Path | None = None
        self._process: ManagedProcess | None = None
        self._http: httpx.Client | None = None

    # --- what each server supplies -----------------------------------------------------------

    @abc.abstractmethod
    def _prepare(self, workdir: Path) -> dict[str, str]:
        """Write config files into ``workdir``; return extra environment for the process."""

    @abc.abstractmethod
    def _argv(self, binary: str, workdir: Path, port: int) -> list[str]:
        """The command line, listening on ``host:port``, keeping its data under ``workdir``."""

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError(f"{self.name} is not running")
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.alive

    @property
    def log_path(self) -> Path | None:
        return self._process.log_path if self._process is not None else None

    def start(self, timeout: float = READY_TIMEOUT) -> Self:
        if self.alive:
            return self
        binary = find_binary(self.binaries, self.package)
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            workdir = make_workdir(self.name)
            try:
                env = self._prepare(workdir)
            except BaseException:
                shutil.rmtree(workdir, ignore_errors=True)
                raise
            port = free_port(self.host)
            process = ManagedProcess(
                self.name,
                self._argv(binary, workdir, port),
                workdir=workdir,
                env=_environment({**env, **self.extra_env}),
            )
            self.workdir, self.port, self._process = workdir, port, process
            self._http = httpx.Client(base_url=f"http://{self.host}:{port}", timeout=10)
            process.start()
            try:
                self._wait_ready(timeout)
            except ProcessExited as exc:
                self.stop()
                # Another process may have taken the port between free_port() and the bind.
                if "address already in use" in str(exc) and attempt < _PORT_ATTEMPTS:
                    continue
                raise
            except BaseException:
                self.stop()
                raise
            return self
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover

    def _wait_ready(self, timeout: float) -> None:
        assert self._process is not None
        assert self._http is not None
        deadline = time.monotonic() + timeout
        while True:
            self._process.check_running()
            try:
                if self._http.get("/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() >= deadline:
                raise BackendUnhealthy(
                    f"{self.name} not ready within {timeout:.0f} s; log {self._process.log_path}:\n"
                    f"{self._process.log_tail()}"
                )
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the server but keep its port and directory: a crash, for fault drills."""
        if self._process is not None:
            self._process.kill()

    def restart(self, timeout: float = READY_TIMEOUT) -> None:
        """Run the same command again (same port, same data) and wait until it is ready."""
        if self._process is None:
            raise RuntimeError(f"{self.name} was never started")
        self._process.start()
        self._wait_ready(timeout)

    def stop(self) -> None:
        """Stop the process and delete its scratch directory (config, storage, log)."""
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._process is not None:
            self._process.stop()
            self._process = None
        self.port = None
        self.workdir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- HTTP --------------------------------------------------------------------------------

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            raise RuntimeError(f"{self.name} is not running")
        return self._http

    def _get_json(self, path: str, params: Any = None) -> Any:
        response = self.http.get(path, params=params)
        _raise_for_status(self.name, response)
        return response.json()

    def _post(self, path: str, json: Any = None, data: Mapping[str, str] | None = None) -> Any:
        response = self.http.post(path, json=json, data=data)
        _raise_for_status(self.name, response)
        return response.json() if response.content else None


def _raise_for_status(name: str, response: httpx.Response) -> None:
    if response.is_error:
        raise RuntimeError(
            f"{name}: {response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text.strip()[:500]}"
        )


def _environment(extra: Mapping[str, str]) -> dict[str, str] | None:
    if not extra:
        return None  # inherit ours unchanged
    return {**os.environ, **extra}

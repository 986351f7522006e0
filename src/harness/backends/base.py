"""One interface for every backend, whatever runs it.

A :class:`Backend` is a running (or attached) server with a URL. How it runs — an address from the
environment, a container, a throwaway local process, an embedded engine — is the :class:`Mode`;
what can be done to it for fault injection is its :class:`Controls`. Each backend module
provides a :class:`BackendSpec` that knows how to produce a backend in each mode, and
:func:`resolve` picks the first mode that applies, in the order of DESIGN.md §3.
"""

from __future__ import annotations

import abc
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, Self

from harness.backends.containers import ContainerControls
from harness.backends.docker_engine import docker_available
from harness.backends.process import ManagedProcess


class Mode(StrEnum):
    """How a backend is provided, in resolution order."""

    ENV = "env"
    CONTAINER = "container"
    PROCESS = "process"
    EMBEDDED = "embedded"


RESOLUTION_ORDER: tuple[Mode, ...] = (Mode.ENV, Mode.CONTAINER, Mode.PROCESS, Mode.EMBEDDED)


class BackendUnavailable(RuntimeError):
    """No way to provide a backend on this machine; the message is one line saying what to do."""


class FaultNotSupported(RuntimeError):
    """A fault hook was called on a backend the harness does not own (attached or embedded)."""


class BackendUnhealthy(TimeoutError):
    """A backend did not answer its health probe in time."""


class Controls(Protocol):
    """Lifecycle and fault hooks of whatever runs a backend."""

    def stop(self) -> None: ...
    def kill(self) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def restart(self) -> str | None:
        """Restart; returns the new URL when restarting moved the backend (else None)."""
        ...


@dataclass
class NotOwned:
    """Controls for a backend the harness did not start: stopping it is a no-op, faults refuse."""

    name: str
    why: str

    def stop(self) -> None:
        return None

    def _refuse(self, hook: str) -> None:
        raise FaultNotSupported(
            f"{self.name}: cannot {hook} — {self.why}; fault hooks need a backend the harness "
            "starts itself (process or container mode)"
        )

    def kill(self) -> None:
        self._refuse("kill")

    def pause(self) -> None:
        self._refuse("pause")

    def resume(self) -> None:
        self._refuse("resume")

    def restart(self) -> str | None:
        self._refuse("restart")
        return None


Probe = Callable[[str], None]
"""A health probe: returns when the backend at the URL answers, raises otherwise."""


@dataclass
class Backend:
    """A backend ready to use: a URL, a health probe and the hooks to stop or hurt it."""

    name: str
    mode: Mode
    url: str
    probe: Probe = field(repr=False)
    controls: Controls = field(repr=False)
    extras: dict[str, Any] = field(default_factory=dict, repr=False)
    """Mode-specific handles, e.g. the single in-process client of an embedded engine."""

    def health(self) -> str | None:
        """``None`` when healthy, else the reason the probe failed (one line)."""
        try:
            self.probe(self.url)
        except Exception as exc:  # noqa: BLE001 — any probe failure means "not healthy", reported as text
            return f"{type(exc).__name__}: {exc}".splitlines()[0]
        return None

    def wait_healthy(self, timeout: float = 30.0, interval: float = 0.05) -> float:
        """Block until the probe passes; returns seconds waited. Raises BackendUnhealthy."""
        started = time.monotonic()
        deadline = started + timeout
        while True:
            problem = self.health()
            if problem is None:
                return time.monotonic() - started
            if time.monotonic() >= deadline:
                raise BackendUnhealthy(
                    f"{self.name} ({self.mode}) at {self.url} not healthy after {timeout:.0f}s: "
                    f"{problem}"
                )
            time.sleep(interval)

    def stop(self) -> None:
        self.controls.stop()

    def kill(self) -> None:
        self.controls.kill()

    def pause(self) -> None:
        self.controls.pause()

    def resume(self) -> None:
        self.controls.resume()

    def restart(self, timeout: float = 30.0) -> float:
        """Restart the backend and wait until it answers again; returns seconds to healthy."""
        self.url = self.controls.restart() or self.url
        return self.wait_healthy(timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class BackendSpec(abc.ABC):
    """How to provide one kind of backend in each mode. One subclass per backend module."""

    name: str
    env_var: str
    install_hint: str
    """What to install when nothing applies (Debian or PyPI package names)."""

    @abc.abstractmethod
    def probe(self, url: str) -> None:
        """Return when the backend at ``url`` answers; raise otherwise."""

    def validate_url(self, url: str) -> str:
        """Check an address from the environment; raise ValueError naming the problem."""
        return url

    def attach(self, url: str) -> Backend:
        """Use a backend someone else runs (``env`` mode)."""
        try:
            url = self.validate_url(url)
        except ValueError as exc:
            raise BackendUnavailable(f"{self.env_var}={url!r} is not usable: {exc}") from None
        return Backend(
            self.name,
            Mode.ENV,
            url,
            self.probe,
            NotOwned(self.name, f"attached via {self.env_var}"),
        )

    @abc.abstractmethod
    def start_container(self) -> Backend:
        """Start a testcontainers container (needs a Docker engine)."""

    def _container_backend(self, container: Any, url_of: Callable[[Any], str]) -> Backend:
        """Wrap a started testcontainers container; ``url_of`` derives the URL from it."""
        controls = ContainerControls(container, url_of)
        return Backend(self.name, Mode.CONTAINER, url_of(container), self.probe, controls)

    def _process_backend(self, process: ManagedProcess, url: str) -> Backend:
        """Start ``process``; its probe reports a crashed server with the tail of its log."""
        process.start()

        def probe(u: str) -> None:
            process.check_running()
            self.probe(u)

        return Backend(self.name, Mode.PROCESS, url, probe, process, {"process": process})

    def process_available(self) -> bool:
        """Whether the binaries for a throwaway local server exist on this machine."""
        return False

    def start_process(self) -> Backend:
        raise BackendUnavailable(
            f"{self.name}: no local server binary; install {self.install_hint}"
        )

    def embedded_available(self) -> bool:
        return False

    def start_embedded(self) -> Backend:
        raise BackendUnavailable(f"{self.name}: no embedded engine exists for this backend")

    def available_modes(
        self, env: Mapping[str, str] | None = None, *, docker: bool | None = None
    ) -> list[Mode]:
        """Every mode that could provide this backend here, in resolution order."""
        env = os.environ if env is None else env
        modes: list[Mode] = []
        if env.get(self.env_var):
            modes.append(Mode.ENV)
        if docker_available() if docker is None else docker:
            modes.append(Mode.CONTAINER)
        if self.process_available():
            modes.append(Mode.PROCESS)
        if self.embedded_available():
            modes.append(Mode.EMBEDDED)
        return modes

    def unavailable_message(self) -> str:
        return (
            f"{self.name}: no backend available — set {self.env_var}, start a Docker engine, "
            f"or install {self.install_hint}"
        )

    def provide(self, mode: Mode, env: Mapping[str, str] | None = None) -> Backend:
        """Provide the backend in one given mode (no fallback)."""
        env = os.environ if env is None else env
        if mode is Mode.ENV:
            url = env.get(self.env_var)
            if not url:
                raise BackendUnavailable(f"{self.name}: {self.env_var} is not set")
            return self.attach(url)
        if mode is Mode.CONTAINER:
            return self.start_container()
        if mode is Mode.PROCESS:
            return self.start_process()
        return self.start_embedded()


def resolve(
    spec: BackendSpec,
    *,
    env: Mapping[str, str] | None = None,
    mode: Mode | None = None,
    docker: bool | None = None,
    wait: float | None = 60.0,
) -> Backend:
    """Provide ``spec``'s backend by the first mode that applies (or exactly ``mode``).

    ``docker`` overrides the Docker engine ping (tests use it to exercise the order). With
    ``wait`` set, the backend is healthy on return, or stopped and the error raised.
    """
    if mode is None:
        modes = spec.available_modes(env, docker=docker)
        if not modes:
            raise BackendUnavailable(spec.unavailable_message())
        mode = modes[0]
    backend = spec.provide(mode, env)
    if wait is not None:
        try:
            backend.wait_healthy(wait)
        except BaseException:
            backend.stop()
            raise
    return backend

"""Fault hooks for backends run by testcontainers (needs a Docker engine)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class ContainerControls:
    """Stop/kill/pause/resume/restart a testcontainers container through the Docker API.

    ``url_of`` recomputes the backend URL from the container: a restarted container may be
    given new host ports.
    """

    def __init__(self, container: Any, url_of: Callable[[Any], str]) -> None:
        self._container = container
        self._url_of = url_of

    @property
    def _docker(self) -> Any:
        return self._container.get_wrapped_container()

    def stop(self) -> None:
        self._container.stop()

    def kill(self) -> None:
        self._docker.kill()

    def pause(self) -> None:
        self._docker.pause()

    def resume(self) -> None:
        self._docker.unpause()

    def restart(self) -> str | None:
        self._docker.restart(timeout=10)
        self._docker.reload()
        return self._url_of(self._container)

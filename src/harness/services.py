"""Each service on its own address, for suites that must bypass the gateway.

Contract suites fuzz every service directly as well as through the gateway: directly is the only
way to reach the internal operations (``/api/v1/internal/*``, which the gateway never exposes)
and to see a service's own answer without the gateway's edge checks in front. A launched stack
gets one process per service (``python -m mediagw serve <service>``) sharing the stack's
database, Redis, broker, e-mail outbox and signing key, so the stack's accounts and tokens work
on them too; the services that call a peer are pointed at the peer's direct address. Against
another deployment, ``MG_TARGET_SERVICE_URLS`` names the addresses instead.
"""

from __future__ import annotations

import os
import shutil
from contextlib import ExitStack
from dataclasses import dataclass, field

from harness.backends.process import make_workdir
from harness.service_processes import SERVICES, start_services
from harness.stack import Stack

TARGET_VARIABLE = "MG_TARGET_SERVICE_URLS"


@dataclass
class DirectServices:
    """Where each service answers on its own; ``stop()`` ends the ones the harness started."""

    urls: dict[str, str]
    _cleanup: ExitStack = field(default_factory=ExitStack, repr=False)

    def stop(self) -> None:
        self._cleanup.close()


def parse_target_urls(value: str) -> dict[str, str]:
    """``auth=http://a:8084,sona=http://s:8082`` → by service; a bad entry names itself."""
    urls: dict[str, str] = {}
    for entry in filter(None, (part.strip() for part in value.split(","))):
        name, sep, url = entry.partition("=")
        if not sep or name not in SERVICES or not url.startswith(("http://", "https://")):
            raise ValueError(
                f"{TARGET_VARIABLE}: {entry!r} is not <service>=<http(s) URL> "
                f"(services: {', '.join(SERVICES)})"
            )
        urls[name] = url.rstrip("/")
    return urls


def from_environment() -> DirectServices | None:
    value = os.environ.get(TARGET_VARIABLE)
    return DirectServices(parse_target_urls(value)) if value else None


def launch_services(
    stack: Stack, services: tuple[str, ...] = SERVICES, timeout: float = 90.0
) -> DirectServices:
    """Start ``services`` beside a stack the harness launched, each on a free port."""
    if not stack.launched:
        raise ValueError(f"the stack at {stack.base_url} was attached: set {TARGET_VARIABLE}")
    started = DirectServices(urls={})
    cleanup = started._cleanup
    try:
        workdir = make_workdir("services")
        cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        env = {**os.environ, **stack.env}
        started.urls, _ = start_services(services, env, workdir, cleanup, timeout)
        return started
    except BaseException:
        cleanup.close()
        raise

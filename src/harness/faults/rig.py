"""Everything the fault matrix needs running, owned by the harness so it may hurt it.

Every backend is a throwaway local process (PostgreSQL, Redis, the tansu broker, InfluxDB 1.x):
an attached server cannot be restarted, and a shared one must not be. The stack runs
per-service (one process per service behind the gateway), so one service can be killed alone.
Prometheus scrapes the gateway and every service each second with the committed rules scaled
by 1/60, and Alertmanager routes with the committed tree to a local webhook — the fire drills'
arrangement — so each fault's alert is seen arriving, not assumed.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import httpx

from harness.accounts import Account, login, register_verified
from harness.backends import SPECS, Backend, BackendUnavailable
from harness.backends.process import ManagedProcess, make_workdir
from harness.load.pool import titles_of
from harness.obs.observatory import Observatory, scaled_rules
from harness.obs.prometheus import ScrapeTarget
from harness.stack import Stack, launch

BACKENDS = ("postgres", "redis", "kafka", "influxdb")
RULE_SCALE = 1 / 60
WITNESSES = 4
STACK_ENV = {
    # Readiness probed each second, so dependency_up (and the alerts on it) follow a fault fast.
    "MG_READINESS_PROBE_INTERVAL_S": "1",
    # Every accepted heartbeat writes progress: each one is a write the witness can check.
    "MG_HEARTBEAT_WRITE_INTERVAL_SECONDS": "0",
}


@dataclass
class Rig:
    stack: Stack
    backends: dict[str, Backend]
    observatory: Observatory
    witnesses: list[Account]
    titles: list[str]

    def process_of(self, name: str) -> ManagedProcess:
        """The process of a backend (``postgres`` …) or of a service (``playback`` …)."""
        if name in self.backends:
            process = self.backends[name].extras.get("process")
            if not isinstance(process, ManagedProcess):
                raise BackendUnavailable(f"{name} is not a process the harness owns")
            return process
        return self.stack.processes[name]

    def readiness_urls(self) -> dict[str, str]:
        """``/health/ready`` of the gateway and of every service behind it."""
        urls = {"gateway": self.stack.base_url, **self.stack.service_urls}
        return {name: f"{url}/health/ready" for name, url in urls.items()}


def _own_backend(name: str, cleanup: ExitStack) -> Backend:
    spec = SPECS[name]
    if not spec.process_available():
        raise BackendUnavailable(
            f"{name}: the fault matrix needs a server it can stop and start; install "
            f"{spec.install_hint}"
        )
    backend = spec.start_process()
    cleanup.callback(backend.stop)
    backend.wait_healthy(60)
    return backend


def _witness_accounts(stack: Stack) -> list[Account]:
    assert stack.mailbox is not None, "a launched stack has a mailbox"
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        return [login(client, register_verified(client, stack.mailbox)) for _ in range(WITNESSES)]


@contextmanager
def rig(
    progress: Callable[[str], None] = print,
    seed_platforms: tuple[str, ...] = ("appletv",),
) -> Iterator[Rig]:
    """Start the backends, the per-service stack, the observatory and the witness accounts."""
    with ExitStack() as cleanup:
        backends = {name: _own_backend(name, cleanup) for name in BACKENDS}
        for name, backend in backends.items():
            progress(f"  {name:<9} {backend.mode:<8} {backend.url}")
        stack = cleanup.enter_context(
            launch(
                backends={k: backends[k] for k in ("postgres", "redis", "kafka")},
                topology="per-service",
                embedder="hashing",
                seed=True,
                seed_platforms=list(seed_platforms),
                extra_env=STACK_ENV,
                timeout=120,
            )
        )
        progress(
            f"  stack     per-service gateway {stack.base_url}, "
            f"{stack.seeded_items} feed items ingested"
        )
        workdir = make_workdir("faults")
        cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        targets = [ScrapeTarget(f"{stack.base_url}/metrics", "gateway")] + [
            ScrapeTarget(f"{url}/metrics", name) for name, url in stack.service_urls.items()
        ]
        rules = scaled_rules(workdir, RULE_SCALE)
        observatory = cleanup.enter_context(Observatory(targets, rules, interval=1.0))
        observatory.wait_for_scrape()
        progress(
            f"  prometheus {observatory.prometheus.url}, "
            f"alertmanager {observatory.alertmanager.url}"
        )
        with httpx.Client(base_url=stack.base_url, timeout=30) as client:
            titles = titles_of(client)
        yield Rig(stack, backends, observatory, _witness_accounts(stack), titles)

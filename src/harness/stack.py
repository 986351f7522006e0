"""Start the reference stack (or attach to any deployment by URL) for suites and load runs.

This module (with :mod:`harness.service_processes`) is the one place the harness knows the
reference implementation exists — and even here only as a command to run (``python -m mediagw
serve …``), never as an import. Everything else talks
to ``Stack.base_url``. Set ``MG_TARGET_URL`` to point the same suites at another deployment.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx
import psycopg

from harness import catalogue
from harness.accounts import Account, login, register_verified
from harness.backends import SPECS, Backend, resolve
from harness.backends.process import ManagedProcess, free_port, make_workdir
from harness.isolation import create_migrated_database, drop_database, unique_suffix
from harness.mailbox import Mailbox
from harness.seeding import RunResult, seed_catalogue
from harness.service_processes import SERVICES, serve_argv, start_services, wait_ready

Topology = Literal["all-in-one", "per-service"]
ADMIN_EMAIL = "admin@harness.example.org"
DEFAULT_LIMITS = {
    # Load runs log in thousands of users from one address: the defaults would throttle them.
    "MG_RATE_LIMIT_LOGIN": "100000/60",
    "MG_RATE_LIMIT_REGISTER": "100000/60",
    "MG_RATE_LIMIT_TOKEN": "100000/60",
    "MG_RATE_LIMIT_PASSWORD_RESET": "100000/60",
    # Suites and fuzzers send made-up feed URLs: a test stack fetches feeds from loopback only,
    # where plain http is what a test's feed server speaks.
    "MG_FEED_ALLOWED_HOSTS": "127.0.0.1,localhost,::1",
    "MG_ALLOW_PLAIN_HTTP_FEEDS": "1",
}


@dataclass
class Stack:
    """A running Media Gateway: where it answers, and what the harness may look at besides."""

    base_url: str
    mailbox: Mailbox | None = None
    database_url: str | None = None
    """Only for a stack the harness launched: lets suites check that nothing was written."""
    redis_url: str | None = None
    launched: bool = False
    admin: Account | None = None
    """An admin account of a launched stack (ADMIN_EMAIL, random password)."""
    seeded: list[RunResult] = field(default_factory=list)
    seeding_seconds: float = 0.0
    """Wall time of the whole seeding (its runs overlap)."""
    env: dict[str, str] = field(default_factory=dict, repr=False)
    _cleanup: ExitStack = field(default_factory=ExitStack, repr=False)
    processes: dict[str, ManagedProcess] = field(default_factory=dict, repr=False)
    """Every process of a launched stack by name: ``gateway``, and each service per-service."""
    service_urls: dict[str, str] = field(default_factory=dict)
    """Per-service topology: where each service answers behind the gateway."""

    @property
    def seeded_items(self) -> int:
        """Feed items the seeding runs read, all platforms together."""
        return sum(run.counts.get("fetched", 0) for run in self.seeded)

    def stop(self) -> None:
        self._cleanup.close()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def attach(url: str, mailbox_dir: str | None = None) -> Stack:
    return Stack(
        base_url=url.rstrip("/"), mailbox=Mailbox(Path(mailbox_dir)) if mailbox_dir else None
    )


def from_environment() -> Stack | None:
    """The deployment named by MG_TARGET_URL (and MG_TARGET_MAILBOX), if any."""
    url = os.environ.get("MG_TARGET_URL")
    return attach(url, os.environ.get("MG_TARGET_MAILBOX")) if url else None


def embedding_cache_dir() -> Path:
    """Where launched stacks cache catalogue embeddings across runs: ``MG_EMBEDDING_CACHE_DIR``,
    else ``$XDG_CACHE_HOME/media-gateway`` (``~/.cache/media-gateway``)."""
    explicit = os.environ.get("MG_EMBEDDING_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "media-gateway"


def _qdrant_url(backend: Backend | None) -> str:
    """A Qdrant server the harness resolved, else the gateway's own embedded engine."""
    if backend is not None and backend.url.startswith("http"):
        return backend.url
    return "qdrant+embedded://memory"


def _drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as admin:
        drop_database(admin, name)


def _backends(provided: dict[str, Backend] | None, cleanup: ExitStack) -> dict[str, Backend]:
    """The given backends, and the missing ones of PostgreSQL, Redis and Kafka started here."""
    backends = dict(provided or {})
    for name in ("postgres", "redis", "kafka"):
        if name not in backends:
            backend = resolve(SPECS[name])
            cleanup.callback(backend.stop)
            backends[name] = backend
    return backends


def _gateway_env(
    backends: dict[str, Backend], database_url: str, outbox: Path, base_url: str, embedder: str
) -> dict[str, str]:
    """The gateway's environment: this process's, then the stack's wiring and test limits."""
    return {
        **os.environ,
        "MG_ENV": "test",
        "JWT_SECRET": secrets.token_urlsafe(48),
        "MG_POSTGRES_URL": database_url,
        "MG_REDIS_URL": backends["redis"].url,
        "MG_EMAIL_OUTBOX_DIR": str(outbox),
        "MG_PUBLIC_URL": base_url,
        "MG_ADMIN_EMAILS": ADMIN_EMAIL,
        "MG_DEVICE_CODE_INTERVAL_SECONDS": "1",
        "MG_KAFKA_BOOTSTRAP": backends["kafka"].url,
        "MG_QDRANT_URL": _qdrant_url(backends.get("qdrant")),
        "MG_FEEDS_DIR": str(catalogue.default_directory() / "feeds"),
        "MG_EMBEDDER": embedder,
        "MG_EMBEDDING_CACHE_DIR": str(embedding_cache_dir()),
        **DEFAULT_LIMITS,
    }


def _services_for(
    topology: Topology, env: dict[str, str], workdir: Path, cleanup: ExitStack, timeout: float
) -> tuple[dict[str, str], dict[str, ManagedProcess]]:
    """No processes all-in-one; per-service, every service started with the gateway's wiring
    (auth trusts the gateway's X-Forwarded-For, so rate limits key on the real client)."""
    if topology == "all-in-one":
        return {}, {}
    service_env = {k: v for k, v in env.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    service_env["MG_TRUST_FORWARDED_FOR"] = "1"
    return start_services(SERVICES, service_env, workdir, cleanup, timeout)


def _gateway_mode(service_urls: dict[str, str]) -> dict[str, str]:
    if not service_urls:
        return {}
    urls = {f"MG_{name.upper()}_URL": url for name, url in service_urls.items()}
    return {"MG_GATEWAY_MODE": "per-service", **urls}


def _admin_and_seed(
    stack: Stack, mailbox: Mailbox, *, admin: bool, seed: bool, platforms: list[str] | None
) -> None:
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        if admin or seed:
            stack.admin = login(client, register_verified(client, mailbox, ADMIN_EMAIL))
        if seed and stack.admin is not None:
            wanted = platforms or [p.id for p in catalogue.PLATFORMS]
            began = time.monotonic()
            stack.seeded = seed_catalogue(client, stack.admin, wanted, timeout=600)
            stack.seeding_seconds = time.monotonic() - began


def launch(
    *,
    workers: int = 1,
    port: int | None = None,
    extra_env: dict[str, str] | None = None,
    backends: dict[str, Backend] | None = None,
    embedder: str = "minilm",
    seed: bool = False,
    seed_platforms: list[str] | None = None,
    create_admin: bool = True,
    timeout: float = 90.0,
    topology: Topology = "all-in-one",
) -> Stack:
    """Start backends (unless given), a migrated database and the all-in-one gateway.

    ``seed`` also ingests every feed of the seed catalogue through the ingestion API (as the
    admin account, which ``create_admin`` registers; seeding implies it), or only the feeds of
    ``seed_platforms`` (a smaller catalogue starts faster).
    Qdrant is the gateway process's embedded engine unless a server backend is given.
    ``topology="per-service"`` runs each service in a process of its own behind a gateway in
    per-service mode (what the fault matrix needs to kill one service).
    """
    cleanup = ExitStack()
    try:
        provided = _backends(backends, cleanup)
        server_url, database = provided["postgres"].url, f"mgh_stack_{unique_suffix()}"
        with psycopg.connect(server_url, autocommit=True) as admin:
            database_url = create_migrated_database(admin, server_url, database)
        cleanup.callback(_drop_database, server_url, database)
        workdir = make_workdir("stack")
        cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        mailbox = Mailbox(workdir / "outbox")
        base_url = f"http://127.0.0.1:{port or free_port()}"
        env = _gateway_env(provided, database_url, mailbox.directory, base_url, embedder)
        env.update(extra_env or {})
        if workers > 1:
            metrics_dir = workdir / "prometheus"
            metrics_dir.mkdir()
            env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        service_urls, processes = _services_for(topology, env, workdir, cleanup, timeout)
        env.update(_gateway_mode(service_urls))
        argv = serve_argv("gateway", int(base_url.rsplit(":", 1)[1]), workers)
        process = ManagedProcess("gateway", argv, workdir=workdir, env=env)
        process.start()
        cleanup.callback(process.terminate)
        wait_ready(base_url, timeout, process)
        stack = Stack(
            base_url=base_url,
            mailbox=mailbox,
            database_url=database_url,
            redis_url=provided["redis"].url,
            launched=True,
            env={k: v for k, v in env.items() if k.startswith(("MG_", "JWT_"))},
            processes={"gateway": process, **processes},
            service_urls=service_urls,
        )
        stack._cleanup = cleanup
        _admin_and_seed(stack, mailbox, admin=create_admin, seed=seed, platforms=seed_platforms)
        return stack
    except BaseException:
        cleanup.close()
        raise

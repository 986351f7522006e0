"""PostgreSQL: env URL, testcontainers, or a throwaway cluster from the local binaries.

The throwaway cluster trades durability for speed (fsync, full-page writes and synchronous commit
off): it exists for one test session and is deleted afterwards. PostgreSQL refuses to run as
root, so when we are root the cluster is created and run as the ``postgres`` user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import psycopg

from harness.backends.base import Backend, BackendSpec, BackendUnavailable
from harness.backends.process import ManagedProcess, free_port, make_workdir

CONTAINER_IMAGE = "postgres:15-alpine"
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",
    "shared_buffers": "128MB",
    "log_min_messages": "warning",
}


def postgres_bindir() -> Path | None:
    """Directory holding initdb and postgres: MG_PG_BINDIR, PATH, or the newest Debian install."""
    if explicit := os.environ.get("MG_PG_BINDIR"):
        return Path(explicit)
    if found := shutil.which("initdb"):
        return Path(found).resolve().parent  # Debian links /usr/local/bin/initdb into its bindir
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return Path(candidates[-1]).parent if candidates else None


def _run_as() -> str | None:
    """The OS user to run the server as: ``postgres`` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise BackendUnavailable(
            "postgres: running as root needs a 'postgres' OS user to own the cluster "
            "(apt-get install postgresql creates it)"
        ) from None
    return "postgres"


class PostgresSpec(BackendSpec):
    name = "postgres"
    env_var = "MG_POSTGRES_URL"
    install_hint = "the Debian package 'postgresql' (initdb, postgres)"

    def validate_url(self, url: str) -> str:
        if not url.startswith(("postgresql://", "postgres://")):
            raise ValueError("expected postgresql://user[:password]@host:port/dbname")
        return url

    def probe(self, url: str) -> None:
        with psycopg.connect(url, connect_timeout=2, autocommit=True) as conn:
            conn.execute("SELECT 1")

    def start_container(self) -> Backend:
        from testcontainers.community.postgres import PostgresContainer  # noqa: PLC0415 — needs Docker

        container = PostgresContainer(
            CONTAINER_IMAGE,
            username="postgres",
            password="postgres",  # noqa: S106 — throwaway container credential, never deployed
            dbname="postgres",
        ).start()

        def url_of(c: Any) -> str:
            return str(c.get_connection_url(driver=None))

        return self._container_backend(container, url_of)

    def process_available(self) -> bool:
        bindir = postgres_bindir()
        return bindir is not None and (bindir / "postgres").exists()

    def start_process(self) -> Backend:
        bindir = postgres_bindir()
        if bindir is None or not (bindir / "postgres").exists():
            raise BackendUnavailable(f"postgres: initdb not found; install {self.install_hint}")
        user = _run_as()
        workdir = make_workdir("postgres", owner=user)
        datadir = workdir / "data"
        initdb = subprocess.run(
            [
                str(bindir / "initdb"),
                "-D", str(datadir),
                "-U", "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            ],
            user=user,
            capture_output=True,
            text=True,
            check=False,
        )  # fmt: skip
        if initdb.returncode != 0:
            raise BackendUnavailable(f"postgres: initdb failed: {initdb.stderr.strip()}")
        port = free_port()
        argv = [str(bindir / "postgres"), "-D", str(datadir), "-p", str(port), "-k", str(workdir)]
        for key, value in SERVER_SETTINGS.items():
            argv += ["-c", f"{key}={value}"]
        # SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients to disconnect.
        process = ManagedProcess(
            self.name, argv, workdir=workdir, user=user, stop_signal=signal.SIGINT
        )
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        return self._process_backend(process, url)


SPEC = PostgresSpec()

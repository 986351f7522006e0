"""What a soak watches, every few seconds, from outside the services.

Per service process (the stack runs per-service, so each has its own pid): resident memory and
open file descriptors, read from ``/proc`` the way an operator's node exporter would. For the
stack: PostgreSQL connections to its database (``pg_stat_activity``), Redis memory (``INFO``)
and the Kafka outbox's undelivered events. Nothing here asks the services themselves, so a
service that leaks its own metrics cannot hide.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import LiteralString

import psycopg
import redis

from harness.soak.trend import Allowance

PAGE_BYTES = 4096


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    allowance: Allowance


RSS = Metric("rss", "MB", Allowance(relative=0.10, floor=10.0))
FDS = Metric("open_fds", "fds", Allowance(relative=0.10, floor=10.0))
DB_CONNECTIONS = Metric("db_connections", "connections", Allowance(relative=0.10, floor=5.0))
REDIS_MEMORY = Metric("redis_memory", "MB", Allowance(relative=0.10, floor=5.0))
OUTBOX = Metric("outbox_pending", "events", Allowance(relative=0.10, floor=100.0))


CONNECTIONS = (
    "SELECT count(*) FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
)
UNDELIVERED = "SELECT count(*) FROM ingestion.outbox WHERE sent_at IS NULL"


def _count(conn: psycopg.Connection[tuple[int]], query: LiteralString) -> float:
    row = conn.execute(query).fetchone()
    return float(row[0]) if row else 0.0


def rss_megabytes(pid: int) -> float:
    fields = Path(f"/proc/{pid}/statm").read_text(encoding="ascii").split()
    return int(fields[1]) * PAGE_BYTES / 1e6


def open_fds(pid: int) -> int:
    return sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())


@dataclass
class Series:
    metric: Metric
    subject: str
    """The service (``auth`` …) or ``stack`` for the shared backends."""
    seconds: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.metric.name}[{self.subject}]"


class Sampler:
    """Samples every ``interval`` seconds on a thread until :meth:`stop`."""

    def __init__(
        self,
        pids: Mapping[str, Callable[[], int | None]],
        database_url: str,
        redis_url: str,
        interval: float = 5.0,
    ) -> None:
        self.pids = dict(pids)
        self.database_url = database_url
        self.redis_url = redis_url
        self.interval = interval
        self.series: dict[str, Series] = {}
        self.errors: list[str] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-sampler", daemon=True)
        self._began = 0.0

    def start(self) -> None:
        self._began = time.monotonic()
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(self.interval + 10)

    def _record(self, metric: Metric, subject: str, at: float, value: float) -> None:
        series = self.series.setdefault(f"{metric.name}[{subject}]", Series(metric, subject))
        series.seconds.append(at)
        series.values.append(value)

    def _run(self) -> None:
        client = redis.Redis.from_url(self.redis_url, socket_timeout=5)
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            while not self._stopping.is_set():
                self.sample(conn, client)
                self._stopping.wait(self.interval)
        client.close()

    def sample(self, conn: psycopg.Connection[tuple[int]], client: redis.Redis) -> None:
        at = time.monotonic() - self._began
        for subject, pid_of in self.pids.items():
            pid = pid_of()
            if pid is None:
                continue
            try:
                self._record(RSS, subject, at, rss_megabytes(pid))
                self._record(FDS, subject, at, open_fds(pid))
            except OSError as exc:  # the process is gone: say so, the judgement will too
                self.errors.append(f"{subject}: {exc}")
        self._record(DB_CONNECTIONS, "stack", at, _count(conn, CONNECTIONS))
        memory = client.info("memory")
        self._record(REDIS_MEMORY, "stack", at, int(memory["used_memory"]) / 1e6)
        self._record(OUTBOX, "stack", at, _count(conn, UNDELIVERED))

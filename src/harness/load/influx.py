"""Load results into InfluxDB without ever slowing the load down.

``InfluxWriter`` takes line-protocol points on a bounded queue and writes them in batches from a
background thread (a greenlet under Locust's gevent): a producer never waits. When the queue is
full, or InfluxDB is slow or down, points are dropped and *counted*; the run goes on and its
results say how many points InfluxDB lacks.

Two sinks, chosen by URL (``harness.backends.influxdb``): ``http(s)://host:port/database`` is
InfluxDB 1.x (``/write``, the Debian server here); ``influx2://host:port/org/bucket`` is 2.x,
written with ``influxdb-client`` and ``INFLUX_TOKEN``.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from harness.backends.influxdb import server_url

log = logging.getLogger("harness.load.influx")

Tags = Mapping[str, str]
Fields = Mapping[str, float | int | str | bool]


def _escape_tag(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _escape_measurement(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ")


def _field(value: float | int | str | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def line(measurement: str, tags: Tags, fields: Fields, timestamp_ns: int) -> str:
    """One point in line protocol (empty tag values are left out, as InfluxDB requires)."""
    tag_part = "".join(
        f",{_escape_tag(k)}={_escape_tag(v)}" for k, v in sorted(tags.items()) if v != ""
    )
    field_part = ",".join(f"{_escape_tag(k)}={_field(v)}" for k, v in fields.items())
    return f"{_escape_measurement(measurement)}{tag_part} {field_part} {timestamp_ns}"


class Sink(Protocol):
    def write(self, lines: list[str]) -> None:
        """Store the points or raise."""

    def close(self) -> None: ...


class V1Sink:
    """InfluxDB 1.x: ``POST /write?db=…&precision=ns`` (the database is created once)."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.server = server_url(url)
        self.database = urlsplit(url).path.strip("/") or "mgh_load"
        self.client = httpx.Client(timeout=timeout)
        self._created = False

    def _ensure_database(self) -> None:
        if not self._created:
            response = self.client.post(
                f"{self.server}/query", params={"q": f'CREATE DATABASE "{self.database}"'}
            )
            response.raise_for_status()
            self._created = True

    def write(self, lines: list[str]) -> None:
        self._ensure_database()
        response = self.client.post(
            f"{self.server}/write",
            params={"db": self.database, "precision": "ns"},
            content="\n".join(lines).encode(),
        )
        if response.status_code != 204:
            raise RuntimeError(f"/write answered {response.status_code}: {response.text[:200]}")

    def query(self, influxql: str) -> list[dict[str, Any]]:
        """Rows of an InfluxQL query (tests and reports read the points back)."""
        self._ensure_database()
        response = self.client.get(
            f"{self.server}/query", params={"db": self.database, "q": influxql, "epoch": "ns"}
        )
        response.raise_for_status()
        rows: list[dict[str, Any]] = []
        for result in response.json().get("results", []):
            for series in result.get("series", []):
                for values in series["values"]:
                    row = dict(zip(series["columns"], values, strict=True))
                    row.update(series.get("tags", {}))
                    rows.append(row)
        return rows

    def close(self) -> None:
        self.client.close()


class V2Sink:
    """InfluxDB 2.x through ``influxdb-client`` (``INFLUX_TOKEN`` holds the API token)."""

    def __init__(self, url: str) -> None:
        from influxdb_client.client.influxdb_client import (  # noqa: PLC0415 — only for 2.x
            InfluxDBClient,
        )
        from influxdb_client.client.write_api import SYNCHRONOUS  # noqa: PLC0415 — 2.x only
        from influxdb_client.domain.write_precision import WritePrecision  # noqa: PLC0415 — 2.x

        token = os.environ.get("INFLUX_TOKEN")
        if not token:
            raise ValueError("an influx2:// URL needs INFLUX_TOKEN in the environment")
        parts = urlsplit(url)
        self.org, self.bucket = parts.path.strip("/").split("/")
        self.client = InfluxDBClient(url=server_url(url), token=token, org=self.org, timeout=5000)
        self.api = self.client.write_api(write_options=SYNCHRONOUS)
        self.precision: WritePrecision = WritePrecision.NS  # type: ignore[assignment]  # the generated "enum" holds plain strings

    def write(self, lines: list[str]) -> None:
        self.api.write(
            bucket=self.bucket, org=self.org, record=lines, write_precision=self.precision
        )

    def close(self) -> None:
        self.client.close()  # type: ignore[no-untyped-call]  # influxdb-client's close is untyped


def sink_for(url: str) -> V1Sink | V2Sink:
    return V2Sink(url) if urlsplit(url).scheme.startswith("influx2") else V1Sink(url)


@dataclass
class WriterStats:
    written: int = 0
    dropped: int = 0
    """Points lost: queue full, or the batch they were in failed."""
    failed_batches: int = 0
    last_error: str = ""
    errors: list[str] = field(default_factory=list)


class InfluxWriter:
    """Bounded, batched, asynchronous: ``submit`` never blocks."""

    def __init__(
        self,
        sink: Sink,
        *,
        max_queue: int = 20_000,
        batch_size: int = 1_000,
        flush_seconds: float = 1.0,
    ) -> None:
        self.sink = sink
        self.stats = WriterStats()
        self._queue: queue.Queue[str] = queue.Queue(maxsize=max_queue)
        self._batch_size = batch_size
        self._flush_seconds = flush_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="influx-writer", daemon=True)
        self._thread.start()

    def submit(self, point: str) -> None:
        try:
            self._queue.put_nowait(point)
        except queue.Full:
            self.stats.dropped += 1

    def point(self, measurement: str, tags: Tags, fields: Fields, at: float) -> None:
        self.submit(line(measurement, tags, fields, int(at * 1e9)))

    def _drain(self, limit: int) -> list[str]:
        batch: list[str] = []
        while len(batch) < limit:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _write(self, batch: list[str]) -> None:
        try:
            self.sink.write(batch)
        except Exception as exc:  # noqa: BLE001 — any failure loses this batch, counted; the run goes on
            self.stats.dropped += len(batch)
            self.stats.failed_batches += 1
            self.stats.last_error = f"{type(exc).__name__}: {exc}"[:300]
            if len(self.stats.errors) < 5:
                self.stats.errors.append(self.stats.last_error)
            log.warning("InfluxDB write failed (%d points dropped): %s", len(batch), exc)
        else:
            self.stats.written += len(batch)

    def _run(self) -> None:
        while not self._stop.is_set():
            deadline = time.monotonic() + self._flush_seconds
            while time.monotonic() < deadline and self._queue.qsize() < self._batch_size:
                if self._stop.wait(0.05):
                    break
            batch = self._drain(self._batch_size)
            if batch:
                self._write(batch)

    def close(self, timeout: float = 10.0) -> WriterStats:
        """Write what is queued (within ``timeout``), stop, and report the counts."""
        self._stop.set()
        self._thread.join(timeout)
        deadline = time.monotonic() + timeout
        while (batch := self._drain(self._batch_size)) and time.monotonic() < deadline:
            self._write(batch)
        leftover = self._drain(10**9)
        self.stats.dropped += len(leftover)
        self.sink.close()
        return self.stats

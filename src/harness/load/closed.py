"""A closed-loop probe: N connections, each sending its next request as soon as the last answer
arrived — what ``wrk -c N`` does, for the throughput bench (``make bench-gateway``).

The load profiles model users arriving at a rate (the open model); a throughput bench asks
instead what one path can serve at a fixed concurrency. The probe records into the load
engine's HDR series (:class:`harness.load.stats.Series`) and runs in a process of its own
(gevent, one persistent connection per virtual client, ``geventhttpclient`` as Locust's
``FastHttpUser`` uses), so the caller can measure its CPU apart from the server's and flag a
saturated probe instead of reporting its queueing as the system's latency.

A plan's calls are templates: ``{n}`` in a body becomes the connection's request counter (a
heartbeat's position), and ``{token}`` the call's current token; with ``rotate`` set, each
answer's JSON field of that name replaces the token (a refresh-token chain, as the refresh
grant rotates it). Connection *i* takes calls *i*, *i + N*, … (every call once before any
repeats when there are more calls than connections), cycling through its share.

The child reads its plan from a JSON file and writes one JSON result on stdout:
``python -m harness.load.closed plan.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import psutil

from harness.load.stats import Series

SATURATED_CPU_PERCENT = 90.0
"""A probe process above this share of one core was queueing its own requests."""


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    token: str = ""


@dataclass(frozen=True)
class Plan:
    base_url: str
    calls: list[Call]
    concurrency: int = 32
    seconds: float = 8.0
    warmup: float = 2.0
    rotate: str | None = None
    """A JSON field of each answer that replaces the call's ``{token}`` (refresh chains)."""


@dataclass
class ProbeResult:
    """What one probe measured; latencies in milliseconds."""

    requests: int
    failed: int
    seconds: float
    statuses: dict[str, int]
    series: Series
    cpu_percent: float
    """The probe process's CPU over the measured window, in percent of one core."""
    window: tuple[Any, Any] | None = None
    """What the caller's ``sample`` gave at the start and the end of the measured window."""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def saturated(self) -> bool:
        return self.cpu_percent >= SATURATED_CPU_PERCENT

    def quantile_ms(self, q: float) -> float:
        return float(self.series.summary()[f"p{round(q * 100)}"])


class ProbeError(RuntimeError):
    """The probe did not run: the message carries its stderr."""


def probe(
    plan: Plan, timeout_margin: float = 60.0, sample: Callable[[], Any] | None = None
) -> ProbeResult:
    """Run ``plan`` in a child process; its CPU is sampled over the measured window only, and
    so is ``sample`` (the caller's own reading, such as other processes' CPU)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="mgh-probe-") as plan_file:
        json.dump({**asdict(plan), "calls": [asdict(c) for c in plan.calls]}, plan_file)
        plan_file.flush()
        return _measure(plan, plan_file.name, timeout_margin, sample)


def _measure(
    plan: Plan, plan_path: str, timeout_margin: float, sample: Callable[[], Any] | None
) -> ProbeResult:
    child = subprocess.Popen(
        [sys.executable, "-m", "harness.load.closed", plan_path],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    process = psutil.Process(child.pid)
    time.sleep(plan.warmup)
    cpu_before, at_before = _cpu_seconds(process), time.monotonic()
    first = sample() if sample else None
    time.sleep(plan.seconds)
    last = sample() if sample else None
    cpu_after, at_after = _cpu_seconds(process), time.monotonic()
    try:
        out, err = child.communicate(timeout=timeout_margin)
    except subprocess.TimeoutExpired:
        child.kill()
        out, err = child.communicate()
    if child.returncode != 0:
        raise ProbeError(f"probe exited {child.returncode}: {err.strip()[-2000:]}")
    data = json.loads(out)
    return ProbeResult(
        requests=int(data["requests"]),
        failed=int(data["failed"]),
        seconds=float(data["seconds"]),
        statuses={str(k): int(v) for k, v in data["statuses"].items()},
        series=Series.decoded(data["series"]),
        cpu_percent=100.0 * (cpu_after - cpu_before) / max(1e-9, at_after - at_before),
        window=(first, last) if sample else None,
    )


def _cpu_seconds(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


# --- the child ------------------------------------------------------------------------------


def _shares(calls: list[Call], concurrency: int) -> list[list[Call]]:
    if len(calls) >= concurrency:
        return [calls[i::concurrency] for i in range(concurrency)]
    return [[calls[i % len(calls)]] for i in range(concurrency)]


def _run_child(plan: dict[str, Any]) -> dict[str, Any]:  # pragma: no cover — runs in the child
    from gevent import monkey  # noqa: PLC0415 — the child only: patching must come first

    monkey.patch_all()
    import gevent  # noqa: PLC0415 — after the patching above
    from geventhttpclient import HTTPClient  # noqa: PLC0415 — after the patching above

    calls = [Call(**c) for c in plan["calls"]]
    split = urlsplit(plan["base_url"])
    rotate: str | None = plan["rotate"]
    series, statuses = Series(), Counter[str]()
    start = time.monotonic() + float(plan["warmup"])
    end = start + float(plan["seconds"])
    counted = {"requests": 0, "failed": 0}

    def connection(share: list[Call]) -> None:
        client = HTTPClient(
            split.hostname or "127.0.0.1",
            split.port,
            concurrency=1,
            connection_timeout=10,
            network_timeout=30,
        )
        tokens = [call.token for call in share]
        n = 0
        try:
            while (now := time.monotonic()) < end:
                index = n % len(share)
                call = share[index]
                n += 1
                body = call.body.replace("{n}", str(n)).replace("{token}", tokens[index])
                began = time.perf_counter()
                try:
                    response = client.request(
                        call.method, call.path, body=body.encode(), headers=call.headers
                    )
                    payload = response.read()
                    status = str(response.status_code)
                except Exception as exc:  # noqa: BLE001 — a failed request is a result
                    payload, status = b"", type(exc).__name__
                elapsed_ms = (time.perf_counter() - began) * 1000
                failed = not status.startswith(("2", "3"))
                if rotate and not failed:
                    tokens[index] = str(json.loads(payload)[rotate])
                if now >= start:
                    series.record(elapsed_ms, elapsed_ms, failed)
                    statuses[status] += 1
                    counted["requests"] += 1
                    counted["failed"] += failed
                if failed and rotate:
                    return  # the chain is broken: its token was spent
        finally:
            client.close()

    greenlets = [gevent.spawn(connection, share) for share in _shares(calls, plan["concurrency"])]
    gevent.joinall(greenlets)
    return {
        **counted,
        "seconds": float(plan["seconds"]),
        "statuses": dict(statuses),
        "series": series.encoded(),
    }


def main() -> None:  # pragma: no cover — the child's entry point
    with open(sys.argv[1], encoding="utf-8") as plan_file:
        plan = json.load(plan_file)
    sys.stdout.write(json.dumps(_run_child(plan)))
    sys.stdout.flush()
    os._exit(0)  # gevent's hub may hold sockets of closed clients; nothing is left to flush


if __name__ == "__main__":
    main()

"""Latency samples and their summary: percentiles by nearest rank, as load tools report them."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Awaitable
from dataclasses import dataclass, field

import httpx


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Summary:
    name: str
    count: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    rps: float

    def line(self) -> str:
        return (
            f"  {self.name:<28} n={self.count:<6} err={self.errors:<4} "
            f"p50 {self.p50_ms:7.1f} ms  p95 {self.p95_ms:7.1f} ms  p99 {self.p99_ms:7.1f} ms  "
            f"max {self.max_ms:7.1f} ms  {self.rps:7.1f} req/s"
        )


@dataclass
class Recorder:
    """Collects (endpoint, seconds, ok) samples from many concurrent tasks."""

    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def record(self, name: str, seconds: float, ok: bool) -> None:
        self.samples[name].append(seconds * 1000)
        if not ok:
            self.errors[name] += 1

    def summary(self, duration_seconds: float) -> list[Summary]:
        result = []
        for name in sorted(self.samples):
            ordered = sorted(self.samples[name])
            result.append(
                Summary(
                    name=name,
                    count=len(ordered),
                    errors=self.errors.get(name, 0),
                    p50_ms=percentile(ordered, 50),
                    p95_ms=percentile(ordered, 95),
                    p99_ms=percentile(ordered, 99),
                    max_ms=ordered[-1],
                    rps=len(ordered) / duration_seconds if duration_seconds > 0 else math.nan,
                )
            )
        return result


async def timed(
    recorder: Recorder, name: str, request: Awaitable[httpx.Response]
) -> httpx.Response | None:
    """Await one request, recording its latency; a 4xx/5xx counts as an error, a transport
    failure too (and yields None)."""
    started = time.perf_counter()
    try:
        response = await request
    except httpx.HTTPError:
        recorder.record(name, time.perf_counter() - started, ok=False)
        return None
    recorder.record(name, time.perf_counter() - started, ok=response.status_code < 400)
    return response

"""Is the load generator itself the bottleneck? Sample its CPU while it runs.

A Python generator on two shared cores saturates long before the services do; its latency
figures are then its own queueing. Benchmarks wrap their measured phase in ``CpuWatch`` and
print the verdict beside their figures (the load engine does the same inside Locust).
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

import psutil

from harness.load.results import saturation


class CpuWatch:
    """Samples this process's CPU every second in a thread, until the block ends."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-watch", daemon=True)

    def _run(self) -> None:
        process = psutil.Process()
        process.cpu_percent(None)
        while not self._stop.wait(self.interval):
            self.samples.append(process.cpu_percent(None))

    def __enter__(self) -> CpuWatch:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(self.interval * 2)

    @property
    def verdict(self) -> dict[str, Any]:
        return saturation([self.samples])

    def line(self) -> str:
        found = self.verdict
        if not found["samples"]:
            return "generator CPU: not sampled (the phase was shorter than a second)"
        text = (
            f"generator CPU: max {found['max_percent']:.0f} %, mean {found['mean_percent']:.0f} %"
            f" of one core over {found['samples']} s"
        )
        if found["saturated"]:
            return (
                text + " — SATURATED: the client-side figures above measure this generator's"
                " own queueing; trust the server-side ones"
            )
        return text + " — not saturated"

"""Exact latency percentiles: HDR histograms per endpoint and per second, merged exactly.

Every request's latency is recorded twice: from the moment it was actually sent, and from the
moment it was *intended* to start (its iteration's scheduled arrival, open model): the second is
corrected for coordinated omission — a generator that fell behind does not hide the wait. Both
go into HDR histograms (microseconds, 3 significant digits), one pair per endpoint per second.

A worker encodes the seconds it holds (HdrHistogram's compressed base64 form) and ships them to
the master with Locust's own reports; the master adds them up. Adding histograms is exact, so
the merged histogram *is* the union of the workers' samples, and every consumer — console,
InfluxDB, results file, gate — reads its percentiles from the same histograms: p99 ≤ max by
construction (Locust's own stats round response times; these do not).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 300_000_000
"""Five minutes: far past any timeout; a longer latency is clamped to it (and counted)."""
SIGNIFICANT_DIGITS = 3
PERCENTILES = (50.0, 90.0, 95.0, 99.0)


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS, word_size=8)


def _index_values() -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Per counts index: the highest equivalent value (what a percentile reports) and the
    middle of the bucket (what the mean uses), as HdrHistogram defines them."""
    probe = new_histogram()
    highest = np.empty(probe.counts_len, dtype=np.int64)
    middle = np.empty(probe.counts_len, dtype=np.float64)
    for index in range(probe.counts_len):
        value = probe.get_value_from_index(index)
        low = probe.get_lowest_equivalent_value(value)
        high = probe.get_highest_equivalent_value(value)
        highest[index], middle[index] = high, (low + high + 1) / 2
    return highest, middle


_HIGHEST, _MIDDLE = _index_values()


def quantiles(histogram: HdrHistogram, percentiles: tuple[float, ...]) -> dict[float, int]:
    """``get_value_at_percentile`` for several percentiles at once, vectorised.

    HdrHistogram's own walks its counts array in Python, one index at a time: computing the
    per-second figures of a dozen endpoints that way stalled the load generator for seconds.
    This reads the same counts array (zero-copy) and returns exactly the same values."""
    counts = np.ctypeslib.as_array(histogram.counts)
    cumulative = np.cumsum(counts)
    total = int(cumulative[-1]) if len(cumulative) else 0
    out = {}
    for percentile in percentiles:
        target = max(int(min(percentile, 100.0) * total / 100 + 0.5), 1)
        out[percentile] = int(_HIGHEST[int(np.searchsorted(cumulative, target))])
    return out


def mean(histogram: HdrHistogram) -> float:
    counts = np.ctypeslib.as_array(histogram.counts)
    total = counts.sum()
    return float((counts * _MIDDLE).sum() / total) if total else 0.0


def encode(histogram: HdrHistogram) -> str:
    data: bytes = histogram.encode()
    return data.decode("ascii")


def decode(text: str) -> HdrHistogram:
    histogram = new_histogram()
    histogram.decode_and_add(text.encode("ascii"))
    return histogram


def _us(milliseconds: float) -> int:
    return min(HIGHEST_US, max(LOWEST_US, round(milliseconds * 1000)))


@dataclass
class Series:
    """One endpoint over some span (a second, or the whole run)."""

    corrected: HdrHistogram = field(default_factory=new_histogram)
    actual: HdrHistogram = field(default_factory=new_histogram)
    count: int = 0
    failures: int = 0

    def record(self, actual_ms: float, corrected_ms: float, failed: bool) -> None:
        self.actual.record_value(_us(actual_ms))
        self.corrected.record_value(_us(max(corrected_ms, actual_ms)))
        self.count += 1
        self.failures += int(failed)

    def add(self, other: Series) -> None:
        self.corrected.add(other.corrected)
        self.actual.add(other.actual)
        self.count += other.count
        self.failures += other.failures

    def encoded(self) -> dict[str, Any]:
        return {
            "corrected": encode(self.corrected),
            "actual": encode(self.actual),
            "count": self.count,
            "failures": self.failures,
        }

    @classmethod
    def decoded(cls, data: Mapping[str, Any]) -> Series:
        return cls(
            corrected=decode(str(data["corrected"])),
            actual=decode(str(data["actual"])),
            count=int(data["count"]),
            failures=int(data["failures"]),
        )

    def summary(self) -> dict[str, float | int]:
        """Count, failures and percentiles in milliseconds: ``p95`` corrected, ``p95_actual``
        as sent. Read from the histograms, so ``p99 <= max`` always holds."""
        out: dict[str, float | int] = {"count": self.count, "failures": self.failures}
        for name, histogram in (("", self.corrected), ("_actual", self.actual)):
            if histogram.get_total_count() == 0:
                continue
            for percentile, value in quantiles(histogram, PERCENTILES).items():
                out[f"p{percentile:g}{name}"] = value / 1000
            out[f"max{name}"] = histogram.get_max_value() / 1000
            out[f"mean{name}"] = round(mean(histogram) / 1000, 3)
        return out


@dataclass
class Second:
    """What happened in one wall-clock second of the run (epoch second ``at``)."""

    at: int
    endpoints: dict[str, Series] = field(default_factory=lambda: defaultdict(Series))
    dropped: int = 0
    iterations: int = 0

    def add(self, other: Second) -> None:
        for name, series in other.endpoints.items():
            self.endpoints[name].add(series)
        self.dropped += other.dropped
        self.iterations += other.iterations

    def encoded(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "dropped": self.dropped,
            "iterations": self.iterations,
            "endpoints": {name: s.encoded() for name, s in self.endpoints.items()},
        }

    @classmethod
    def decoded(cls, data: Mapping[str, Any]) -> Second:
        second = cls(int(data["at"]), dropped=int(data["dropped"]))
        second.iterations = int(data.get("iterations", 0))
        for name, series in data["endpoints"].items():
            second.endpoints[name] = Series.decoded(series)
        return second


class Recorder:
    """Per-second series of one process (a worker), or the merged ones (the master).

    ``take()`` hands out everything recorded since the last call (a worker's report);
    ``merge()`` adds such a report in; ``closed(before)`` yields the seconds old enough that
    no more data is expected for them, for writing, and keeps a whole-run total. A report that
    arrives late for a second already handed out is added to it and the whole second is handed
    out again, so a writer can overwrite its point (InfluxDB replaces a point with the same
    series and timestamp).
    """

    KEEP_CLOSED_SECONDS = 120

    def __init__(self) -> None:
        self.seconds: dict[int, Second] = {}
        self.totals: dict[str, Series] = defaultdict(Series)
        self.dropped = 0
        self.iterations = 0
        self._recent: dict[int, Second] = {}
        self._dirty: set[int] = set()

    def _second(self, at: float) -> Second:
        key = int(at)
        found = self.seconds.get(key)
        if found is None:
            found = self.seconds[key] = Second(key)
        return found

    def record(
        self, endpoint: str, actual_ms: float, corrected_ms: float, failed: bool, at: float
    ) -> None:
        self._second(at).endpoints[endpoint].record(actual_ms, corrected_ms, failed)

    def record_dropped(self, at: float, count: int = 1) -> None:
        self._second(at).dropped += count

    def record_iteration(self, at: float) -> None:
        self._second(at).iterations += 1

    # --- worker → master ---------------------------------------------------------------------

    def take(self) -> list[dict[str, Any]]:
        """Everything recorded so far, encoded, and forgotten here (sent to the master)."""
        taken = [second.encoded() for second in self.seconds.values()]
        self.seconds = {}
        return taken

    def merge(self, report: Iterable[Mapping[str, Any]]) -> None:
        for data in report:
            second = Second.decoded(data)
            late = self._recent.get(second.at)
            if late is None:
                self._second(second.at).add(second)
                continue
            late.add(second)
            self._fold(second)
            self._dirty.add(second.at)

    # --- consumers -----------------------------------------------------------------------------

    def _fold(self, second: Second) -> None:
        for name, series in second.endpoints.items():
            self.totals[name].add(series)
        self.dropped += second.dropped
        self.iterations += second.iterations

    def closed(self, before: float) -> list[Second]:
        """Seconds that ended before ``before`` (oldest first), and seconds handed out before
        that received late data since; each is folded into the run's totals once."""
        done = sorted(at for at in self.seconds if at < before)
        out = []
        for at in done:
            second = self.seconds.pop(at)
            self._fold(second)
            self._recent[at] = second
            self._dirty.discard(at)
            out.append(second)
        out += [self._recent[at] for at in sorted(self._dirty)]
        self._dirty.clear()
        horizon = (max(self._recent) if self._recent else 0) - self.KEEP_CLOSED_SECONDS
        for at in [at for at in self._recent if at < horizon]:
            del self._recent[at]
        return out

    def flush(self) -> list[Second]:
        """Every second still held (the run is over)."""
        return self.closed(float("inf"))

    def summaries(self) -> dict[str, dict[str, float | int]]:
        return {name: series.summary() for name, series in sorted(self.totals.items())}

"""The run-wide latency shift: the in-run reference each endpoint is judged against.

Two A/A runs of one build on this machine differ by more than their samples explain, and
mostly *alike on every endpoint*: in the recorded A/A runs one run's medians were all 8-15 %
below the others' (the machine was faster for those three minutes), which no per-endpoint
noise estimate from five runs anticipates. A pull request that slows one endpoint does not
move the others. So the gate measures the shift the whole run shares and judges each endpoint
against it:

* the **shift** of a percentile (p50, p95, p99, p95 as sent) of a candidate against a baseline
  is the median, over the endpoints both runs judge (at least ``MIN_ENDPOINTS``), of that
  percentile's ratio. One shift per percentile, because the machine does not move them alike:
  in that fast A/A run the medians fell by 8-15 % and the p95s did not move. A median of five
  or more ratios is not moved by one endpoint that regressed, however much;
* each endpoint's p50 is judged as ``ratio / shift`` (its interval and its Mann-Whitney test
  likewise, on candidate samples divided by the shift); tails are judged raw (``NORMALIZED``);
* the p50 and p95 shifts are judged as rows of their own (``overall`` / ``shift_p50``,
  ``shift_p95``) against their calibrated noise. A shift beyond it is ``Change.SHIFTED``, not a
  regression: every endpoint moved alike, which the machine does (a held-out A/A run had every
  p95 +140 % with its medians unmoved) and a change common to every route (a middleware, a pool
  too small) does too. The gate cannot tell them apart from one pair, so the verdict is "could
  not judge" (exit 2, re-run the candidate), never a false alarm and never a silent pass; while
  the p95 shift is beyond its noise, no endpoint's tail is judged either.

The price, said plainly: a change that slows more than half the endpoints by the same factor is
judged against the run-wide noise (larger than one endpoint's), not against each endpoint's.
The uncertainty of the shift itself (a median of precise p50 ratios) is not carried into the
endpoint intervals.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping

MIN_ENDPOINTS = 3
"""Fewer judged endpoints than this: no shift is estimated (1.0), each endpoint is judged raw."""
NORMALIZED = ("p50",)
"""The percentiles each endpoint is judged relative to the run-wide shift of: only the median.
The machine moves every endpoint's median alike; a tail's shift, a median of four or five noisy
tail ratios, would add more noise than it takes away."""
SHIFTED = ("p50", "p95")
"""The percentiles whose run-wide shift is estimated and judged as a row of its own."""
PREFIX = "shift_"


def shift_metric(metric: str) -> str:
    """The ``overall`` row a percentile's shift is judged in: ``p95`` → ``shift_p95``."""
    return PREFIX + metric


def is_shift(metric: str) -> bool:
    return metric.startswith(PREFIX)


def log_shift(
    baseline: Mapping[str, Mapping[str, float]],
    candidate: Mapping[str, Mapping[str, float]],
    endpoints: Iterable[str],
    metric: str,
) -> float | None:
    """log(shift) of ``metric`` of ``candidate`` against ``baseline`` (``runs.figures`` of
    each) over ``endpoints``; ``None`` when fewer than ``MIN_ENDPOINTS`` have the figure."""
    logs = []
    for endpoint in endpoints:
        base = baseline.get(endpoint, {}).get(metric)
        cand = candidate.get(endpoint, {}).get(metric)
        if base and cand and base > 0 and cand > 0:
            logs.append(math.log(cand / base))
    if len(logs) < MIN_ENDPOINTS:
        return None
    return float(statistics.median(logs))


def shift(
    baseline: Mapping[str, Mapping[str, float]],
    candidate: Mapping[str, Mapping[str, float]],
    endpoints: Iterable[str],
    metric: str,
) -> float:
    """The shift of ``metric`` as a ratio (1.0 when it cannot be estimated)."""
    found = log_shift(baseline, candidate, endpoints, metric)
    return 1.0 if found is None else math.exp(found)

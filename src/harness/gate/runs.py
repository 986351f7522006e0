"""A load run directory read for the gate: ``results.json`` and ``histograms.json``, checked.

The gate must never judge half a run: a missing file, a file that is not JSON, a field the
comparison needs, or a histogram that does not decode is a :class:`RunError` whose one-line
message names the file (and the field or endpoint), so ``mgh gate`` can say *why* it could not
judge. Percentiles are always read from the histograms (exact, every quantile available); the
summaries in ``results.json`` give the counts, failures and rates.
"""

from __future__ import annotations

import binascii
import json
import statistics
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hdrh.codec import HdrCookieException, HdrHistogramSettingsException, HdrLengthException

from harness.gate.model import Run
from harness.gate.stats import Bins
from harness.load.stats import decode

ROOT = Path(__file__).resolve().parents[3]
RUNS_DIR = ROOT / "reports" / "out" / "runs"
RESULTS = "results.json"
HISTOGRAMS = "histograms.json"
KINDS = ("corrected", "actual")
"""Each endpoint's two histograms: from the intended start (open model) and as sent."""
OVERALL = "overall"
"""The scope of run-wide figures (dropped iterations), as in load/slo.yaml."""
LATENCY = {"p50": (50.0, "corrected"), "p95": (95.0, "corrected"), "p99": (99.0, "corrected")}
LATENCY_ACTUAL = {"p95_actual": (95.0, "actual")}
"""The percentiles the gate judges: the coordinated-omission corrected p50/p95/p99 (what a
user of an open system waits, and what load/slo.yaml judges), and p95 as sent, which tells a
slower server from requests that queued before they were sent."""
PERCENTILES = {**LATENCY, **LATENCY_ACTUAL}
MIN_TAIL = 20
"""A percentile is judged only when at least this many requests lie beyond it on both sides:
the p99 of 385 requests is their 4th slowest, and four requests say nothing about a tail (in
the recorded A/A runs such p99s moved by up to 80 % between runs of one build)."""


STEADY_BLOCKS = 6
MIN_BLOCK_SECONDS = 5
MAX_UNSTEADINESS = 1.8
"""The most a run's median may move between blocks of its steady stage (``unsteadiness``)."""
MACHINE_TOLERANCE = 0.25
"""How far two runs' machine references may differ and still be compared (see
``machine_speed_differs``)."""


def tail_count(count: int, metric: str) -> int:
    """How many of ``count`` requests lie beyond ``metric``'s percentile."""
    percentile, _ = PERCENTILES[metric]
    return int(count * (100.0 - percentile) / 100.0)


def with_tail(
    endpoints: Sequence[str], metric: str, per_run: Sequence[Mapping[str, Mapping[str, float]]]
) -> list[str]:
    """The endpoints whose ``metric`` has ``MIN_TAIL`` requests beyond it in every run
    (``figures`` of each run)."""
    return [
        name
        for name in endpoints
        if all(tail_count(int(figs[name]["count"]), metric) >= MIN_TAIL for figs in per_run)
    ]


_DECODE_ERRORS = (
    ValueError,  # binascii.Error and UnicodeEncodeError are ValueErrors
    TypeError,
    RuntimeError,
    IndexError,
    zlib.error,
    binascii.Error,
    HdrCookieException,
    HdrLengthException,
    HdrHistogramSettingsException,
)
"""What ``HdrHistogram.decode_and_add`` raises on text that is not one of its histograms."""


class RunError(ValueError):
    """A run directory the gate cannot read; the message names the file."""


def resolve(reference: str | Path, runs_dir: Path = RUNS_DIR) -> Path:
    """A run directory from a path, or from a run id under ``runs_dir``."""
    path = Path(reference)
    if path.is_dir():
        return path
    by_id = runs_dir / str(reference)
    if by_id.is_dir():
        return by_id
    raise RunError(f"{reference}: neither a run directory nor a run id under {runs_dir}")


def _json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunError(f"{path}: missing") from None
    except OSError as exc:
        raise RunError(f"{path}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RunError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None


def _field(data: Mapping[str, Any], dotted: str, path: Path) -> Any:
    value: Any = data
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise RunError(f"{path}: missing field {dotted}")
        value = value[part]
    return value


def _number(data: Mapping[str, Any], dotted: str, path: Path) -> float:
    value = _field(data, dotted, path)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RunError(f"{path}: {dotted} must be a number, got {value!r}")
    return float(value)


_REQUIRED_NUMBERS = (
    "started_at",
    "ended_at",
    "duration_s",
    "iterations",
    "dropped",
    "dropped_rate",
    "profile.scale",
    "profile.time_scale",
)


def _check_results(results: Any, path: Path) -> None:
    if not isinstance(results, Mapping):
        raise RunError(f"{path}: not a JSON object")
    for dotted in ("run_id", "profile.name", "environment.fingerprint"):
        if not isinstance(_field(results, dotted, path), str):
            raise RunError(f"{path}: {dotted} must be a string")
    _field(results, "profile.preset", path)  # present; null for a custom scale
    for dotted in _REQUIRED_NUMBERS:
        _number(results, dotted, path)
    endpoints = _field(results, "endpoints", path)
    if not isinstance(endpoints, Mapping):
        raise RunError(f"{path}: endpoints must be an object")
    for name, summary in endpoints.items():
        if not isinstance(summary, Mapping):
            raise RunError(f"{path}: endpoints[{name!r}] must be an object")
        for key in ("count", "failures"):
            _number(summary, key, path)
    thresholds = _field(results, "slo.thresholds", path)
    if not isinstance(thresholds, list):
        raise RunError(f"{path}: slo.thresholds must be a list")
    for flag in ("generator_saturated", "aborted"):
        _field(results, flag, path)


def _check_histograms(histograms: Any, endpoints: Mapping[str, Any], path: Path) -> None:
    if not isinstance(histograms, Mapping):
        raise RunError(f"{path}: not a JSON object")
    for name, entry in histograms.items():
        if not isinstance(entry, Mapping):
            raise RunError(f"{path}: {name!r} must be an object")
        expected = int(endpoints[name]["count"]) if name in endpoints else None
        for kind in KINDS:
            if kind not in entry:
                raise RunError(f"{path}: {name!r} has no {kind} histogram")
            held = decoded(entry[kind], f"{path}: {name!r} {kind}").get_total_count()
            if expected is not None and held != expected:
                raise RunError(
                    f"{path}: {name!r} {kind} holds {held} samples, results.json counts "
                    f"{expected} (files of different runs?)"
                )
    if missing := sorted(set(endpoints) - set(histograms)):
        raise RunError(f"{path}: no histograms for endpoint(s) {', '.join(missing)}")


def decoded(text: Any, where: str = "histogram") -> Any:
    """An encoded HDR histogram, decoded; :class:`RunError` naming ``where`` if it is not one."""
    if not isinstance(text, str):
        raise RunError(f"{where}: not an encoded HDR histogram (a {type(text).__name__})")
    try:
        return decode(text)
    except _DECODE_ERRORS as exc:
        detail = str(exc) or type(exc).__name__
        raise RunError(f"{where}: not an encoded HDR histogram ({detail})") from None


def load_run(reference: str | Path, runs_dir: Path = RUNS_DIR) -> Run:
    """Read and check a run directory (or a run id under ``runs_dir``)."""
    directory = resolve(reference, runs_dir)
    results_path, histograms_path = directory / RESULTS, directory / HISTOGRAMS
    results = _json(results_path)
    _check_results(results, results_path)
    histograms = _json(histograms_path)
    _check_histograms(histograms, results["endpoints"], histograms_path)
    return Run(str(results["run_id"]), directory, dict(results), dict(histograms))


def key(run: Run) -> tuple[str, str, str]:
    """What makes runs comparable at all: environment fingerprint, profile, preset."""
    profile = run.results["profile"]
    preset = profile.get("preset")
    return (
        str(run.results["environment"]["fingerprint"]),
        str(profile["name"]),
        "custom" if preset is None else str(preset),
    )


def comparability(baseline: Run, candidate: Run) -> list[str]:
    """Why two runs are not like with like (empty when they are): each a one-line reason."""
    found = []
    checks = (
        ("environment fingerprint", "environment.fingerprint"),
        ("profile", "profile.name"),
        ("preset", "profile.preset"),
        ("scale", "profile.scale"),
        ("time_scale", "profile.time_scale"),
    )
    for label, dotted in checks:
        ours = _field(baseline.results, dotted, baseline.directory / RESULTS)
        theirs = _field(candidate.results, dotted, candidate.directory / RESULTS)
        if ours != theirs:
            found.append(f"different {label}: baseline {ours}, candidate {theirs}")
    if speed := machine_speed_differs(baseline, candidate):
        found.append(speed)
    return found


def reference_ms(run: Run) -> float | None:
    """The run's machine reference (``harness.load.runinfo.machine_reference``), if recorded."""
    machine = run.results.get("machine")
    value = machine.get("reference_ms") if isinstance(machine, Mapping) else None
    return float(value) if isinstance(value, int | float) and value > 0 else None


def machine_speed_differs(baseline: Run, candidate: Run) -> str | None:
    """A reason when both runs carry a machine reference and they differ by more than
    ``MACHINE_TOLERANCE``: the same fingerprint on a slower day is not like with like."""
    ours, theirs = reference_ms(baseline), reference_ms(candidate)
    if ours is None or theirs is None:
        return None
    ratio = theirs / ours
    if max(ratio, 1 / ratio) <= 1 + MACHINE_TOLERANCE:
        return None
    return (
        f"the machine ran at another speed: its reference workload took {ours:.2f} ms in the "
        f"baseline run and {theirs:.2f} ms in the candidate (x{ratio:.2f}, tolerance "
        f"{100 * MACHINE_TOLERANCE:.0f} %): record the baseline on this machine, in this session"
    )


def unusable(run: Run, role: str) -> list[str]:
    """Why one run cannot be judged at all (its generator saturated, it was aborted, or the
    machine was disturbed during it)."""
    found = []
    if run.results.get("generator_saturated"):
        found.append(f"the {role} run {run.run_id} saturated its load generator")
    if run.results.get("aborted"):
        found.append(f"the {role} run {run.run_id} was aborted: {run.results['aborted']}")
    moved = unsteadiness(run)
    if moved is not None and moved > MAX_UNSTEADINESS:
        found.append(
            f"the {role} run {run.run_id} was unsteady: its median latency moved x{moved:.2f} "
            f"between {STEADY_BLOCKS} blocks of its steady stage (limit x{MAX_UNSTEADINESS:g}): "
            "the machine was disturbed during the run; re-run it"
        )
    return found


def unsteadiness(run: Run) -> float | None:
    """How far the run's median latency moved within its steady stage: the steady seconds of
    the timeline in ``STEADY_BLOCKS`` blocks; per block, the median over endpoints of (the
    endpoint's median p50 as sent in the block / over the whole stage); the ratio of the
    highest block to the lowest. None when the timeline is too short to say.

    A run of one build on an undisturbed machine stays within x1.6 here (15 recorded ``ci``
    runs: x1.08 … x1.57); one held-out run whose first 90 s had every median doubled (search
    25 ms, then 10.7 ms) measured x2.21 — the gate would otherwise have judged that run's
    disturbance as the build's."""
    seconds = [row for row in run.results.get("timeline", []) if row.get("stage") == "steady"]
    if len(seconds) < STEADY_BLOCKS * MIN_BLOCK_SECONDS:
        return None
    series: dict[str, list[tuple[int, float]]] = {}
    for index, row in enumerate(seconds):
        for endpoint, figures_ in row.get("endpoints", {}).items():
            value = figures_.get("p50_actual") or figures_.get("p50")
            if isinstance(value, int | float) and value > 0:
                series.setdefault(endpoint, []).append((index, float(value)))
    steady = [v for v in series.values() if len(v) >= len(seconds) / 2]
    if not steady:
        return None
    levels = []
    for block in range(STEADY_BLOCKS):
        low = block * len(seconds) // STEADY_BLOCKS
        high = (block + 1) * len(seconds) // STEADY_BLOCKS
        ratios = []
        for values in steady:
            inside = [v for i, v in values if low <= i < high]
            if len(inside) >= MIN_BLOCK_SECONDS:
                ratios.append(statistics.median(inside) / statistics.median(v for _, v in values))
        if ratios:
            levels.append(statistics.median(ratios))
    return max(levels) / min(levels) if len(levels) >= 2 else None


def bins(run: Run, endpoint: str, kind: str) -> Bins:
    """One endpoint's histogram (``corrected`` or ``actual``) as bins."""
    where = f"{run.directory / HISTOGRAMS}: {endpoint!r} {kind}"
    return Bins.of(decoded(run.histograms[endpoint][kind], where))


def figures(run: Run) -> dict[str, dict[str, float]]:
    """The gate's per-endpoint figures of one run: ``count``, ``p50``/``p95``/``p99``/
    ``p95_actual`` (ms, from the histograms), ``error_rate``, ``throughput_rps``; and under
    ``overall``: ``dropped_rate`` and ``iterations_due``."""
    out: dict[str, dict[str, float]] = {}
    for endpoint, summary in sorted(run.results["endpoints"].items()):
        count = int(summary["count"])
        row: dict[str, float] = {
            "count": count,
            "error_rate": int(summary["failures"]) / count if count else 0.0,
            "throughput_rps": count / float(run.results["duration_s"]),
        }
        histograms = {kind: bins(run, endpoint, kind) for kind in KINDS}
        for metric, (percentile, kind) in PERCENTILES.items():
            if histograms[kind].total:
                row[metric] = histograms[kind].percentile(percentile) / 1000
        out[endpoint] = row
    due = int(run.results["iterations"]) + int(run.results["dropped"])
    out[OVERALL] = {"dropped_rate": int(run.results["dropped"]) / due if due else 0.0}
    out[OVERALL]["iterations_due"] = due
    return out

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
import zlib
from collections.abc import Mapping
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
    return found


def unusable(run: Run, role: str) -> list[str]:
    """Why one run cannot be judged at all (its generator saturated, or it was aborted)."""
    found = []
    if run.results.get("generator_saturated"):
        found.append(f"the {role} run {run.run_id} saturated its load generator")
    if run.results.get("aborted"):
        found.append(f"the {role} run {run.run_id} was aborted: {run.results['aborted']}")
    return found


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

"""The baselines store and the main-branch history, with change points over it.

``reports/baselines/<fingerprint>/<profile>-<preset>/`` holds, per environment and load shape:

* ``baseline/`` — the promoted run (a copy of its run directory): what ``mgh gate`` compares
  against when no ``--baseline`` is given;
* ``noise.json`` — the A/A calibration (``harness.gate.noise``);
* ``history.jsonl`` — one line per promoted main-branch run, results.json-shaped: ``run_id``,
  ``started_at``, ``code`` (``git_sha``, ``branch``), and per endpoint ``count``,
  ``p50``/``p95``/``p99``/``p95_actual`` (ms), ``error_rate``, ``throughput_rps``.

A gate compares two runs; a slow drift of 2 % per merge passes every gate. Change points over
the history show where a level shift began: ruptures' PELT (exact segmentation, linear time)
with the ``l2`` cost (a shift in the mean) on log latency (shifts are multiplicative) or the raw
share. The penalty is ``4 * sigma^2 * log(n)``: BIC-like, scaled to the series' own noise,
with sigma the standard deviation of the first differences over sqrt(2) (differencing removes
the level, so a shift inflates one difference only). Measured on simulated series (normal
noise, shift halfway): a pure-noise series shows a (false) change point 4 % of the time at 10
runs, 0.7 % at 30; a 3-sigma shift is found within one run of where it began 82 % of the time
at 10 runs, 97 % at 30 (2 sigma: 41 %, 80 %). The median-absolute-difference sigma and a factor
of 3 were tried first: 23 % false change points at 10 runs.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import ruptures  # type: ignore[import-untyped]  # ruptures ships no type information

from harness.gate import noise as noise_file
from harness.gate.model import Run
from harness.gate.noise import Noise
from harness.gate.runs import OVERALL, PERCENTILES, RunError, figures, key, load_run, unusable

ROOT = Path(__file__).resolve().parents[3]
BASELINES_DIR = ROOT / "reports" / "baselines"
BASELINE = "baseline"
NOISE = "noise.json"
HISTORY = "history.jsonl"
PENALTY_FACTOR = 4.0
MIN_SEGMENT = 2
"""Runs per segment: one odd run is an outlier, not a new level."""
SIGMA_FLOOR = {"relative": 0.005, "share": 0.0005}
"""The least noise assumed (0.5 % on latency, 0.05 percentage points on a share), so a
perfectly flat history does not turn every wobble into a change point."""
RELATIVE = (*PERCENTILES, "throughput_rps")


class HistoryError(ValueError):
    """A baselines store operation that cannot be done; the message says why."""


@dataclass(frozen=True)
class Store:
    """One environment and load shape's baseline, noise and history."""

    root: Path
    fingerprint: str
    profile: str
    preset: str

    @classmethod
    def for_run(cls, run: Run, root: Path = BASELINES_DIR) -> Store:
        return cls(root, *key(run))

    @property
    def directory(self) -> Path:
        return self.root / self.fingerprint / f"{self.profile}-{self.preset}"

    @property
    def baseline_dir(self) -> Path:
        return self.directory / BASELINE

    @property
    def noise_path(self) -> Path:
        return self.directory / NOISE

    @property
    def history_path(self) -> Path:
        return self.directory / HISTORY

    def baseline(self) -> Run | None:
        """The promoted run, or None when nothing was promoted yet."""
        return load_run(self.baseline_dir) if self.baseline_dir.is_dir() else None

    def noise(self) -> Noise | None:
        return noise_file.load(self.noise_path) if self.noise_path.is_file() else None

    def history(self) -> list[dict[str, Any]]:
        """The history lines, oldest first (by ``started_at``)."""
        if not self.history_path.is_file():
            return []
        entries = []
        lines = self.history_path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as exc:
                raise HistoryError(f"{self.history_path}:{number}: not JSON ({exc.msg})") from None
            if not isinstance(entry, dict) or "run_id" not in entry:
                raise HistoryError(f"{self.history_path}:{number}: not a history entry")
            entries.append(entry)
        return sorted(entries, key=lambda e: float(e.get("started_at") or 0))


def stores(root: Path = BASELINES_DIR) -> list[Store]:
    """Every store under ``root`` (directories two levels down holding a store file)."""
    found = []
    for directory in sorted(root.glob("*/*")):
        names = {BASELINE, NOISE, HISTORY}
        if directory.is_dir() and any((directory / name).exists() for name in names):
            profile, _, preset = directory.name.rpartition("-")
            found.append(Store(root, directory.parent.name, profile, preset))
    return found


def entry(run: Run) -> dict[str, Any]:
    """A run's history line."""
    per_endpoint = figures(run)
    overall = per_endpoint.pop(OVERALL)
    metrics = ("count", *PERCENTILES, "error_rate", "throughput_rps")
    return {
        "run_id": run.run_id,
        "started_at": run.results["started_at"],
        "ended_at": run.results["ended_at"],
        "code": dict(run.results.get("code") or {}),
        "endpoints": {
            name: {m: round(v, 6) for m, v in values.items() if m in metrics}
            for name, values in per_endpoint.items()
        },
        "dropped_rate": round(overall["dropped_rate"], 6),
    }


def record(store: Store, run: Run) -> bool:
    """Append ``run`` to the history (once: False when its run id is already there)."""
    if any(e["run_id"] == run.run_id for e in store.history()):
        return False
    store.directory.mkdir(parents=True, exist_ok=True)
    with store.history_path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(entry(run), sort_keys=True) + "\n")
    return True


def promote(run: Run, root: Path = BASELINES_DIR) -> Store:
    """Make ``run`` the baseline of its environment and load shape (its run directory copied
    into ``baseline/``, replacing the previous one) and append it to the history."""
    if problems := unusable(run, "promoted"):
        raise HistoryError(f"not promoted: {problems[0]}")
    store = Store.for_run(run, root)
    if run.directory.resolve() == store.baseline_dir.resolve():
        raise HistoryError(f"{run.run_id} is already the baseline")
    store.directory.mkdir(parents=True, exist_ok=True)
    staging = store.directory / f".{BASELINE}.new"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(run.directory, staging)
    try:
        load_run(staging)  # the copy is whole before it replaces anything
    except RunError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise HistoryError(f"not promoted: the copy is unreadable ({exc})") from None
    shutil.rmtree(store.baseline_dir, ignore_errors=True)
    staging.rename(store.baseline_dir)
    record(store, run)
    return store


def promoted_for(candidate: Run, root: Path = BASELINES_DIR) -> tuple[Run, Noise | None] | None:
    """The promoted baseline (and its noise.json) for the candidate's environment and load
    shape, or None when there is none."""
    store = Store.for_run(candidate, root)
    baseline = store.baseline()
    return None if baseline is None else (baseline, store.noise())


# --- change points ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChangePoint:
    index: int
    """Index (oldest first) of the first run at the new level."""
    run_id: str
    git_sha: str
    before: float
    """Mean of the metric over the segment before (in the metric's units)."""
    after: float


def series(history: Sequence[Mapping[str, Any]], endpoint: str, metric: str) -> list[float | None]:
    """The metric per history entry (None where an entry lacks it)."""
    values: list[float | None] = []
    for item in history:
        figures_ = (item.get("endpoints") or {}).get(endpoint) or {}
        value = item.get(metric) if endpoint == OVERALL else figures_.get(metric)
        values.append(float(value) if isinstance(value, int | float) else None)
    return values


def _sigma(signal: np.ndarray[Any, np.dtype[np.float64]], floor: float) -> float:
    """The series' noise from its first differences (a level shift moves one of them)."""
    return max(float(np.diff(signal).std(ddof=1)) / math.sqrt(2), floor)


def change_points(
    history: Sequence[Mapping[str, Any]],
    endpoint: str,
    metric: str,
    *,
    penalty_factor: float = PENALTY_FACTOR,
    min_size: int = MIN_SEGMENT,
) -> list[ChangePoint]:
    """Where the metric's level shifted over the history (PELT, see the module doc). Entries
    without the metric are skipped; fewer than ``2 * min_size`` values give no change point."""
    values = series(history, endpoint, metric)
    kept = [(i, v) for i, v in enumerate(values) if v is not None]
    relative = metric in RELATIVE
    if relative:
        kept = [(i, v) for i, v in kept if v > 0]
    if len(kept) < 2 * min_size:
        return []
    raw = np.array([v for _, v in kept], dtype=np.float64)
    signal = np.log(raw) if relative else raw
    sigma = _sigma(signal, SIGMA_FLOOR["relative" if relative else "share"])
    penalty = penalty_factor * sigma**2 * math.log(len(signal))
    algorithm = ruptures.Pelt(model="l2", min_size=min_size, jump=1)
    breaks = [int(b) for b in algorithm.fit(signal.reshape(-1, 1)).predict(pen=penalty)]
    found = []
    bounds = [0, *breaks]
    for start, cut, end in zip(bounds, bounds[1:], bounds[2:], strict=False):
        index = kept[cut][0]
        item = history[index]
        found.append(
            ChangePoint(
                index=index,
                run_id=str(item.get("run_id")),
                git_sha=str((item.get("code") or {}).get("git_sha") or ""),
                before=float(raw[start:cut].mean()),
                after=float(raw[cut:end].mean()),
            )
        )
    return found

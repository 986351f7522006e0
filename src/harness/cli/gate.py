"""``mgh gate`` and ``mgh baseline``: the regression gate as CI and a developer run it.

``mgh gate --candidate RUN [--baseline RUN]`` judges a load run against a baseline (the
promoted one for the candidate's environment and load shape when ``--baseline`` is omitted),
prints a compact table and one verdict line, writes the reports, and exits 0 pass, 1
regression, 2 could not judge. ``mgh baseline calibrate|update|history`` keep the baselines
store: the A/A noise, the promoted run and the main-branch history with its change points.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import click
import httpx

from harness.cli import _fail, main
from harness.cli.obs import rules_option
from harness.gate import history as store_module
from harness.gate import noise as noise_module
from harness.gate.history import BASELINES_DIR, HistoryError, Store, change_points, stores
from harness.gate.judge import SLO_FILE, GateConfigError, fired_alerts, judge, settings
from harness.gate.model import Change, GateResult, MetricComparison, Run, Verdict
from harness.gate.noise import Noise, NoiseError
from harness.gate.runs import OVERALL, RUNS_DIR, RunError, load_run
from harness.gate.shift import shift_metric

ROOT = Path(__file__).resolve().parents[3]
OUT_DIR = ROOT / "reports" / "out"
RULES_DIR = ROOT / "alerting" / "rules"
SHIFT_P50 = shift_metric("p50")
COLUMNS = (
    ("p50", "p50"),
    ("p95", "p95"),
    ("p99", "p99"),
    ("p95_actual", "p95 sent"),
    ("error_rate", "errors"),
    ("throughput_rps", "rps"),
)
MARKS = {
    Change.REGRESSION: "▲",
    Change.IMPROVEMENT: "▼",
    Change.SHIFTED: "≈",
    Change.UNCHANGED: " ",
}
COLOURS = {Verdict.PASS: "green", Verdict.REGRESSION: "red", Verdict.CANNOT_JUDGE: "yellow"}
HISTORY_METRIC = "p95"
"""The metric whose change points go into the reports' history charts."""

_baselines = click.option(
    "--baselines",
    "baselines_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=BASELINES_DIR,
    show_default=True,
    help="The baselines store.",
)
_runs_dir = click.option(
    "--runs-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=RUNS_DIR,
    show_default=True,
    help="Where run ids resolve.",
)
_slo = click.option(
    "--slo",
    "slo_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=SLO_FILE,
    show_default=True,
    help="load/slo.yaml (its optional `gate:` section sets alpha and the floors).",
)


def _error(message: str) -> NoReturn:
    """``harness.cli._fail`` (exit 1), typed as not returning."""
    _fail(message)
    raise SystemExit(1)  # not reached: _fail has exited; this tells the type checker


def _cannot_judge(reason: str) -> NoReturn:
    click.secho(f"could not judge: {reason}", fg=COLOURS[Verdict.CANNOT_JUDGE])
    sys.exit(Verdict.CANNOT_JUDGE.exit_code)


# --- the table ----------------------------------------------------------------------------------


def _cell(row: MetricComparison | None) -> str:
    if row is None:
        return "—"
    if row.change is Change.NOT_JUDGED:
        return "n/j"
    if row.metric in ("error_rate", "dropped_rate"):
        moved = f"{100 * (row.candidate - row.baseline):+.2f}pp"
    else:
        moved = f"{100 * (row.ratio - 1):+.1f}%"
    return f"{MARKS[row.change]}{moved}"


def table(result: GateResult) -> list[str]:
    """One line per endpoint (change per metric: ▲ regression, ▼ improvement, n/j not judged),
    the run-wide dropped rate, then the evidence of every notable row."""
    by_key = {(row.endpoint, row.metric): row for row in result.comparisons}
    endpoints = sorted({row.endpoint for row in result.comparisons} - {OVERALL})
    base_n = result.baseline.results["endpoints"]
    cand_n = result.candidate.results["endpoints"]
    width = max([len(e) for e in endpoints] + [len("endpoint")])
    lines = [
        f"{'endpoint':<{width}} {'requests':>13} " + " ".join(f"{title:>9}" for _, title in COLUMNS)
    ]
    for endpoint in endpoints:
        counts = f"{base_n[endpoint]['count']}→{cand_n[endpoint]['count']}"
        cells = " ".join(f"{_cell(by_key.get((endpoint, m))):>9}" for m, _ in COLUMNS)
        lines.append(f"{endpoint:<{width}} {counts:>13} {cells}")
    dropped = by_key.get((OVERALL, "dropped_rate"))
    if dropped is not None:
        lines.append(f"{'dropped iterations (run)':<{width}} {'':>13} {_cell(dropped):>9}")
    shifted = by_key.get((OVERALL, SHIFT_P50))
    if shifted is not None:
        lines.append(f"{'run-wide p50 shift':<{width}} {'':>13} {_cell(shifted):>9}")
        lines.append("(each endpoint's p50 is shown and judged relative to the run-wide shift)")
    notable = [
        r
        for r in result.comparisons
        if r.change in (Change.REGRESSION, Change.IMPROVEMENT, Change.SHIFTED)
    ]
    if notable:
        lines.append("")
    for row in notable:
        lines.append(f"{MARKS[row.change]} {row.endpoint} {row.metric}: {row.evidence}")
    return lines


def _print(result: GateResult) -> None:
    click.echo(f"baseline  {result.baseline.run_id}  ({result.baseline.directory})")
    click.echo(f"candidate {result.candidate.run_id}  ({result.candidate.directory})")
    if result.comparisons:
        click.echo("")
        for line in table(result):
            click.echo(line)
    failed = [row for row in result.slo if row.outcome != "pass"]
    if result.slo:
        click.echo(f"\nSLO: {len(result.slo) - len(failed)} of {len(result.slo)} thresholds met")
    for row in failed:
        value = "no samples" if row.value is None else f"{row.value:.4g}"
        click.echo(f"  {row.outcome.upper():<5} {row.scope} {row.metric} {value} ≤ {row.limit:g}")
    for alert in result.alerts:
        click.echo(f"alert fired: {alert.alertname} ({alert.severity}, {alert.service})")
    for note in result.notes:
        click.echo(f"note: {note}")
    for refusal in result.refusals:
        click.echo(f"refused: {refusal}")


# --- reports ------------------------------------------------------------------------------------


def _write_reports(result: GateResult, out_dir: Path, store: Store) -> list[Path] | None:
    """``harness.gate.report.write_reports`` with the main-branch history and its change
    points; None when that module is not installed."""
    try:
        report: Any = importlib.import_module("harness.gate.report")
    except ModuleNotFoundError as exc:
        if exc.name not in ("harness.gate.report",):
            raise
        return None
    entries = store.history()
    endpoints = {row.endpoint for row in result.comparisons} - {OVERALL}
    points = {
        endpoint: [point.index for point in change_points(entries, endpoint, HISTORY_METRIC)]
        for endpoint in sorted(endpoints)
    }
    written: list[Path] = report.write_reports(
        result, out_dir, history=entries, change_points={k: v for k, v in points.items() if v}
    )
    return written


# --- mgh gate -----------------------------------------------------------------------------------


def _baseline_and_noise(
    reference: str | None, candidate: Run, noise_path: Path | None, store: Store, runs_dir: Path
) -> tuple[Run, Noise | None, str]:
    if reference is not None:
        baseline = load_run(reference, runs_dir)
        source = "given"
    else:
        promoted = store.baseline()
        if promoted is None:
            raise RunError(
                "no --baseline given and none promoted for "
                f"{store.fingerprint}/{store.profile}-{store.preset} under {store.root}"
            )
        baseline, source = promoted, f"promoted ({store.baseline_dir})"
    if noise_path is not None:
        return baseline, noise_module.load(noise_path), source
    return baseline, store.noise(), source


@main.command("gate")
@click.option("--candidate", required=True, help="The run to judge: a run directory or run id.")
@click.option(
    "--baseline",
    default=None,
    help="Run directory or run id (default: the promoted baseline for the candidate's "
    "fingerprint, profile and preset).",
)
@click.option(
    "--noise",
    "noise_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="noise.json (default: the store's, when there is one; else the floors alone).",
)
@click.option("--prometheus", default=None, help="Prometheus that evaluated the alert rules.")
@rules_option
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Report directory (default: reports/out/<candidate run id>/).",
)
@click.option("--reports/--no-reports", default=True, show_default=True, help="Write reports.")
@_baselines
@_runs_dir
@_slo
def gate(
    candidate: str,
    baseline: str | None,
    noise_path: Path | None,
    prometheus: str | None,
    rule_files: tuple[Path, ...],
    out: Path | None,
    reports: bool,
    baselines_dir: Path,
    runs_dir: Path,
    slo_file: Path,
) -> None:
    """Judge a candidate load run against a baseline: exit 0 pass, 1 regression, 2 could not
    judge (the reason on the last line)."""
    try:
        judged = load_run(candidate, runs_dir)
        store = Store.for_run(judged, baselines_dir)
        base, noise, source = _baseline_and_noise(baseline, judged, noise_path, store, runs_dir)
        config = settings(slo_file)
    except (RunError, NoiseError, GateConfigError, HistoryError) as exc:
        _cannot_judge(str(exc))
    alerts = []
    if prometheus:
        files = list(rule_files) or sorted(RULES_DIR.glob("*.yml"))
        window = (float(judged.results["started_at"]), float(judged.results["ended_at"]))
        try:
            alerts = fired_alerts(prometheus, files, *window)
        except (httpx.HTTPError, RuntimeError) as exc:
            _cannot_judge(f"Prometheus at {prometheus}: {exc}")
    result = judge(base, judged, noise=noise, settings=config, alerts=alerts)
    click.echo(f"baseline: {source}")
    click.echo(
        "noise: "
        + (f"calibrated from {len(noise.runs)} A/A runs" if noise else "none (floors only)")
    )
    _print(result)
    if reports:
        written = _write_reports(result, out or OUT_DIR / judged.run_id, store)
        if written is None:
            click.echo("\nreports: harness.gate.report is not installed; none written")
        else:
            click.echo("\nreports:")
            for path in written:
                click.echo(f"  {path}")
    click.secho(f"\n{result.reason}", fg=COLOURS[result.verdict])
    sys.exit(result.verdict.exit_code)


# --- mgh baseline -------------------------------------------------------------------------------


@main.group()
def baseline() -> None:
    """The baselines store: A/A noise calibration, the promoted run, the main-branch history."""


def _runs(references: Sequence[str], runs_dir: Path) -> list[Run]:
    try:
        return [load_run(reference, runs_dir) for reference in references]
    except RunError as exc:
        _error(str(exc))


@baseline.command("calibrate")
@click.argument("run_refs", metavar="RUN [RUN ...]", nargs=-1, required=True)
@click.option(
    "--safety-factor",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Multiplies the largest A/A change [default: computed for the number of runs, "
    "7.4 for 3 runs, 2.7 for 5, 1.5 for 10: see harness.gate.noise].",
)
@_baselines
@_runs_dir
@_slo
def baseline_calibrate(
    run_refs: tuple[str, ...],
    safety_factor: float | None,
    baselines_dir: Path,
    runs_dir: Path,
    slo_file: Path,
) -> None:
    """Learn the noise from 3 or more A/A runs of one build; writes the store's noise.json."""
    runs = _runs(run_refs, runs_dir)
    try:
        config = settings(slo_file)
        noise = noise_module.calibrate(
            runs, safety_factor=safety_factor, min_samples=config.min_samples
        )
    except (NoiseError, GateConfigError) as exc:
        _error(str(exc))
    path = noise_module.write(noise, Store.for_run(runs[0], baselines_dir).noise_path)
    metrics = [m for m, _ in COLUMNS]
    width = max([len(e) for e in noise.min_effects] + [len("endpoint")])
    click.echo(f"{'endpoint':<{width}} " + " ".join(f"{title:>9}" for _, title in COLUMNS))
    for endpoint, effects in noise.min_effects.items():
        if endpoint == OVERALL:
            continue
        cells = []
        for metric in metrics:
            value = effects.get(metric)
            unit = "pp" if metric == "error_rate" else "%"
            cells.append("—" if value is None else f"{100 * value:.1f}{unit}")
        click.echo(f"{endpoint:<{width}} " + " ".join(f"{c:>9}" for c in cells))
    overall = noise.min_effects.get(OVERALL, {})
    if "dropped_rate" in overall:
        click.echo(f"dropped iterations: {100 * overall['dropped_rate']:.2f}pp")
    if SHIFT_P50 in overall:
        click.echo(f"run-wide p50 shift: {100 * overall[SHIFT_P50]:.1f}%")
    click.echo(f"\nnoise of {len(runs)} A/A runs (x{noise.safety_factor:g}) written to {path}")


@baseline.command("update")
@click.argument("run_ref", metavar="RUN")
@_baselines
@_runs_dir
def baseline_update(run_ref: str, baselines_dir: Path, runs_dir: Path) -> None:
    """Promote a run: it becomes the baseline of its environment and load shape, and joins the
    main-branch history."""
    (run,) = _runs([run_ref], runs_dir)
    try:
        store = store_module.promote(run, baselines_dir)
    except HistoryError as exc:
        _error(str(exc))
    branch = str((run.results.get("code") or {}).get("branch") or "")
    if branch not in ("main", "master"):
        click.echo(f"note: {run.run_id} ran on branch {branch or '(unknown)'}, not main")
    click.echo(
        f"promoted {run.run_id} to {store.baseline_dir} "
        f"(history: {len(store.history())} run(s) in {store.history_path})"
    )


def _choose_store(
    root: Path, run_ref: str | None, runs_dir: Path, fingerprint: str | None, shape: str | None
) -> Store:
    if run_ref is not None:
        (run,) = _runs([run_ref], runs_dir)
        return Store.for_run(run, root)
    found = stores(root)
    if fingerprint is not None:
        found = [s for s in found if s.fingerprint == fingerprint]
    if shape is not None:
        found = [s for s in found if f"{s.profile}-{s.preset}" == shape]
    if len(found) == 1:
        return found[0]
    if not found:
        _error(f"no baselines store under {root} matches")
    names = ", ".join(f"{s.fingerprint}/{s.profile}-{s.preset}" for s in found)
    _error(f"several stores ({names}): choose with --run, --fingerprint or --shape")


def _when(epoch: Any) -> str:
    if not isinstance(epoch, int | float):
        return "?"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M")


@baseline.command("history")
@click.option("--endpoint", default=None, help="One endpoint (default: a line per endpoint).")
@click.option("--metric", default=HISTORY_METRIC, show_default=True, help="p50, p95, p99, …")
@click.option("--run", "run_ref", default=None, help="Pick the store of this run.")
@click.option("--fingerprint", default=None, help="Pick the store of this fingerprint.")
@click.option("--shape", default=None, help="Pick the store of this <profile>-<preset>.")
@_baselines
@_runs_dir
def baseline_history(
    endpoint: str | None,
    metric: str,
    run_ref: str | None,
    fingerprint: str | None,
    shape: str | None,
    baselines_dir: Path,
    runs_dir: Path,
) -> None:
    """The main-branch history of a metric and where its level shifted (change points)."""
    store = _choose_store(baselines_dir, run_ref, runs_dir, fingerprint, shape)
    try:
        entries = store.history()
    except HistoryError as exc:
        _error(str(exc))
    click.echo(f"{store.directory}: {len(entries)} run(s)")
    if not entries:
        return
    names = sorted({name for e in entries for name in (e.get("endpoints") or {})})
    if endpoint is None:
        width = max(len(n) for n in names)
        for name in names:
            shifted = change_points(entries, name, metric)
            known = [v for v in store_module.series(entries, name, metric) if v is not None]
            latest = f"{known[-1]:.4g}" if known else "—"
            shifts = ", ".join(f"#{p.index} {p.run_id}" for p in shifted) or "none"
            click.echo(f"{name:<{width}} {metric} latest {latest:>8}  change points: {shifts}")
        return
    if endpoint not in names and endpoint != OVERALL:
        _error(f"{endpoint!r} is not in the history ({len(names)} endpoints)")
    points = {p.index: p for p in change_points(entries, endpoint, metric)}
    values = store_module.series(entries, endpoint, metric)
    for index, (item, value) in enumerate(zip(entries, values, strict=True)):
        sha = str((item.get("code") or {}).get("git_sha") or "")[:10]
        shown = "—" if value is None else f"{value:.4g}"
        mark = "  ← change point" if index in points else ""
        click.echo(
            f"#{index:<3} {_when(item.get('started_at'))} {sha:<10} {item['run_id']:<40} "
            f"{shown:>10}{mark}"
        )
    for point in points.values():
        click.echo(
            f"change point at #{point.index} ({point.run_id}, {point.git_sha[:10] or 'no sha'}): "
            f"{metric} {point.before:.4g} → {point.after:.4g}"
        )

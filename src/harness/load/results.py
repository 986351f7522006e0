"""A run's results file (the regression gate's input) and the table printed at its end.

``reports/out/runs/<run_id>/results.json``: what ran (profile as scaled, environment
fingerprint, the machine's speed reference, code), the per-endpoint percentiles (corrected
and as sent) read from the merged HDR histograms, the SLO judgement, dropped iterations, the
generator's CPU and whether it was saturated, what InfluxDB lost, the run events, and a
per-second timeline.
``histograms.json`` beside it keeps each endpoint's whole-run histograms, encoded, so later
tools recompute any percentile exactly.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.load import slo as slo_spec
from harness.load.influx import WriterStats
from harness.load.stats import Recorder, encode

if TYPE_CHECKING:
    from harness.load.plugin import Engine

SATURATED_PERCENT = 90.0
SATURATED_SHARE = 0.10
"""Saturated when more than this share of a run's CPU samples exceed SATURATED_PERCENT…"""
SATURATED_STREAK = 5
"""…or when that many consecutive samples of one process do."""
EXIT_CODES = {slo_spec.Outcome.PASS: 0, slo_spec.Outcome.FAIL: 1, slo_spec.Outcome.ERROR: 2}


def saturation(per_process: Iterable[list[float]]) -> dict[str, Any]:
    """Whether the generator itself ran out of CPU (then its latencies are its own queueing)."""
    processes = [samples for samples in per_process if samples]
    every = [s for samples in processes for s in samples]
    if not every:
        return {"saturated": False, "samples": 0}
    hot = sum(1 for s in every if s > SATURATED_PERCENT)
    streak = 0
    for samples in processes:
        run = 0
        for sample in samples:
            run = run + 1 if sample > SATURATED_PERCENT else 0
            streak = max(streak, run)
    return {
        "saturated": hot / len(every) > SATURATED_SHARE or streak >= SATURATED_STREAK,
        "samples": len(every),
        "max_percent": round(max(every), 1),
        "mean_percent": round(statistics.fmean(every), 1),
        "share_above_90": round(hot / len(every), 3),
        "longest_streak_above_90_s": streak,
    }


def _verdict(
    engine: Engine,
    judgements: list[slo_spec.Judgement],
    outcome: slo_spec.Outcome,
    generator: dict[str, Any],
) -> tuple[int, list[str]]:
    """The exit code and its reasons: the SLO's outcome, overruled by a saturated generator
    (its own queueing is not the system's latency) or an aborted run."""
    reasons: list[str] = []
    exit_code = EXIT_CODES[outcome]
    if outcome is slo_spec.Outcome.ERROR:
        reasons += list(
            dict.fromkeys(j.detail for j in judgements if j.outcome is slo_spec.Outcome.ERROR)
        )
    if outcome is slo_spec.Outcome.FAIL:
        reasons += [
            f"{j.threshold.scope} {j.threshold.metric} {j.value:.4g} > {j.threshold.limit:g}"
            for j in judgements
            if j.outcome is slo_spec.Outcome.FAIL and j.value is not None
        ]
    if generator["saturated"]:
        exit_code = 2
        reasons.insert(0, "generator_saturated: the load generator ran out of CPU")
    if engine.aborted:
        exit_code = 1 if engine.aborted.startswith("threshold") else 2
        reasons.insert(0, f"aborted: {engine.aborted}")
    return exit_code, reasons


def build(
    engine: Engine, summaries: dict[str, dict[str, Any]], influx: WriterStats | None
) -> dict[str, Any]:
    recorder = engine.recorder
    due = recorder.iterations + recorder.dropped
    judgements = slo_spec.evaluate(
        engine.slo, summaries, dropped=recorder.dropped, iterations_due=due
    )
    outcome = slo_spec.verdict(judgements)
    generator = saturation([engine.cpu.samples, *engine.worker_cpu.values()])
    duration = max(1e-9, engine.ended_at - engine.started_at)
    exit_code, reasons = _verdict(engine, judgements, outcome, generator)
    verdict = {0: "PASS", 1: "FAIL", 2: "COULD NOT JUDGE"}[exit_code]
    endpoints = {
        name: {**summary, "throughput_rps": round(int(summary["count"]) / duration, 3)}
        for name, summary in summaries.items()
    }
    return {
        "run_id": engine.run_id,
        "verdict": verdict,
        "exit_code": exit_code,
        "reasons": reasons,
        "started_at": engine.started_at,
        "ended_at": engine.ended_at,
        "duration_s": round(duration, 3),
        "target": engine.environment.host,
        "profile": engine.profile.describe(),
        "environment": engine.env.describe(),
        "machine": engine.machine,
        "code": engine.code,
        "tags": engine.tags,
        "iterations": recorder.iterations,
        "dropped": recorder.dropped,
        "dropped_rate": round(recorder.dropped / due, 5) if due else 0.0,
        "endpoints": endpoints,
        "slo": {
            "latency": engine.slo.latency,
            "verdict": outcome.value,
            "thresholds": [
                {
                    "scope": j.threshold.scope,
                    "metric": j.threshold.metric,
                    "limit": j.threshold.limit,
                    "value": j.value,
                    "outcome": j.outcome.value,
                    "detail": j.detail,
                }
                for j in judgements
            ],
        },
        "generator": {**generator, "processes": engine.env.generator_processes},
        "generator_saturated": bool(generator["saturated"]),
        "aborted": engine.aborted or None,
        "influx": None
        if influx is None
        else {
            "written": influx.written,
            "dropped": influx.dropped,
            "failed_batches": influx.failed_batches,
            "errors": influx.errors,
        },
        "events": engine.events,
        "timeline": [engine.timeline[at] for at in sorted(engine.timeline)],
    }


def write(directory: Path, report: dict[str, Any], recorder: Recorder) -> Path:
    run_dir = directory / str(report["run_id"])
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "results.json"
    path.write_text(json.dumps(report, indent=2, sort_keys=False), encoding="utf-8")
    histograms = {
        name: {"corrected": encode(s.corrected), "actual": encode(s.actual), "count": s.count}
        for name, s in recorder.totals.items()
    }
    (run_dir / "histograms.json").write_text(json.dumps(histograms), encoding="utf-8")
    return path


def _ms(value: Any) -> str:
    return f"{value:8.1f}" if isinstance(value, int | float) else f"{'—':>8}"


def console(report: dict[str, Any]) -> list[str]:
    """The end-of-run tables: endpoints (corrected | as sent), then the SLO judgement."""
    rows = [
        "",
        f"{'endpoint':<56} {'count':>7} {'err%':>5} {'p50':>8} {'p95':>8} {'p99':>8} "
        f"{'max':>8} | {'p95 sent':>8} {'p99 sent':>8}",
    ]
    for name, s in report["endpoints"].items():
        errors = 100 * s["failures"] / s["count"] if s["count"] else 0.0
        rows.append(
            f"{name[:56]:<56} {s['count']:>7} {errors:>5.1f} {_ms(s.get('p50'))} "
            f"{_ms(s.get('p95'))} {_ms(s.get('p99'))} {_ms(s.get('max'))} | "
            f"{_ms(s.get('p95_actual'))} {_ms(s.get('p99_actual'))}"
        )
    rows += ["", f"SLO ({report['slo']['latency']} latency, load/slo.yaml):"]
    for t in report["slo"]["thresholds"]:
        value = "no samples" if t["value"] is None else f"{t['value']:.4g}"
        mark = {"pass": "ok  ", "fail": "FAIL", "error": "ERR "}[t["outcome"]]
        rows.append(
            f"  {mark} {t['scope'][:56]:<56} {t['metric']:<13} {value:>10} ≤ {t['limit']:g}"
        )
    gen = report["generator"]
    rows.append(
        f"generator: {gen.get('processes', 1)} process(es), CPU max {gen.get('max_percent', 0)}% "
        f"mean {gen.get('mean_percent', 0)}%"
        + ("  — SATURATED: its latency is its own queueing" if gen["saturated"] else "")
    )
    dropped = report["dropped"]
    rows.append(
        f"iterations: {report['iterations']} started, {dropped} dropped "
        f"({100 * report['dropped_rate']:.2f}%)"
    )
    if report["influx"] is not None:
        influx = report["influx"]
        rows.append(f"influxdb: {influx['written']} points written, {influx['dropped']} dropped")
    rows.append(
        f"verdict: {report['verdict']}"
        + (f" — {'; '.join(report['reasons'])}" if report["reasons"] else "")
    )
    return rows

"""The matrix as a table (printed, and in Markdown for the README) and as JSON, with the
verdict: every fault recovered, no request hung, every error a JSON error, readiness named the
dependency, the alert fired, and nothing accepted was lost."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from harness.faults.matrix import MatrixResult, Row

HEADER = (
    "| fault | what users saw (witness, fault + recovery) | slowest | readiness | alert "
    "| recovery | lost (witness) | events produced / delivered / consumed / duplicates / lost |"
)


def _events(row: Row) -> str:
    e = row.events
    if e is None:
        return "—"
    text = f"{e.produced} / {e.delivered} / {e.consumed} / {e.duplicates} / {e.lost}"
    return text + (f" ({e.pending} pending)" if e.pending else "")


def _recovery(row: Row) -> str:
    return "NOT RECOVERED" if row.recovery_seconds is None else f"{row.recovery_seconds:.1f} s"


def problems(row: Row) -> list[str]:
    """Why a row fails the matrix (empty: it passes)."""
    found = []
    if row.recovery_seconds is None:
        found.append("did not recover")
    if row.hung:
        found.append(f"{row.hung} requests hung")
    if row.internal_errors:
        found.append(f"{row.internal_errors} answers 500 instead of 502/503")
    if row.non_json_errors:
        found.append(f"{row.non_json_errors} errors without the JSON error body")
    if not row.readiness_named:
        found.append(f"readiness: {row.readiness}")
    if not row.alert_ok:
        found.append(row.alert)
    if row.lost:
        found.append(f"{row.lost} accepted writes or events lost")
    if row.events is not None and row.events.pending:
        found.append(f"{row.events.pending} events never delivered")
    if not row.under_load:
        found.append("the background load had ended")
    return found


def markdown(result: MatrixResult) -> str:
    lines = [HEADER, "|" + "---|" * 8]
    for row in result.rows:
        lost = f"{row.losses.total} of {row.losses.checked}"
        lines.append(
            f"| {row.fault} | {row.users_saw} | {row.slowest_seconds:.2f} s | {row.readiness} "
            f"| {row.alert} | {_recovery(row)} | {lost} | {_events(row)} |"
        )
    lines += ["", *load_lines(result)]
    for row in result.rows:
        lines += [f"- {row.fault}: {note}" for note in row.notes]
    return "\n".join(lines) + "\n"


def load_lines(result: MatrixResult) -> list[str]:
    load = result.load
    if load is None:
        return [f"background load: no results (exit code {result.load_exit})"]
    endpoints = load.get("endpoints", {}).values()
    requests = sum(int(e.get("count", 0)) for e in endpoints)
    failures = sum(int(e.get("failures", 0)) for e in endpoints)
    influx = load.get("influx") or {}
    cpu = load.get("generator", {})
    return [
        f"background load {load.get('run_id')}: {requests} requests, {failures} failed, "
        f"generator CPU max {cpu.get('max_percent', '?')} % "
        f"({'SATURATED' if load.get('generator_saturated') else 'not saturated'})",
        f"InfluxDB points: {influx.get('written', 0)} written, {influx.get('dropped', 0)} dropped "
        "and counted (the InfluxDB fault's share; the run went on)",
        f"witness: {result.witness_accepted} accepted writes checked after each fault",
    ]


def passed(result: MatrixResult) -> bool:
    return not any(problems(row) for row in result.rows)


def write(result: MatrixResult, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "matrix.md").write_text(markdown(result), encoding="utf-8")
    document: dict[str, Any] = {
        "passed": passed(result),
        "rows": [
            {**dataclasses.asdict(row), "lost": row.lost, "problems": problems(row)}
            for row in result.rows
        ],
        "load_exit": result.load_exit,
        "witness_accepted": result.witness_accepted,
        "load": None if result.load is None else {"run_id": result.load.get("run_id")},
    }
    path = directory / "matrix.json"
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path

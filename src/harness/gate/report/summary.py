"""``summary.json``: the decision as data, for tools (dashboards, bots, the next gate run).

Stable keys, plain JSON (NaN/inf become ``null``: JSON has no such numbers), paths relative to
the report directory so the file stays true when the directory is uploaded as an artifact.
"""

from __future__ import annotations

import enum
import json
import math
from dataclasses import asdict
from typing import Any

from harness.gate.model import Run
from harness.gate.report.content import Report, run_facts, time_range_ms

SCHEMA = 1


def _plain(value: Any) -> Any:
    """Enums to their value, non-finite floats to None, containers recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    return value


def _run(run: Run) -> dict[str, Any]:
    window = time_range_ms(run)
    return {
        "run_id": run.run_id,
        "directory": str(run.directory),
        "facts": run_facts(run),
        "started_ms": window[0] if window else None,
        "ended_ms": window[1] if window else None,
    }


def document(report: Report) -> dict[str, Any]:
    result = report.result
    return {
        "schema": SCHEMA,
        "verdict": result.verdict.value,
        "label": report.label,
        "exit_code": result.verdict.exit_code,
        "reason": result.reason,
        "baseline": _run(result.baseline),
        "candidate": _run(result.candidate),
        "endpoints": [
            {"endpoint": row.endpoint, "change": row.change.value, "label": row.label}
            for row in report.rows
        ],
        "comparisons": [_plain(asdict(c)) for c in result.comparisons],
        "slo": [_plain(asdict(row)) for row in result.slo],
        "alerts": [_plain(asdict(alert)) for alert in result.alerts],
        "refusals": list(result.refusals),
        "notes": list(result.notes),
        "change_points": [_plain(asdict(change)) for change in report.changes],
        "grafana": [asdict(link) for link in report.links],
        "paths": list(report.files),
    }


def render(report: Report) -> str:
    return json.dumps(document(report), indent=2, allow_nan=False) + "\n"

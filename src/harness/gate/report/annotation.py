"""``grafana-annotation.json``: the body of Grafana's ``POST /api/annotations`` for the run.

Posted by CI (``curl -H "Authorization: Bearer $TOKEN" -d @grafana-annotation.json
$MGH_GRAFANA_URL/api/annotations``), it marks the candidate run's window on the load-results
dashboard with the verdict, so a later reader of the graphs sees which runs the gate passed.
Time and timeEnd are epoch milliseconds, as the API wants.
"""

from __future__ import annotations

import json
from typing import Any

from harness.gate.report.content import DASHBOARD_UID, Report, profile_name, time_range_ms


def payload(report: Report) -> dict[str, Any] | None:
    """None when the candidate's results carry no time window (nothing to annotate)."""
    result = report.result
    window = time_range_ms(result.candidate)
    if window is None:
        return None
    return {
        "dashboardUID": DASHBOARD_UID,
        "time": window[0],
        "timeEnd": window[1],
        "tags": ["mgh", "load", profile_name(result.candidate), result.verdict.value],
        "text": (
            f"mgh gate {report.label}: {result.reason} "
            f"(candidate {result.candidate.run_id} vs baseline {result.baseline.run_id})"
        ),
    }


def render(report: Report) -> str | None:
    body = payload(report)
    return None if body is None else json.dumps(body, indent=2) + "\n"

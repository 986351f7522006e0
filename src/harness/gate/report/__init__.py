"""The gate's reports, all from one :class:`~harness.gate.model.GateResult`.

``write_reports(result, out_dir)`` writes, in ``out_dir`` (normally
``reports/out/<candidate run_id>/``):

* ``pr-comment.md`` — the pull-request comment (:mod:`.markdown`);
* ``report.html`` — the same with the charts inline, self-contained (:mod:`.html`);
* ``latency-over-time.png``, ``distribution-<slug>.png``, ``history-<slug>.png`` (:mod:`.charts`);
* ``junit.xml`` (:mod:`.junit`), ``summary.json`` (:mod:`.summary`);
* ``grafana-annotation.json`` — the body for Grafana's ``POST /api/annotations``
  (:mod:`.annotation`), when the candidate's results carry its time window.

``history`` is the main-branch history, oldest first: results.json-shaped mappings (at least
``run_id``, ``started_at``, ``endpoints`` → name → ``p50``/``p95``/``p99`` in ms; ``code`` →
``git_sha`` when known). ``change_points`` maps an endpoint to where its history shifted: ints
are indices into ``history`` (ruptures' breakpoints, the first run of the new segment; the
trailing ``len(history)`` is ignored) or strs are run ids.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.gate.model import GateResult
from harness.gate.report import annotation, charts, content, html, junit, markdown, summary

PR_COMMENT = "pr-comment.md"
HTML = "report.html"
JUNIT = "junit.xml"
SUMMARY = "summary.json"
ANNOTATION = "grafana-annotation.json"
CONTRACTS_SUMMARY = "contracts-summary.md"
"""Beside the run directories in ``reports/out/``, written by the contracts job of the same
CI run."""
_CHART_PATTERNS = (charts.OVER_TIME, "distribution-*.png", "history-*.png")

__all__ = ["write_reports"]


def write_reports(
    result: GateResult,
    out_dir: Path,
    history: Sequence[Mapping[str, Any]] | None = None,
    change_points: Mapping[str, Sequence[int | str]] | None = None,
    *,
    contracts: Path | None = None,
    grafana_url: str | None = None,
) -> list[Path]:
    """Writes every report and returns their paths (comment, HTML, JUnit, JSON, annotation,
    then the charts). ``contracts`` defaults to ``out_dir.parent / "contracts-summary.md"``;
    ``grafana_url`` to ``$MGH_GRAFANA_URL``, else http://localhost:3000."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for pattern in _CHART_PATTERNS:  # charts of an earlier write would outlive their endpoints
        for stale in out_dir.glob(pattern):
            stale.unlink()
    rows = content.endpoint_rows(result)
    changes = content.change_points(history, change_points)
    drawn = charts.write_charts(result, rows, out_dir, history, changes)
    names = [PR_COMMENT, HTML, JUNIT, SUMMARY]
    if content.time_range_ms(result.candidate) is not None:
        names.append(ANNOTATION)
    report = content.Report(
        result=result,
        out_dir=out_dir,
        rows=rows,
        links=content.grafana_links(result, content.grafana_base(grafana_url)),
        contracts=content.contracts_summary(contracts or out_dir.parent / CONTRACTS_SUMMARY),
        changes=changes,
        charts=drawn,
        files=[*names, *(path.name for path in drawn.paths())],
    )
    renderers: dict[str, Callable[[content.Report], str | bytes | None]] = {
        PR_COMMENT: markdown.render,
        HTML: html.render,
        JUNIT: junit.render,
        SUMMARY: summary.render,
        ANNOTATION: annotation.render,
    }
    written = []
    for name in names:
        text = renderers[name](report)
        path = out_dir / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        elif text is not None:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    return written + drawn.paths()

"""The pull-request comment (GitHub-flavoured markdown): verdict first, then what moved.

A hidden marker on the first line lets a workflow find its own comment and update it in place
instead of piling up one comment per push. GitHub rejects comments over 65,536 characters;
the comment stays under :data:`LIMIT`: first the folded parts (unchanged endpoints, passing SLO
rows, the contracts summary) give way to one-line pointers, then the body is cut at a line
boundary with a note — the verdict on top and the links at the bottom always survive.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from harness.gate.model import Change, SloRow
from harness.gate.report.content import (
    LATENCY_COLUMNS,
    EndpointRow,
    Report,
    counts_line,
    display_path,
    format_value,
    movement,
    run_facts,
    slo_notable,
    slo_sorted,
)

MARKER = "<!-- mgh-gate-report -->"
LIMIT = 65_000
"""Below GitHub's 65,536-character comment limit, with room for a workflow's own footer."""
NOTABLE = (Change.REGRESSION, Change.IMPROVEMENT)


def _cell(text: str) -> str:
    """Table-safe: a pipe ends a cell, a newline the row; ``<`` would start raw HTML."""
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace("|", "\\|")
        .replace("\r", " ")
        .replace("\n", " ")
    )


def _inline(text: str) -> str:
    """Outside tables: only raw HTML needs neutralising."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace("\n", " ")


def _bold_if(text: str, bold: bool) -> str:
    return f"**{text}**" if bold else text


def _endpoint_table(rows: Sequence[EndpointRow]) -> list[str]:
    lines = [
        "| endpoint | change | p50 | p95 | p99 | error rate | evidence |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        moved = {c.metric for c in row.comparisons if c.change in NOTABLE}
        cells = []
        for metric in (*LATENCY_COLUMNS, "error_rate"):
            comparison = row.metric(metric)
            text = "—" if comparison is None else _cell(movement(comparison))
            cells.append(_bold_if(text, metric in moved))
        evidence = "<br>".join(_cell(line) for line in row.evidence) or "—"
        label = _bold_if(_cell(row.label), row.notable)
        lines.append(f"| `{_cell(row.endpoint)}` | {label} | {' | '.join(cells)} | {evidence} |")
    return lines


def _folded(summary: str, lines: Iterable[str]) -> list[str]:
    """A ``<details>`` block: the blank lines let GitHub render the markdown inside."""
    return ["<details>", f"<summary>{_inline(summary)}</summary>", "", *lines, "", "</details>"]


def _endpoints(report: Report, compact: bool) -> list[str]:
    out = ["### Endpoints", "", counts_line(report.result, report.rows), ""]
    if not report.rows:
        return [*out, "_No endpoint was compared._", ""]
    notable = [row for row in report.rows if row.notable]
    quiet = [row for row in report.rows if not row.notable]
    if notable:
        out += [*_endpoint_table(notable), ""]
    if quiet:
        summary = f"{len(quiet)} endpoint(s) without a notable change"
        if compact:
            out += [f"_{summary}: left out to fit the comment; see report.html._", ""]
        else:
            out += [*_folded(summary, _endpoint_table(quiet)), ""]
    return out


def _slo_table(rows: Sequence[SloRow]) -> list[str]:
    lines = ["| scope | metric | limit | value | outcome |", "|---|---|---|---|---|"]
    for row in rows:
        value = "no samples" if row.value is None else format_value(row.metric, row.value)
        limit = format_value(row.metric, row.limit)
        outcome = _bold_if(row.outcome.upper(), slo_notable(row))
        lines.append(
            f"| `{_cell(row.scope)}` | {_cell(row.metric)} | {_cell(limit)} | "
            f"{_cell(value)} | {outcome} |"
        )
    return lines


def _slo(report: Report, compact: bool) -> list[str]:
    rows = slo_sorted(report.result.slo)
    if not rows:
        return []
    out = ["### SLO thresholds (load/slo.yaml, candidate run)", ""]
    failing = [row for row in rows if slo_notable(row)]
    passing = [row for row in rows if not slo_notable(row)]
    if failing:
        out += [*_slo_table(failing), ""]
    if passing:
        summary = f"{len(passing)} threshold(s) pass"
        if compact:
            out += [f"_{summary}._", ""]
        else:
            out += [*_folded(summary, _slo_table(passing)), ""]
    return out


def _alerts(report: Report) -> list[str]:
    alerts = report.result.alerts
    if not alerts:
        return []
    out = ["### P0/P1 alerts that fired during the candidate run", ""]
    for alert in alerts:
        extra = ", ".join(
            f"{k}={v}"
            for k, v in sorted(alert.labels.items())
            if k not in ("alertname", "severity", "service")
        )
        out.append(
            f"- **{_inline(alert.severity)}** `{_inline(alert.alertname)}` "
            f"(service {_inline(alert.service)})" + (f" — {_inline(extra)}" if extra else "")
        )
    return [*out, ""]


def _listing(title: str, items: Sequence[str]) -> list[str]:
    return [f"### {title}", "", *(f"- {_inline(item)}" for item in items), ""] if items else []


def _history(report: Report) -> list[str]:
    if not report.changes:
        return []
    out = ["### History: change points on the main branch", ""]
    for change in report.changes:
        where = f"git `{change.git_sha}`" if change.git_sha else f"run `{change.run_id}`"
        out.append(f"- `{_inline(change.endpoint)}` shifted from {where} (run #{change.index})")
    return [*out, ""]


def _contracts(report: Report, compact: bool) -> list[str]:
    if report.contracts is None:
        return []
    heading = "### Contracts & fuzzing (same CI run)"
    if compact:
        return [
            heading,
            "",
            "_Left out to fit the comment: see reports/out/contracts-summary.md._",
            "",
        ]
    return [heading, "", report.contracts, ""]


def _head(report: Report) -> list[str]:
    result = report.result
    return [
        MARKER,
        f"## Load regression gate: **{report.label}** — {_inline(result.reason)}",
        "",
        f"Candidate `{result.candidate.run_id}` ({_inline(run_facts(result.candidate))}) vs "
        f"baseline `{result.baseline.run_id}` ({_inline(run_facts(result.baseline))}) · "
        f"exit code {result.verdict.exit_code}",
        "",
    ]


def _tail(report: Report) -> list[str]:
    out = []
    if report.links:
        out += ["### Grafana: Media Gateway / Load results", ""]
        out += [f"- [{link.label}]({link.url})" for link in report.links]
        out.append("")
    out += ["### Reports", ""]
    charts = [name for name in report.files if name.endswith(".png")]
    out += [f"- `{display_path(report.out_dir / n)}`" for n in report.files if n not in charts]
    if charts:
        out.append(
            f"- {len(charts)} PNG chart(s) in `{display_path(report.out_dir)}/` "
            "(latency-over-time, distribution-*, history-*), inline in report.html"
        )
    return out


def _body(report: Report, compact: bool) -> list[str]:
    result = report.result
    return [
        *_endpoints(report, compact),
        *_slo(report, compact),
        *_alerts(report),
        *_listing("Could not judge", result.refusals),
        *_listing("Notes", result.notes),
        *_history(report),
        *_contracts(report, compact),
    ]


def _cut(body: str, budget: int) -> str:
    """The body's first lines within ``budget``, open ``<details>`` closed, and a note."""
    note_room = 300
    kept: list[str] = []
    size = 0
    for line in body.splitlines():
        if size + len(line) + 1 > max(0, budget - note_room):
            break
        kept.append(line)
        size += len(line) + 1
    text = "\n".join(kept)
    opened = text.count("<details>") - text.count("</details>")
    omitted = len(body) - len(text)
    return "\n".join(
        [
            text,
            "",
            *["</details>"] * opened,
            "",
            f"_Truncated: {omitted:,} characters left out to stay under GitHub's comment "
            "limit; the full report is report.html (and summary.json)._",
            "",
        ]
    )


def render(report: Report, limit: int = LIMIT) -> str:
    """The comment, within ``limit`` characters."""
    head, tail = "\n".join(_head(report)), "\n".join(_tail(report))
    for compact in (False, True):
        text = "\n".join([head, *_body(report, compact), tail]) + "\n"
        if len(text) <= limit:
            return text
    body = "\n".join(_body(report, compact=True))
    return "\n".join([head, _cut(body, limit - len(head) - len(tail) - 3), tail]) + "\n"

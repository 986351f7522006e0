"""``report.html``: the pull-request comment's content plus the charts, in one file.

Self-contained so it can be opened from a CI artifact, a mail attachment or a phone: inline CSS,
charts as base64 PNG data URIs, no script, and a Content-Security-Policy that lets the page load
nothing but those data URIs (a stray external reference fails loudly in the browser instead of
leaking a request). The only outward references are links (Grafana, sibling report files).
Tables sit in horizontally scrolling boxes, so a narrow screen scrolls the table, not the page.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Sequence
from html import escape
from pathlib import Path

from markdown_it import MarkdownIt

from harness.gate.model import Change, MetricComparison, SloRow
from harness.gate.report.content import (
    LATENCY_COLUMNS,
    EndpointRow,
    Report,
    counts_line,
    format_change,
    format_value,
    run_facts,
    slo_notable,
    slo_sorted,
)

NOTABLE = (Change.REGRESSION, Change.IMPROVEMENT)
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STYLE = """
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
 color:#1f2328;background:#f6f8fa}
main{max-width:1120px;margin:0 auto;padding:12px}
header.verdict{border-radius:8px;padding:12px 16px;color:#fff}
header.pass{background:#1a7f37}header.regression{background:#cf222e}
header.cannot-judge{background:#9a6700}
.label{font-size:1.6em;font-weight:700;margin:0}
header p{margin:4px 0}
section{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:6px 14px;margin:12px 0}
h1{font-size:1.1em;margin:0}h2{font-size:1.15em;margin:8px 0}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;max-width:100%}
table{border-collapse:collapse;font-size:.88em}
th,td{border-bottom:1px solid #d8dee4;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}
td.num{white-space:nowrap}td.evidence{min-width:16em}
tr.regression td,tr.fail td,tr.error td{background:#ffebe9}
tr.improvement td{background:#dafbe1}
img{max-width:100%;height:auto;display:block}
figure{margin:10px 0}figcaption{font-size:.85em;color:#59636e}
summary{cursor:pointer;margin:6px 0}
code{font-size:.92em}
.contracts table{display:block;overflow-x:auto}
a{overflow-wrap:anywhere}
"""


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the PNG header (IHDR), so the layout does not jump on decode."""
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def _figure(path: Path, caption: str) -> str:
    data = path.read_bytes()
    width, height = _png_size(data)
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return (
        f'<figure><img src="{uri}" alt="{_e(caption)}" width="{width}" height="{height}">'
        f"<figcaption>{_e(caption)} ({_e(path.name)})</figcaption></figure>"
    )


def _table(head: Sequence[str], rows: Sequence[str]) -> str:
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    return (
        f'<div class="scroll"><table><thead><tr>{header}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _folded(summary: str, inner: str) -> str:
    return f"<details><summary>{_e(summary)}</summary>{inner}</details>"


def _movement(comparison: MetricComparison) -> str:
    """Baseline → candidate, the change under it: keeps the columns narrow enough to fit."""
    base = format_value(comparison.metric, comparison.baseline)
    cand = format_value(comparison.metric, comparison.candidate)
    return f"{_e(base)} → {_e(cand)}<br><small>{_e(format_change(comparison))}</small>"


def _endpoint_rows(rows: Sequence[EndpointRow]) -> str:
    out = []
    for row in rows:
        moved = {c.metric for c in row.comparisons if c.change in NOTABLE}
        cells = []
        for metric in (*LATENCY_COLUMNS, "error_rate"):
            comparison = row.metric(metric)
            text = "—" if comparison is None else _movement(comparison)
            if metric in moved:
                text = f"<strong>{text}</strong>"
            cells.append(f'<td class="num">{text}</td>')
        evidence = "<br>".join(_e(line) for line in row.evidence) or "—"
        label = f"<strong>{_e(row.label)}</strong>" if row.notable else _e(row.label)
        out.append(
            f'<tr class="{_e(row.change.value)}"><td><code>{_e(row.endpoint)}</code></td>'
            f'<td>{label}</td>{"".join(cells)}<td class="evidence">{evidence}</td></tr>'
        )
    return _table(("endpoint", "change", *LATENCY_COLUMNS, "error rate", "evidence"), out)


def _endpoints(report: Report) -> str:
    parts = [f"<p>{_e(counts_line(report.result, report.rows))}</p>"]
    notable = [row for row in report.rows if row.notable]
    quiet = [row for row in report.rows if not row.notable]
    if not report.rows:
        parts.append("<p><em>No endpoint was compared.</em></p>")
    if notable:
        parts.append(_endpoint_rows(notable))
    if quiet:
        summary = f"{len(quiet)} endpoint(s) without a notable change"
        parts.append(_folded(summary, _endpoint_rows(quiet)))
    return _section("Endpoints", "".join(parts))


def _slo_rows(rows: Sequence[SloRow]) -> str:
    out = []
    for row in rows:
        value = "no samples" if row.value is None else format_value(row.metric, row.value)
        outcome = _e(row.outcome.upper())
        out.append(
            f'<tr class="{_e(row.outcome)}"><td><code>{_e(row.scope)}</code></td>'
            f'<td>{_e(row.metric)}</td><td class="num">{_e(format_value(row.metric, row.limit))}'
            f'</td><td class="num">{_e(value)}</td>'
            f"<td>{f'<strong>{outcome}</strong>' if slo_notable(row) else outcome}</td></tr>"
        )
    return _table(("scope", "metric", "limit", "value", "outcome"), out)


def _slo(report: Report) -> str:
    rows = slo_sorted(report.result.slo)
    if not rows:
        return ""
    failing = [row for row in rows if slo_notable(row)]
    passing = [row for row in rows if not slo_notable(row)]
    inner = _slo_rows(failing) if failing else ""
    if passing:
        inner += _folded(f"{len(passing)} threshold(s) pass", _slo_rows(passing))
    return _section("SLO thresholds (load/slo.yaml, candidate run)", inner)


def _alerts(report: Report) -> str:
    if not report.result.alerts:
        return ""
    items = []
    for alert in report.result.alerts:
        labels = ", ".join(
            f"{k}={v}"
            for k, v in sorted(alert.labels.items())
            if k not in ("alertname", "severity", "service")
        )
        items.append(
            f"<li><strong>{_e(alert.severity)}</strong> <code>{_e(alert.alertname)}</code> "
            f"(service {_e(alert.service)}){f' — {_e(labels)}' if labels else ''}</li>"
        )
    return _section(
        "P0/P1 alerts that fired during the candidate run", f"<ul>{''.join(items)}</ul>"
    )


def _listing(title: str, items: Sequence[str]) -> str:
    if not items:
        return ""
    return _section(title, "<ul>" + "".join(f"<li>{_e(item)}</li>" for item in items) + "</ul>")


def _charts(report: Report) -> str:
    charts = report.charts
    parts = []
    if charts.over_time:
        parts.append(_figure(charts.over_time, "Latency per second over the run"))
    notable = {row.endpoint for row in report.rows if row.notable}
    shown = [e for e in charts.distributions if e in notable]
    folded = [e for e in charts.distributions if e not in notable]
    parts += [_figure(charts.distributions[e], f"{e}: baseline vs candidate") for e in shown]
    if folded:
        inner = "".join(
            _figure(charts.distributions[e], f"{e}: baseline vs candidate") for e in folded
        )
        parts.append(_folded(f"Distributions of {len(folded)} other endpoint(s)", inner))
    if not parts:
        return ""
    return _section("Charts", "".join(parts))


def _history(report: Report) -> str:
    if not report.charts.history and not report.changes:
        return ""
    items = "".join(
        f"<li><code>{_e(c.endpoint)}</code> shifted from "
        f"{_e(f'git {c.git_sha}' if c.git_sha else f'run {c.run_id}')} (run #{c.index})</li>"
        for c in report.changes
    )
    parts = [f"<ul>{items}</ul>" if items else "<p>No change point in the history.</p>"]
    changed = {c.endpoint for c in report.changes}
    history = report.charts.history
    parts += [_figure(history[e], f"{e}: history") for e in history if e in changed]
    others = [e for e in history if e not in changed]
    if others:
        inner = "".join(_figure(history[e], f"{e}: history") for e in others)
        parts.append(_folded(f"History of {len(others)} other endpoint(s)", inner))
    return _section("History: change points on the main branch", "".join(parts))


def _contracts(report: Report) -> str:
    if report.contracts is None:
        return ""
    rendered = MarkdownIt("commonmark", {"html": False}).enable("table").render(report.contracts)
    return _section(
        "Contracts &amp; fuzzing (same CI run)",
        f'<div class="contracts">{rendered}</div>',
        raw=True,
    )


def _links(report: Report) -> str:
    grafana = "".join(
        f'<li>Grafana, load results: <a href="{_e(link.url)}">{_e(link.label)}</a></li>'
        for link in report.links
    )
    files = "".join(
        f'<li><a href="{_e(name)}">{_e(name)}</a></li>'
        for name in report.files
        if not name.endswith(".png")
    )
    return _section("Links and reports", f"<ul>{grafana}{files}</ul>")


def _section(title: str, inner: str, raw: bool = False) -> str:
    return f"<section><h2>{title if raw else _e(title)}</h2>{inner}</section>"


def render(report: Report) -> str:
    result = report.result
    title = f"{report.label} · mgh gate · {result.candidate.run_id}"
    header = (
        f'<header class="verdict {_e(result.verdict.value)}">'
        f"<h1>Load regression gate</h1>"
        f'<p class="label">{_e(report.label)}</p><p>{_e(result.reason)}</p>'
        f"<p>Candidate <code>{_e(result.candidate.run_id)}</code> "
        f"({_e(run_facts(result.candidate))}) vs baseline <code>{_e(result.baseline.run_id)}"
        f"</code> ({_e(run_facts(result.baseline))}) · exit code {result.verdict.exit_code}</p>"
        "</header>"
    )
    body = "".join(
        [
            header,
            _endpoints(report),
            _charts(report),
            _slo(report),
            _alerts(report),
            _listing("Could not judge", result.refusals),
            _listing("Notes", result.notes),
            _history(report),
            _contracts(report),
            _links(report),
        ]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>{_e(title)}</title><style>{STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )

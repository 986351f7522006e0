"""``junit.xml``: the gate as test cases, so CI test views list what failed and why.

Suites (each ``<testsuite>`` carries its own counts, ``<testsuites>`` the totals):

* ``gate.comparability`` — one error per refusal (the runs could not be compared), or one
  passing case when the runs are alike;
* ``gate.endpoints`` — one case per endpoint: failure when any of its metrics regressed (the
  evidence is the message), skipped when too few samples to judge; every metric's evidence in
  ``system-out``;
* ``gate.slo`` — one case per threshold of load/slo.yaml: failure on fail, error on error;
* ``gate.alerts`` — one failure per P0/P1 alert that fired, or one passing case when none did.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.gate.model import Change, FiredAlert, GateResult, SloRow
from harness.gate.report.content import EndpointRow, Report, format_value, metric_name

_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
"""Control characters XML 1.0 cannot carry even escaped."""


def _clean(text: str) -> str:
    return _INVALID_XML.sub("?", text)


@dataclass
class Case:
    name: str
    outcome: str = "pass"
    """pass / failure / error / skipped."""
    message: str = ""
    output: str = ""


@dataclass
class Suite:
    name: str
    cases: list[Case] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for case in self.cases if case.outcome == outcome)


def _comparability(result: GateResult) -> Suite:
    cases = [Case(f"like with like: {refusal}", "error", refusal) for refusal in result.refusals]
    return Suite("gate.comparability", cases or [Case("runs are comparable")])


def _endpoint(row: EndpointRow) -> Case:
    output = "\n".join(
        f"{metric_name(c.metric)}: {c.change.value}: {c.evidence}" for c in row.comparisons
    )
    regressions = row.moved(Change.REGRESSION)
    if regressions:
        message = "; ".join(f"{metric_name(c.metric)}: {c.evidence}" for c in regressions)
        return Case(row.endpoint, "failure", message, output)
    if row.change is Change.NOT_JUDGED:
        message = "; ".join(c.evidence for c in row.moved(Change.NOT_JUDGED) if c.evidence)
        return Case(row.endpoint, "skipped", message or "not judged", output)
    return Case(row.endpoint, output=output)


def _threshold(row: SloRow) -> Case:
    limit = format_value(row.metric, row.limit)
    value = "no samples" if row.value is None else format_value(row.metric, row.value)
    outcome = {"fail": "failure", "error": "error"}.get(row.outcome, "pass")
    message = f"value {value}, limit {limit}" if outcome != "pass" else ""
    return Case(f"{row.scope} {row.metric} ≤ {limit}", outcome, message, f"value {value}")


def _alert(alert: FiredAlert) -> Case:
    return Case(
        f"{alert.alertname} ({alert.service})",
        "failure",
        f"{alert.severity} alert {alert.alertname} fired for {alert.service} during the run",
        ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items())),
    )


def suites(report: Report) -> list[Suite]:
    result = report.result
    return [
        _comparability(result),
        Suite("gate.endpoints", [_endpoint(row) for row in report.rows]),
        Suite("gate.slo", [_threshold(row) for row in result.slo]),
        Suite("gate.alerts", [_alert(a) for a in result.alerts] or [Case("no P0/P1 alert fired")]),
    ]


def _totals(element: ET.Element, groups: Sequence[Suite]) -> None:
    element.set("tests", str(sum(len(s.cases) for s in groups)))
    element.set("failures", str(sum(s.count("failure") for s in groups)))
    element.set("errors", str(sum(s.count("error") for s in groups)))
    element.set("skipped", str(sum(s.count("skipped") for s in groups)))
    element.set("time", "0")


def render(report: Report) -> bytes:
    groups = suites(report)
    root = ET.Element("testsuites", name=f"mgh gate {report.result.candidate.run_id}")
    _totals(root, groups)
    for group in groups:
        suite = ET.SubElement(root, "testsuite", name=group.name)
        _totals(suite, [group])
        for case in group.cases:
            element = ET.SubElement(
                suite, "testcase", name=_clean(case.name), classname=group.name, time="0"
            )
            if case.outcome != "pass":
                ET.SubElement(element, case.outcome, message=_clean(case.message)).text = _clean(
                    case.message
                )
            if case.output:
                ET.SubElement(element, "system-out").text = _clean(case.output)
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"

"""Contract runs report what they covered: JUnit XML and a markdown summary under reports/out/.

Suites record into the session's ``contract_report`` (examples per operation, stateful figures,
consumer interactions); this plugin adds each test's outcome, prints the totals at the end of
the run and writes ``reports/out/<MG_CONTRACTS_REPORT>-junit.xml`` and ``-summary.md``
(``contracts`` by default, ``fuzz`` for ``make fuzz``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.accounts import Account, login, register_verified
from harness.contracts.fuzzing import SuiteAuth
from harness.contracts.report import ContractReport
from harness.stack import Stack

REPORT = ContractReport()
OUT = Path(__file__).resolve().parents[1] / "reports" / "out"
STEM = os.environ.get("MG_CONTRACTS_REPORT", "contracts")


@pytest.fixture(scope="session")
def contract_report() -> ContractReport:
    return REPORT


@pytest.fixture(scope="module")
def suite_auth(stack: Stack, admin_account: Account) -> Iterator[SuiteAuth]:
    """A verified, signed-in user of each module's own (nothing one suite does leaks into
    another), with the admin for admin operations: authentication as the suites handle it."""
    if stack.mailbox is None:
        pytest.fail("the stack's mailbox is unknown: set MG_TARGET_MAILBOX")
    with httpx.Client(base_url=stack.base_url, timeout=15) as client:
        user = login(client, register_verified(client, stack.mailbox))
        yield SuiteAuth(client, user, admin_account, stack.mailbox)


def entry_key(node_id: str, label: str) -> str:
    """The key of one schemathesis operation: its test's node id with the operation label."""
    return f"{node_id}[{label}]"


def _key(report: pytest.TestReport) -> str:
    """Schemathesis reports every operation under its test's node id and names the operation
    only in the report's location (``test_auth_gateway[POST /api/v1/auth/login]``)."""
    domain = report.location[2]
    if report.nodeid.endswith("]") or "[" not in domain:
        return report.nodeid
    return entry_key(report.nodeid, domain.split("[", 1)[1][:-1])


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or report.outcome != "passed":
        message = ""
        if report.outcome != "passed":
            crash = getattr(report.longrepr, "reprcrash", None)
            headline = f"{crash.message}\n\n" if crash is not None else ""
            message = headline + report.longreprtext
        REPORT.outcome(_key(report), report.outcome, report.duration, message)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not REPORT.entries:
        return
    count, examples, failed = REPORT.totals()
    written = REPORT.write(OUT, STEM, f"Contract run ({STEM})")
    terminalreporter.section("contracts")
    for suite, entries in REPORT.suites().items():
        terminalreporter.line(
            f"{suite:<34} {len(entries):4d} covered {sum(e.examples for e in entries):7d} examples"
            f" {sum(1 for e in entries if e.outcome == 'failed'):3d} failed"
        )
    terminalreporter.line(f"total: {count} covered, {examples} examples run, {failed} failures")
    for entry in REPORT.failures():
        terminalreporter.line(f"  FAILED {entry.suite} · {entry.name}")
    terminalreporter.line("reports: " + ", ".join(str(p) for p in written))

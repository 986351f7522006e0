"""Schemathesis' own command line, as a user runs it from this clone, with every check.

``st run contracts/openapi/<document>.json --url <address>`` reads the repository's
``schemathesis.toml`` (all checks, all phases including the stateful one, the hooks module that
signs the fuzzer in): the gateway's document through the gateway, each service's document on
the service's own address. A small budget here (``MG_ST_EXAMPLES``, default 5 per operation);
``make fuzz`` runs the same commands with a large one.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.accounts import Account
from harness.contracts.cli_runs import Target, run, summary_table
from harness.contracts.st_hooks import EMAIL_VARIABLE, LOGIN_URL_VARIABLE, PASSWORD_VARIABLE
from harness.service_processes import SERVICES
from harness.services import DirectServices
from harness.stack import Stack

pytestmark = [pytest.mark.contract, pytest.mark.slow]

EXAMPLES = int(os.environ.get("MG_ST_EXAMPLES", "5"))
REPORTS = Path(__file__).resolve().parents[1] / "reports" / "out" / "st-cli"


@pytest.mark.parametrize("document", ["gateway", *SERVICES])
def test_st_run_finds_no_failure(
    document: str, stack: Stack, admin_account: Account, request: pytest.FixtureRequest
) -> None:
    if document == "gateway":
        target = Target(document, "gateway", stack.base_url)
    else:
        direct: DirectServices = request.getfixturevalue("direct_services")
        target = Target(document, "direct", direct.urls[document])
    env = {
        EMAIL_VARIABLE: admin_account.email,
        PASSWORD_VARIABLE: admin_account.password,
        LOGIN_URL_VARIABLE: stack.base_url,
    }
    result = run(target, REPORTS, env=env, examples=EXAMPLES, timeout=600)
    report = "\n".join(summary_table([result]))
    assert result.exit_code in (0, 1), f"st did not complete:\n{result.output[-3000:]}"
    assert result.operations > 0, f"st reported no operation:\n{result.output[-3000:]}"
    assert result.passed, f"{report}\n\n{result.output[-6000:]}"

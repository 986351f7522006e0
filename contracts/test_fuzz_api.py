"""Schema fuzzing: every committed OpenAPI document, through the gateway and on each service.

Schemathesis generates requests from ``contracts/openapi/<service>.json`` (valid ones and
invalid ones) and sends them twice over: through the gateway of a launched, seeded stack
(``stack.base_url``), and straight to the service's own address (``direct_services``), where
the internal operations the gateway hides are fuzzed too. Every response must pass every check
in ``CHECKS``; authentication is the suite's (``SuiteAuth``), never the fuzzer's.

The budget is small and deterministic (``MG_FUZZ_EXAMPLES`` examples per operation, default
10, derandomized), so this file is part of ``make test``; ``make fuzz`` runs it with a much
larger budget. Each run writes reports/out/<stem>-junit.xml and -summary.md (conftest.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from schemathesis import Case

from harness.contracts.fuzzing import CHECKS, SuiteAuth, load_schema
from harness.contracts.report import ContractReport
from harness.services import DirectServices
from harness.stack import Stack

pytestmark = pytest.mark.contract

SNAPSHOTS = Path(__file__).resolve().parent / "openapi"
MAX_EXAMPLES = int(os.environ.get("MG_FUZZ_EXAMPLES", "10"))
SERVICES = ("auth", "discovery", "sona", "sync", "playback", "ingestion")


def _document(service: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((SNAPSHOTS / f"{service}.json").read_text())
    return document


_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def _fuzz_test(service: str, entry: str) -> Callable[..., None]:
    """The fuzz test of ``service``'s document through ``entry`` (gateway or direct)."""
    schema = load_schema(_document(service), examples=MAX_EXAMPLES, internal=entry == "direct")
    suite = f"fuzz · {entry} · {service}"

    @schema.parametrize()
    @_SETTINGS
    def test(
        case: Case,
        request: pytest.FixtureRequest,
        stack: Stack,
        suite_auth: SuiteAuth,
        contract_report: ContractReport,
    ) -> None:
        base_url = stack.base_url
        if entry == "direct":
            direct: DirectServices = request.getfixturevalue("direct_services")
            base_url = direct.urls[service]
        key = f"{request.node.nodeid}[{case.operation.label}]"  # conftest.entry_key
        contract_report.entry(key, suite, case.operation.label).examples += 1
        case.call_and_validate(
            base_url=base_url, headers=suite_auth.headers(case), checks=CHECKS, timeout=30
        )

    test.__name__ = f"test_{service}_{entry}"
    return test


# One test per service and entry (``test_auth_gateway``, ``test_auth_direct``, …).
for _service in SERVICES:
    for _entry in ("gateway", "direct"):
        globals()[f"test_{_service}_{_entry}"] = _fuzz_test(_service, _entry)

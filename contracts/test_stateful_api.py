"""Stateful fuzzing: scenarios that follow the documents' OpenAPI links.

Schemathesis chains calls along the links each document declares — register → login → the
token it issued (the suite confirms the e-mail in between, as a person would), search → start a
playback session → heartbeat → stop, register a device → forget it, start an ingestion run →
follow it — and checks every answer with the same checks as the stateless suite. The gateway's
document (every service's public API plus the cross-service journeys) runs through the gateway;
each service's own document runs on its own address, internal operations included.

``MG_STATEFUL_SCENARIOS`` scenarios of up to ``MG_STATEFUL_STEPS`` calls per document, from the
fixed seed ``MG_STATEFUL_SEED`` (``make fuzz`` raises the first two). Figures — scenarios,
steps, distinct links followed, operations reached — go to the contract report.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis.errors import FlakyStrategyDefinition
from schemathesis import Case, GenerationMode
from schemathesis.hooks import HookContext

from harness.accounts import Account, expect
from harness.contracts.fuzzing import CHECKS, SuiteAuth, load_schema
from harness.contracts.report import ContractReport
from harness.services import DirectServices
from harness.stack import Stack

pytestmark = [pytest.mark.contract, pytest.mark.slow]

SNAPSHOTS = Path(__file__).resolve().parent / "openapi"
SCENARIOS = int(os.environ.get("MG_STATEFUL_SCENARIOS", "15"))
STEPS = int(os.environ.get("MG_STATEFUL_STEPS", "8"))
SEED = int(os.environ.get("MG_STATEFUL_SEED", "20261201"))
ATTEMPTS = 5  # runs from successive seeds until the scenario budget is spent
figures_answers: dict[str, Counter[str]] = {}
"""Each document's answers by operation and status (named when no link was followed)."""


def _settings(scenarios: int) -> settings:
    return settings(
        max_examples=scenarios,
        stateful_step_count=STEPS,
        deadline=None,
        database=None,  # nothing replayed from earlier runs: the seed alone decides
        # Generation only, as schemathesis' own runner does: replaying a scenario against a
        # server whose state has moved on cannot reproduce it anyway.
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


DOCUMENTS = ("gateway", "auth", "discovery", "sona", "sync", "playback", "ingestion")


@dataclass
class World:
    """Real values from the stack, for the few inputs a schema cannot make up: a title that
    exists, and a platform with its feed (the smallest of the seed feeds) — for a few runs only,
    since each re-reads the whole feed in the background (cheaply: the stack has it already)."""

    titles: tuple[str, ...]
    platform: str = "appletv"
    real_runs_left: int = 3

    def realistic(self, label: str, body: Any) -> Any:
        if not isinstance(body, dict):
            return body
        if label == "POST /api/v1/playback/sessions":
            # A link (search → play) overrides this with the title it found.
            chosen = self.titles[len(repr(body)) % len(self.titles)]
            return {k: v for k, v in body.items() if k != "platform"} | {"content_id": chosen}
        if label == "POST /api/v1/ingestion/runs" and self.real_runs_left > 0:
            # The first few runs, whatever source was drawn, ingest a real feed file (never an
            # HTTP feed: nothing is fetched), so the link to the run's status has a run to
            # follow; a drawn platform or feed name almost never exists (404).
            self.real_runs_left -= 1
            return {
                **body,
                "platform": self.platform,
                "source": {"type": "file", "name": self.platform},
            }
        return body


@pytest.fixture(scope="module")
def world(stack: Stack) -> World:
    with httpx.Client(base_url=stack.base_url, timeout=15) as client:
        found = expect(client.get("/api/v1/search", params={"q": "adventure"}), 200).json()
    titles = tuple(item["id"] for item in found["items"][:5])
    assert titles, "the seeded stack found no title for 'adventure'"
    return World(titles)


@pytest.fixture(scope="module")
def watching(suite_auth: SuiteAuth, world: World) -> SuiteAuth:
    """The suite user, with a history and a title in progress."""
    _watch_a_little(suite_auth.client, suite_auth.user, world.titles[0])
    return suite_auth


def _watch_a_little(client: httpx.Client, user: Account, title: str) -> None:
    """Give the suite user a history and a title in progress, so the links from
    continue-watching and history have something to lead to."""
    started = client.post(
        "/api/v1/playback/sessions",
        json={"content_id": title, "device_id": "contracts-tv", "duration_seconds": 3600},
        headers=user.headers,
    )
    session = expect(started, 201).json()["session_id"]
    stop = {"position_seconds": 1200}
    path = f"/api/v1/playback/sessions/{session}/stop"
    expect(client.post(path, json=stop, headers=user.headers), 200)


def _machine(
    document: str,
    base_url: str,
    auth: SuiteAuth,
    world: World,
    figures: Counter[str],
    failures: list[Exception],
) -> Any:
    """The state machine of ``document``'s links, sending to ``base_url`` with suite auth;
    every failed check is also kept in ``failures``."""
    raw = json.loads((SNAPSHOTS / f"{document}.json").read_text())
    # Positive data only: a scenario is worth following when its steps can succeed; invalid
    # input is the stateless suite's job. Internal operations exist only on a service itself.
    schema = load_schema(raw, examples=SCENARIOS, modes=(GenerationMode.POSITIVE,))
    followed: set[str] = set()
    reached: set[str] = set()
    answers = figures_answers[document] = Counter()

    @schema.hook("map_body")  # type: ignore[misc]  # schemathesis' decorator is untyped
    def realistic(context: HookContext, body: Any) -> Any:
        return world.realistic(context.operation.label if context.operation else "", body)

    class Scenario(schema.as_state_machine()):  # type: ignore[misc]  # schemathesis builds the base class at run time
        token: str | None = None

        def setup(self) -> None:
            figures["scenarios"] += 1
            # A session of its own: a scenario may end the session it finds first in
            # GET /sessions (its own), which must not sign the next scenario out.
            self.token = auth.fresh_token()

        def step(self, input: Any) -> Any:
            if input.transition is not None and input.is_applied:
                followed.add(input.transition.id)
                figures["links followed"] += 1
            return super().step(input)

        def get_call_kwargs(self, case: Case) -> dict[str, Any]:
            return {"base_url": base_url, "headers": auth.headers(case, self.token), "timeout": 30}

        def after_call(self, response: Any, case: Case) -> None:
            figures["steps"] += 1
            reached.add(case.operation.label)
            answers[f"{case.operation.label} → {response.status_code}"] += 1
            figures["operations reached"] = len(reached)
            figures["distinct links followed"] = len(followed)
            issued = auth.issued_token(case, response)
            if issued is not None:
                self.token = issued
                figures["tokens issued and used"] += 1

        def validate_response(
            self, response: Any, case: Case, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            try:
                case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)
            except Exception as failed:
                failures.append(failed)
                raise

    return Scenario


@pytest.mark.parametrize("document", DOCUMENTS)
def test_stateful(
    document: str,
    request: pytest.FixtureRequest,
    stack: Stack,
    watching: SuiteAuth,
    world: World,
    contract_report: ContractReport,
) -> None:
    entry = "gateway" if document == "gateway" else "direct"
    base_url = stack.base_url
    if entry == "direct":
        direct: DirectServices = request.getfixturevalue("direct_services")
        base_url = direct.urls[document]
    report = contract_report.entry(request.node.nodeid, f"stateful · {entry}", document)
    failures: list[Exception] = []
    budget = replace(world)
    machine = _machine(document, base_url, watching, budget, report.details, failures)
    try:
        for attempt in range(ATTEMPTS):
            left = SCENARIOS - report.details["scenarios"]
            if left <= 0:
                break
            # Real ingestion runs: a few per attempt, so a run cut short after spending them
            # does not leave the next seed with nothing to follow.
            budget.real_runs_left = world.real_runs_left
            try:
                # A fixed seed per attempt: the same scenarios on every run of the same build.
                seed(SEED + attempt)(machine).run(settings=_settings(left))
                break
            except FlakyStrategyDefinition:
                # The server's answers feed the next draws (links), so a scenario may draw
                # differently from an earlier one with the same prefix, and Hypothesis stops
                # there. That is not a finding — a failed check is, and is never swallowed —
                # so the rest of the budget runs from the next seed.
                if failures:
                    raise failures[0] from None
                report.details["runs cut short by changed server state"] += 1
    finally:
        report.examples = report.details["steps"]
    answers = dict(figures_answers[document].most_common(8))
    assert report.details["links followed"] > 0, f"{document}: no link followed; {answers}"

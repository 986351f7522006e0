"""Consumer contracts, provider side: every expectation in contracts/consumers/ holds against the
running provider (its own address), and every event expectation against what ingestion produced.

The consumer side — the consumers' code against a stub serving each contract's ``example`` — is
in tests/mediagw/test_consumer_side_contracts.py; together they fail CI when either side breaks a
contract.
"""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from harness.accounts import expect
from harness.contracts.consumers import EventExpectation, Interaction, fill, load, mismatches
from harness.contracts.fuzzing import SuiteAuth
from harness.contracts.report import ContractReport
from harness.services import DirectServices
from harness.stack import Stack
from harness.topics import consume

pytestmark = pytest.mark.contract

HERE = Path(__file__).resolve().parent
INTERACTIONS, EVENTS = load(HERE / "consumers")


@pytest.fixture(scope="module")
def values(stack: Stack, suite_auth: SuiteAuth) -> dict[str, Any]:
    """What the contracts' placeholders stand for, made through the public API."""
    client, user = suite_auth.client, suite_auth.user
    me = expect(client.get("/api/v1/me", headers=user.headers), 200).json()
    found = expect(client.get("/api/v1/search", params={"q": "drama"}), 200).json()
    key = client.post(
        "/api/v1/auth/api-keys",
        json={"name": "consumer contracts", "scopes": ["read"]},
        headers=user.headers,
    )
    return {
        "user": user,
        "user_id": me["id"],
        "titles": [item["id"] for item in found["items"][:3]],
        "api_key": expect(key, 201).json()["key"],
        "unknown_api_key": f"mgk_{secrets.token_urlsafe(9)}_{secrets.token_urlsafe(32)}",
    }


def _send(interaction: Interaction, base_url: str, values: dict[str, Any]) -> httpx.Response:
    per_call = {**values, "uuid": str(uuid.uuid4()), "now": datetime.now(UTC).isoformat()}
    request = fill(interaction.request, per_call)
    headers = dict(request.get("headers", {}))
    if request.get("auth") == "user":
        headers.update(values["user"].headers)
    with httpx.Client(base_url=base_url, timeout=30) as client:
        return client.request(
            request["method"], request["path"], json=request.get("body"), headers=headers
        )


@pytest.mark.parametrize("interaction", INTERACTIONS, ids=lambda i: i.label)
def test_provider_meets_the_consumers_expectation(
    interaction: Interaction,
    direct_services: DirectServices,
    values: dict[str, Any],
    contract_report: ContractReport,
    request: pytest.FixtureRequest,
) -> None:
    entry = contract_report.entry(request.node.nodeid, "consumer contracts", interaction.label)
    entry.examples += 1
    response = _send(interaction, direct_services.urls[interaction.provider], values)
    expected = interaction.response
    assert response.status_code == expected["status"], response.text[:500]
    problems = mismatches(expected["shape"], response.json())
    assert problems == [], f"{interaction.label}: {problems}"


@pytest.mark.parametrize("interaction", INTERACTIONS, ids=lambda i: i.label)
def test_the_example_a_consumer_is_tested_with_has_the_shape(interaction: Interaction) -> None:
    """The stub answer the consumer-side test serves must itself honour the contract."""
    example = fill(interaction.response["example"], {"titles": ["a", "b", "c"], "uuid": "u"})
    assert mismatches(interaction.response["shape"], example) == []


def _schema(topic: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((HERE / "events" / f"{topic}.schema.json").read_text())
    return schema


@pytest.mark.parametrize("expectation", EVENTS, ids=lambda e: f"{e.consumer} ← {e.topic}")
def test_the_event_schema_guarantees_what_consumers_read(expectation: EventExpectation) -> None:
    """The example is valid for the provider's committed schema and has the consumer's shape,
    and every field the consumer needs is one the schema requires."""
    schema = _schema(expectation.topic)
    jsonschema.validate(expectation.example, schema)
    assert mismatches(expectation.value, expectation.example) == []
    needed = {k for k in expectation.value["payload"] if not k.endswith("?")}
    guaranteed = set(schema["properties"]["payload"]["required"])
    assert needed <= guaranteed, f"{expectation.topic}: not guaranteed: {needed - guaranteed}"
    assert set(expectation.value) - {"payload"} <= set(schema["required"])


@pytest.fixture(scope="module")
def produced(stack: Stack) -> list[dict[str, Any]]:
    """Events the seeded stack's ingestion published (the seed ingests every feed)."""
    bootstrap = stack.env.get("MG_KAFKA_BOOTSTRAP")
    if bootstrap is None:
        pytest.skip("needs the Kafka bootstrap of a stack the harness launched")
    # A sample per topic (the seed produces thousands): the first 200 of each.
    return [
        message
        for topic in sorted({e.topic for e in EVENTS})
        for message in consume(bootstrap, [topic], expected=1, quiet=1.0, within=60, limit=200)
    ]


@pytest.mark.parametrize("expectation", EVENTS, ids=lambda e: f"{e.consumer} ← {e.topic}")
def test_produced_events_meet_the_consumers_expectation(
    expectation: EventExpectation,
    produced: list[dict[str, Any]],
    contract_report: ContractReport,
    request: pytest.FixtureRequest,
) -> None:
    events = [m for m in produced if m["topic"] == expectation.topic]
    assert events, f"no {expectation.topic} event was produced by the seeded stack"
    entry = contract_report.entry(request.node.nodeid, "event contracts", expectation.topic)
    validator = jsonschema.Draft202012Validator(_schema(expectation.topic))
    for event in events:
        entry.examples += 1
        validator.validate(event["value"])
        assert mismatches(expectation.key, event["key"]) == []
        assert mismatches(expectation.value, event["value"]) == [], event
        assert event["key"] == event["value"]["key"]

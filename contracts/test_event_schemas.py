"""Event contracts: one committed JSON Schema per Kafka topic, and real events satisfy it."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from mediagw.common.events import (
    TOPICS,
    AvailabilityChanged,
    ContentIngested,
    ContentUpdated,
    Event,
    Strict,
    UserInteraction,
)

pytestmark = pytest.mark.contract

SCHEMAS = Path(__file__).resolve().parent / "events"

SAMPLES: dict[str, Strict] = {
    "content.ingested": ContentIngested(
        content_id="c-1", title="Alien", type="movie", release_year=1979,
        genres=["sci-fi", "horror"], platforms=["netflix"], source_platform="netflix",
    ),
    "content.updated": ContentUpdated(
        content_id="c-1", changed_fields=["title"], source_platform="netflix"
    ),
    "availability.changed": AvailabilityChanged(
        content_id="c-1", platform="netflix", region="US", offer_type="subscription",
        change="added", available_from=datetime(2025, 1, 1, tzinfo=UTC),
    ),
    "user.interaction": UserInteraction(user_id="u-1", content_id="c-1", kind="rate", value=4.5),
}  # fmt: skip


def schema(topic: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / f"{topic}.schema.json").read_text())
    return loaded


def sample(topic: str) -> dict[str, Any]:
    return Event.of(SAMPLES[topic], key="c-1").model_dump(mode="json")


def validator(topic: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        schema(topic), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def test_samples_cover_every_topic() -> None:
    assert sorted(SAMPLES) == sorted(TOPICS)


def test_committed_schemas_equal_the_generated_ones(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mediagw", "events", "export", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    generated = {p.name: p.read_text() for p in tmp_path.glob("*.schema.json")}
    committed = {p.name: p.read_text() for p in SCHEMAS.glob("*.schema.json")}
    assert sorted(committed) == sorted(f"{t}.schema.json" for t in TOPICS)
    stale = sorted(name for name in generated if generated[name] != committed.get(name))
    assert not stale, f"stale event schemas {stale}: run `python -m mediagw events export`"


@pytest.mark.parametrize("topic", TOPICS)
def test_schema_is_valid_json_schema(topic: str) -> None:
    jsonschema.Draft202012Validator.check_schema(schema(topic))


@pytest.mark.parametrize("topic", TOPICS)
def test_sample_event_validates(topic: str) -> None:
    validator(topic).validate(sample(topic))


@pytest.mark.parametrize("topic", TOPICS)
def test_event_with_an_extra_envelope_field_is_rejected(topic: str) -> None:
    event = {**sample(topic), "extra": 1}
    assert not validator(topic).is_valid(event)


@pytest.mark.parametrize("topic", TOPICS)
def test_event_with_an_extra_payload_field_is_rejected(topic: str) -> None:
    event = sample(topic)
    event["payload"]["extra"] = 1
    assert not validator(topic).is_valid(event)


@pytest.mark.parametrize("topic", TOPICS)
def test_event_with_a_wrong_type_is_rejected(topic: str) -> None:
    event = sample(topic)
    event["payload"]["content_id"] = 42
    assert not validator(topic).is_valid(event)
    envelope = {**sample(topic), "schema_version": "1"}
    assert not validator(topic).is_valid(envelope)


@pytest.mark.parametrize("topic", TOPICS)
def test_event_of_another_topic_is_rejected(topic: str) -> None:
    other = next(t for t in TOPICS if t != topic)
    assert not validator(topic).is_valid(sample(other))

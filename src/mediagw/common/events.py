"""Kafka events: one envelope for every topic, and the payload of each event type.

``{event_id, type, occurred_at, key, payload, schema_version}``, keyed by content (or user) id
so every event about one title lands on one partition, in order. Consumers deduplicate on
``event_id``: delivery is at-least-once (the outbox may resend after a crash).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

CONTENT_INGESTED = "content.ingested"
CONTENT_UPDATED = "content.updated"
AVAILABILITY_CHANGED = "availability.changed"
USER_INTERACTION = "user.interaction"
TOPICS = (CONTENT_INGESTED, CONTENT_UPDATED, AVAILABILITY_CHANGED, USER_INTERACTION)
SCHEMA_VERSION = 1


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContentIngested(Strict):
    content_id: str
    title: str
    type: str
    release_year: int | None
    genres: list[str]
    platforms: list[str]
    source_platform: str


class ContentUpdated(Strict):
    content_id: str
    changed_fields: list[str] = Field(min_length=1)
    source_platform: str


class AvailabilityChanged(Strict):
    content_id: str
    platform: str
    region: str = Field(pattern=r"^[A-Z]{2}$")
    offer_type: Literal["subscription", "rent", "buy", "free"]
    change: Literal["added", "updated", "removed"]
    available_from: datetime | None = None
    available_until: datetime | None = None


class UserInteraction(Strict):
    user_id: str
    content_id: str
    kind: str
    value: float | None = None


PAYLOADS: dict[str, type[Strict]] = {
    CONTENT_INGESTED: ContentIngested,
    CONTENT_UPDATED: ContentUpdated,
    AVAILABILITY_CHANGED: AvailabilityChanged,
    USER_INTERACTION: UserInteraction,
}


class Event(Strict):
    event_id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    type: Literal["content.ingested", "content.updated", "availability.changed", "user.interaction"]
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    key: str
    payload: dict[str, Any]
    schema_version: int = SCHEMA_VERSION

    @classmethod
    def of(cls, payload: Strict, key: str) -> Event:
        event_type = next(t for t, model in PAYLOADS.items() if isinstance(payload, model))
        return cls(type=event_type, key=key, payload=payload.model_dump(mode="json"))  # type: ignore[arg-type]  # event_type is one of the literals

    def validate_payload(self) -> Strict:
        return PAYLOADS[self.type].model_validate(self.payload)

"""Request and response bodies of the SONA API: strict (unknown fields are refused) and bounded."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from mediagw.common.taxonomy import GENRES, MOODS, PLATFORM_ID_PATTERN, Genre, Mood
from mediagw.sona.engine import InteractionKind

Context = Literal["home", "continue", "similar"]
PlatformId = Annotated[str, Field(pattern=PLATFORM_ID_PATTERN)]
MAX_CANDIDATES = 500


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _rating_needs_a_value(schema: dict[str, Any]) -> None:
    """``rate`` carries a rating 0-5; every other kind at most a fraction 0-1."""
    schema["if"] = {"properties": {"kind": {"const": "rate"}}, "required": ["kind"]}
    schema["then"] = {
        "properties": {"value": {"type": "number", "minimum": 0, "maximum": 5}},
        "required": ["value"],
    }
    schema["else"] = {
        "properties": {
            "value": {"anyOf": [{"type": "number", "minimum": 0, "maximum": 1}, {"type": "null"}]}
        }
    }


class InteractionIn(Strict):
    model_config = ConfigDict(json_schema_extra=_rating_needs_a_value)

    content_id: uuid.UUID
    kind: InteractionKind
    value: float | None = Field(
        None,
        ge=0,
        le=5,
        allow_inf_nan=False,
        description="Rating 0-5 for `rate` (required); otherwise an optional fraction 0-1 "
        "(e.g. share watched).",
    )
    occurred_at: AwareDatetime | None = Field(
        None,
        description="When it happened (with a time zone); default now. A time ahead of the "
        "server's clock (beyond the allowed skew) is recorded as now.",
    )
    event_id: uuid.UUID | None = Field(
        None, description="Idempotency key: sending the same event again records it once."
    )


class InteractionAccepted(Strict):
    status: Literal["accepted"] = "accepted"
    event_id: str
    duplicate: bool = Field(description="True when this event_id was already recorded.")


class PreferencesIn(Strict):
    genres: list[Genre] = Field(default_factory=list, max_length=len(GENRES))
    moods: list[Mood] = Field(default_factory=list, max_length=len(MOODS))
    platforms: list[PlatformId] = Field(
        default_factory=list, max_length=100, description="content.platforms ids"
    )


class PreferencesOut(Strict):
    genres: list[str]
    moods: list[str]
    platforms: list[str]
    updated_at: datetime | None


class RecommendedItem(Strict):
    content_id: str
    title: str | None
    type: str | None
    genres: list[str]
    release_year: int | None
    score: float
    reason: str = Field(description="Why, in a few words: “because you watched X” …")


class RecommendationList(Strict):
    context: Context
    personalised: bool = Field(description="False for a cold start (no history yet).")
    items: list[RecommendedItem]


class RerankRequest(Strict):
    user_id: uuid.UUID
    candidates: list[uuid.UUID] = Field(max_length=MAX_CANDIDATES)
    limit: int | None = Field(None, ge=1, le=MAX_CANDIDATES)


class RerankedItem(Strict):
    content_id: str
    score: float


class RerankResponse(Strict):
    items: list[RerankedItem]
    personalised: bool = Field(
        description="False when the user has no history: the candidates come back in the "
        "given order."
    )

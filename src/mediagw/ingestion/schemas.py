"""Request and response bodies of the ingestion API (strict: unknown fields are refused)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

PLATFORM_PATTERN = r"^[a-z0-9][a-z0-9_]{0,63}$"
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
RunStatus = Literal["queued", "running", "succeeded", "failed"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FileSource(Strict):
    """A feed file ``<name>.json`` in the service's feeds directory (``MG_FEEDS_DIR``)."""

    type: Literal["file"]
    name: str = Field(
        max_length=255,
        examples=["netflix"],
        description="Feed file stem; a name resolving outside the feeds directory is a 400",
    )


class HttpSource(Strict):
    """A URL answering the feed JSON; further pages via ``?page=<next_page>``."""

    type: Literal["http"]
    url: str = Field(
        max_length=2000,
        examples=["https://feeds.example/netflix.json"],
        description="https:// (http:// only when the service allows it); no credentials",
    )


FeedSource = Annotated[FileSource | HttpSource, Field(discriminator="type")]


class RunRequest(Strict):
    platform: str = Field(pattern=PLATFORM_PATTERN, examples=["netflix"])
    source: FeedSource


class RunAccepted(Strict):
    run_id: str
    status: RunStatus


class Run(Strict):
    run_id: str
    platform: str
    source: str = Field(description="`file:<name>` or the feed URL")
    status: RunStatus
    fetched: int = Field(description="Items read from the feed")
    new: int = Field(description="Items that created a title")
    updated: int = Field(description="Items seen before (same platform id) that changed it")
    merged: int = Field(description="Items matched to a title known from another platform")
    failed: int = Field(description="Invalid items (skipped, with a reason in `error`)")
    events_pending: int = Field(description="Events of this run not yet delivered to Kafka")
    events_sent: int = Field(description="Events of this run delivered to Kafka")
    error: str | None = Field(
        description="Why the run failed; for a run that succeeded, a summary of failed items"
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

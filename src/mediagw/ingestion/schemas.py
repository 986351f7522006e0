"""Request and response bodies of the ingestion API (strict: unknown fields are refused)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

PLATFORM_PATTERN = r"^[a-z0-9][a-z0-9_]{0,63}$"
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
RunStatus = Literal["queued", "running", "succeeded", "failed"]
FEED_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$"
"""A feed file's stem: one path segment that cannot climb out of the feeds directory."""
_PORT = r"(?::(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"
FEED_URL_PATTERN = (
    r"^[Hh][Tt][Tt][Pp][Ss]?://"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
    r"[A-Za-z0-9])?)*)" + _PORT + r"(?:[/?#][^\u0000-\u0020\u007f]*)?$"
)
"""An http(s) URL with a host name or an IPv4 address (no IPv6 literal), an optional port, and
no credentials or spaces. Which schemes and hosts a deployment fetches from is its configuration
(a 403)."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FileSource(Strict):
    """A feed file ``<name>.json`` in the service's feeds directory (``MG_FEEDS_DIR``)."""

    type: Literal["file"]
    name: str = Field(
        pattern=FEED_NAME_PATTERN,
        examples=["netflix"],
        description="Feed file stem (one path segment); a name with no such feed is a 404",
    )


class HttpSource(Strict):
    """A URL answering the feed JSON; further pages via ``?page=<next_page>``."""

    type: Literal["http"]
    url: str = Field(
        max_length=2000,
        pattern=FEED_URL_PATTERN,
        examples=["https://feeds.example/netflix.json"],
        description="https:// (http:// only where the deployment allows it) from a host the "
        "deployment allows (MG_FEED_ALLOWED_HOSTS); otherwise a 403",
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

"""Ingestion service configuration (``MG_*`` variables plus ``JWT_SECRET``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from mediagw.common.settings import TokenSettings
from mediagw.common.vectors import CONTENT_COLLECTION

KAFKA_SERVER = r"[A-Za-z0-9._\-\[\]:]+:\d{1,5}"


class IngestionSettings(TokenSettings):
    postgres_url: str = Field(pattern=r"^postgres(ql)?://")
    redis_url: str = Field(pattern=r"^(redis|rediss|unix)://")
    kafka_bootstrap: str = Field(pattern=rf"^{KAFKA_SERVER}(,\s*{KAFKA_SERVER})*$")
    """``host:port[,host:port…]`` of the Kafka brokers (required: events are the output)."""
    qdrant_url: str = Field("qdrant+embedded://memory", pattern=r"^(https?://|qdrant\+embedded://)")
    qdrant_collection: str = Field(CONTENT_COLLECTION, pattern=r"^[A-Za-z0-9_-]{1,255}$")
    """The vector collection written (the default is the one discovery reads)."""
    embedder: Literal["minilm", "hashing"] = "minilm"
    embedding_cache_dir: Path | None = None
    """Where MiniLM's vectors are cached by model and text (``embeddings.sqlite``): a restarted
    stack reads the catalogue's vectors back instead of embedding it again. Unset: no cache."""
    feeds_dir: Path | None = None
    """The only directory file feeds may be read from; ``../platforms.json`` beside it (when
    present) lists the platforms and their deep-link templates."""

    # Feeds
    ingest_batch_size: int = Field(128, ge=1, le=1000)
    """Items normalised, embedded (in one batch) and indexed together; each is stored in its
    own transaction."""
    max_concurrent_runs: int = Field(2, ge=1, le=32)
    http_feed_timeout_seconds: float = Field(15.0, gt=0, le=300)
    http_feed_max_pages: int = Field(1000, ge=1, le=100_000)
    feed_max_bytes: int = Field(256 * 1_048_576, ge=1024)
    allow_plain_http_feeds: bool = False
    """Accept ``http://`` feed URLs (default: ``https://`` only)."""
    feed_allowed_hosts: str = Field("", pattern=r"^[A-Za-z0-9.,:\[\]_-]*$")
    """Comma-separated hosts feed URLs may name (empty: any). Test stacks set loopback only, so
    a fuzzer's made-up feed URL is refused instead of fetched."""

    # Kafka and the outbox relay
    kafka_topic_prefix: str = Field("", pattern=r"^[A-Za-z0-9._-]{0,100}$")
    """Prepended to every topic name (``<prefix>content.ingested``); empty in production."""
    kafka_topic_partitions: int = Field(3, ge=1, le=1000)
    kafka_replication_factor: int = Field(1, ge=1, le=16)
    kafka_message_timeout_ms: int = Field(30_000, ge=1000, le=900_000)
    """How long the producer keeps trying one delivery before the relay reschedules it."""
    outbox_batch_size: int = Field(200, ge=1, le=10_000)
    outbox_poll_interval_seconds: float = Field(0.5, gt=0, le=60)
    outbox_base_backoff_seconds: float = Field(0.5, gt=0, le=60)
    outbox_max_backoff_seconds: float = Field(60.0, gt=0, le=3600)

    @field_validator("feeds_dir")
    @classmethod
    def _feeds_dir_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"{value} is not a directory")
        return value.resolve() if value is not None else None

    @property
    def allowed_feed_hosts(self) -> frozenset[str]:
        return frozenset(h.strip().lower() for h in self.feed_allowed_hosts.split(",") if h.strip())

    @property
    def platforms_file(self) -> Path | None:
        if self.feeds_dir is None:
            return None
        candidate = self.feeds_dir.parent / "platforms.json"
        return candidate if candidate.is_file() else None

"""Discovery service configuration (``MG_*`` variables plus ``JWT_SECRET``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from mediagw.common.embedding import EmbedderName
from mediagw.common.settings import TokenSettings
from mediagw.common.vectors import CONTENT_COLLECTION

CACHE_TOPICS = "content.updated,availability.changed,content.ingested"


class DiscoverySettings(TokenSettings):
    postgres_url: str = Field(pattern=r"^postgres(ql)?://")
    redis_url: str = Field(pattern=r"^(redis|rediss|unix)://")
    qdrant_url: str = Field("qdrant+embedded://memory", pattern=r"^(https?://|qdrant\+embedded://)")
    """A Qdrant server, or ``qdrant+embedded://memory`` for this process's embedded engine."""
    qdrant_collection: str = Field(CONTENT_COLLECTION, pattern=r"^[A-Za-z0-9_-]{1,100}$")
    embedder: EmbedderName = "minilm"
    """How queries are embedded; must match the model ingestion embedded the catalogue with."""
    embedding_cache_dir: Path | None = None
    """Where MiniLM's vectors are cached by model and text (``embeddings.sqlite``): a restarted
    stack reads the catalogue's vectors back instead of embedding it again. Unset: no cache."""
    sona_url: str | None = Field(None, pattern=r"^(https?://.+)?$")
    """SONA for personalised re-ranking; unset → the in-process SONA when mounted together,
    else search is unpersonalised."""
    sona_timeout_seconds: float = Field(0.2, gt=0, le=5)

    search_cache_ttl_seconds: int = Field(300, ge=0, le=86_400)
    """How long a search's fused result list is cached in Redis (0 turns the cache off)."""
    catalogue_cache_entries: int = Field(20_000, ge=0, le=1_000_000)
    """Per process: rendered details (per title and region) and hydrated search hits (per
    title and region) kept, each up to this many (0: nothing kept)."""
    catalogue_cache_ttl_seconds: float = Field(300.0, gt=0, le=86_400)
    """The longest a kept entry is served while the catalogue version cannot be read."""
    catalogue_check_seconds: float = Field(1.0, gt=0, le=60)
    """How often each process reads the catalogue version: a change is served after at most
    this long past its bump."""
    vector_candidates: int = Field(100, ge=10, le=1000)
    """Nearest neighbours taken from the vector index per search."""
    fulltext_candidates: int = Field(100, ge=10, le=1000)
    """Full-text matches taken from PostgreSQL per search."""
    embedded_overfetch: int = Field(400, ge=10, le=5000)
    """Embedded Qdrant only: unfiltered neighbours fetched and filtered in Python before
    falling back to Qdrant's (slow, per-point) filtered query."""
    index_sync_interval_seconds: float = Field(1.0, gt=0, le=300)
    """Embedded Qdrant only: how often the index is refreshed from PostgreSQL."""
    default_region: str = Field("US", pattern=r"^[A-Z]{2}$")

    kafka_bootstrap: str | None = None
    """``MG_KAFKA_BOOTSTRAP``: when set, content events invalidate the search cache."""
    cache_invalidation_topics: str = Field(CACHE_TOPICS, pattern=r"^[A-Za-z0-9._,-]+$")
    kafka_group_id: str = Field("discovery-cache", pattern=r"^[A-Za-z0-9._-]{1,200}$")
    kafka_session_timeout_ms: int = Field(6000, ge=1000, le=300_000)

    @model_validator(mode="after")
    def _check_candidates(self) -> DiscoverySettings:
        if self.embedded_overfetch < self.vector_candidates:
            raise ValueError(
                "MG_EMBEDDED_OVERFETCH: must be at least MG_VECTOR_CANDIDATES "
                f"({self.vector_candidates})"
            )
        return self

    @property
    def topics(self) -> list[str]:
        return [t.strip() for t in self.cache_invalidation_topics.split(",") if t.strip()]

"""SONA configuration (``MG_*`` variables plus ``JWT_SECRET``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from mediagw.common.settings import TokenSettings


class Weights(BaseModel):
    """The ranking engine's tunable weights (``mediagw.sona.engine``): how the score components
    mix (each is scaled to 0..1 before weighting), and the weights and shares inside
    diversification, preference matching and similar titles."""

    model_config = ConfigDict(frozen=True)

    content: float = 0.45
    """Cosine of the user's profile vector with the item."""
    collaborative: float = 0.30
    """Item-item co-occurrence similarity to what the user liked."""
    popularity: float = 0.12
    """Catalogue popularity percentile."""
    recency: float = 0.08
    """Newer releases score higher (half-life ``recency_half_life_years``)."""
    preference: float = 0.25
    """Overlap with stated genres and moods (recommendations only)."""
    given_rank: float = 0.2
    """Re-ranking only: how much the caller's own order (e.g. search relevance) still counts."""
    diversity: float = 0.05
    """Re-ranking only: ``diversity · log2(1 + r)`` is taken off a candidate with r better-scored
    candidates of the same main genre."""
    mmr_lambda: float = 0.75
    """Recommendations: relevance vs. novelty trade-off of maximal marginal relevance."""
    max_genre_share: float = 0.5
    """Recommendations: at most this share of a list from one main genre (when others exist)."""
    mmr_vector: float = 0.5
    """Recommendations: MMR's similarity between two titles is ``mmr_vector`` · vector cosine
    + ``mmr_genres`` · genre Jaccard index."""
    mmr_genres: float = 0.5
    """See ``mmr_vector``."""
    preference_genre: float = 0.75
    """The preference component (0..1) of a title with one of the stated genres …"""
    preference_mood: float = 0.25
    """… plus this if it has one of the stated moods."""
    similar_content: float = 0.6
    """Similar titles: ``similar_content`` · vector cosine + ``similar_collaborative`` ·
    co-occurrence similarity."""
    similar_collaborative: float = 0.4
    """See ``similar_content``."""


class SonaSettings(TokenSettings):
    postgres_url: str = Field(pattern=r"^postgres(ql)?://")
    redis_url: str = Field(pattern=r"^(redis|rediss|unix)://")

    embedding_dim: int = Field(384, ge=8, le=4096)
    """Only embeddings of this dimension are loaded (the profile space)."""
    item_refresh_seconds: float = Field(5.0, gt=0, le=3600)
    """How often new or changed titles are read from content.embeddings (incrementally)."""
    similarity_refresh_seconds: float = Field(300.0, gt=0, le=86_400)
    """How often item-item neighbours are recomputed from interactions (if any changed)."""
    similarity_top_k: int = Field(50, ge=1, le=500)
    similarity_min_support: int = Field(1, ge=1, le=1000)
    """Pairs co-liked by fewer users than this are not neighbours."""
    similarity_items_per_user: int = Field(200, ge=2, le=5000)
    """Most recent positively-rated items per user used for co-occurrence."""

    weight_content: float = Field(0.45, ge=0, le=10)
    weight_collaborative: float = Field(0.30, ge=0, le=10)
    weight_popularity: float = Field(0.12, ge=0, le=10)
    weight_recency: float = Field(0.08, ge=0, le=10)
    weight_preference: float = Field(0.25, ge=0, le=10)
    weight_given_rank: float = Field(0.2, ge=0, le=10)
    diversity_penalty: float = Field(0.05, ge=0, le=1)
    mmr_lambda: float = Field(0.75, ge=0, le=1)
    """Recommendations: relevance vs. novelty trade-off of maximal marginal relevance."""
    max_genre_share: float = Field(0.5, gt=0, le=1)
    """Recommendations: at most this share of a list from one main genre (when others exist)."""
    recency_half_life_years: float = Field(8.0, gt=0, le=200)

    profile_decay: float = Field(0.97, gt=0, le=1)
    """Each new signal first scales the profile by this: older taste fades slowly."""
    history_limit: int = Field(500, ge=10, le=100_000)
    """Interactions replayed when a profile is rebuilt from the database."""
    profile_cache_size: int = Field(100_000, ge=10)
    profile_local_ttl_seconds: float = Field(60.0, gt=0, le=86_400)
    profile_redis_ttl_seconds: int = Field(7 * 86_400, ge=60)
    blas_threads: int = Field(1, ge=0, le=256)
    """Threads for numpy's BLAS in this process (0: leave as is). One keeps request-path math
    free of thread-spinning jitter; see ``mediagw.sona.blas``."""
    clock_skew_seconds: int = Field(300, ge=0, le=86_400)
    """How far in the future an interaction's ``occurred_at`` may be (client clocks drift)."""

    @property
    def weights(self) -> Weights:
        return Weights(
            content=self.weight_content,
            collaborative=self.weight_collaborative,
            popularity=self.weight_popularity,
            recency=self.weight_recency,
            preference=self.weight_preference,
            given_rank=self.weight_given_rank,
            diversity=self.diversity_penalty,
            mmr_lambda=self.mmr_lambda,
            max_genre_share=self.max_genre_share,
        )

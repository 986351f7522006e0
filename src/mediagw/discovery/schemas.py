"""Request and response bodies of the discovery API: strict (unknown fields refused), bounded."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    field_validator,
)

from mediagw.discovery.query import MAX_YEAR, MIN_YEAR

MAX_QUERY_LENGTH = 500
MAX_PAGE = 1000
MAX_PAGE_SIZE = 50
DEFAULT_PAGE_SIZE = 20
REGION_PATTERN = r"^[A-Za-z]{2}$"
TEXT_PATTERN = r"^[^\u0000]*[^\u0000\t\n\u000b\f\r ][^\u0000]*$"
"""Text a person typed: no NUL, and not blank (something besides ASCII spaces, tabs and line
breaks). Spelled with explicit characters because ``\\s`` differs between ECMA-262 (the
documents) and Python (the check)."""
_NOT_BLANK = re.compile(r"[^\x00\t\n\x0b\x0c\r ]")


def _integral(value: Any) -> Any:
    """JSON has one number type: ``1990.0`` is the integer 1990 (JSON Schema agrees), while
    ``true`` and ``"1990"`` stay refused by the strict integer that follows."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


INTEGRAL = BeforeValidator(_integral)
"""Put last in ``Annotated[StrictInt, Field(ge=…, le=…), INTEGRAL]``: an integer in a JSON body
is an integral number, never a boolean or a string (after the bounds, so that they stay in the
document as ``minimum``/``maximum``)."""
Year = Annotated[StrictInt, Field(ge=MIN_YEAR, le=MAX_YEAR), INTEGRAL]
FilterValue = Annotated[str, Field(min_length=1, max_length=64, pattern=TEXT_PATTERN)]
FilterValues = Annotated[list[FilterValue], Field(max_length=20)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def check_text(value: str, *, blank_message: str = "must not be blank") -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if not _NOT_BLANK.search(value):
        raise ValueError(blank_message)
    return value


class SemanticFilters(Strict):
    """Explicit filters; each overrides what the parser found in the query for that field.
    Values within a field are alternatives (any of them); fields combine (all of them)."""

    genres: FilterValues = Field(default_factory=list, examples=[["sci-fi", "comedy"]])
    moods: FilterValues = Field(default_factory=list, examples=[["funny"]])
    platforms: FilterValues = Field(default_factory=list, examples=[["netflix"]])
    types: FilterValues = Field(default_factory=list, examples=[["movie"]])
    year_from: Year | None = None
    year_to: Year | None = None
    # Strict: JSON `false` is not a number (lax mode would read it as 0).
    rating_min: StrictFloat | None = Field(default=None, ge=0, le=10)

    @field_validator("genres", "moods", "platforms", "types")
    @classmethod
    def _no_nul(cls, values: list[str]) -> list[str]:
        for value in values:
            check_text(value)
        return values


def _no_filters() -> SemanticFilters:
    return SemanticFilters()


class SemanticSearchRequest(Strict):
    query: str = Field(
        min_length=1,
        max_length=MAX_QUERY_LENGTH,
        pattern=TEXT_PATTERN,
        examples=["funny sci-fi from the 90s"],
    )
    filters: SemanticFilters = Field(default_factory=_no_filters)
    page: Annotated[StrictInt, Field(ge=1, le=MAX_PAGE), INTEGRAL] = 1
    page_size: Annotated[StrictInt, Field(ge=1, le=MAX_PAGE_SIZE), INTEGRAL] = DEFAULT_PAGE_SIZE
    region: str | None = Field(None, pattern=REGION_PATTERN, examples=["US"])

    @field_validator("query")
    @classmethod
    def _query(cls, value: str) -> str:
        return check_text(value)


class Offer(Strict):
    """One way to watch a title: a platform's offer in a region, with its deep links."""

    platform: str
    platform_name: str
    region: str
    offer_type: Literal["subscription", "rent", "buy", "free"]
    price: float | None
    currency: str | None
    deep_link: str | None = Field(description="Web URL opening the title on the platform")
    app_link: str | None = Field(description="URL opening the title in the platform's app")
    available_from: datetime | None
    available_until: datetime | None


class SearchHit(Strict):
    id: str
    title: str
    type: str
    year: int | None
    overview: str | None
    genres: list[str]
    moods: list[str]
    rating: float | None
    popularity: float
    score: float = Field(description="Relevance: the reciprocal-rank-fusion score")
    personal_score: float | None = Field(description="SONA's score when personalised")
    availability: list[Offer] = Field(description="Open offers in the requested region")


class AppliedFilters(Strict):
    genres: list[str]
    moods: list[str]
    platforms: list[str]
    types: list[str]
    year_from: int | None
    year_to: int | None
    rating_min: float | None


class ParsedQueryOut(AppliedFilters):
    text: str = Field(description="Free text left for full-text search once filters are cut")


class SearchResponse(Strict):
    query: str
    parsed: ParsedQueryOut = Field(description="What the parser read in the query")
    filters: AppliedFilters = Field(
        description="The hard filters applied (explicit parameters override parsed values)"
    )
    prefer_moods: list[str] = Field(
        description="Moods named in the query: ranked first, not required"
    )
    region: str
    page: int
    page_size: int
    total: int = Field(description="Matches in the candidate window (vector + full-text)")
    has_more: bool
    personalised: bool = Field(description="Whether SONA re-ranked this page for the caller")
    cached: bool = Field(description="Whether the fused ranking came from the cache")
    items: list[SearchHit]


class AutocompleteItem(Strict):
    id: str
    title: str
    type: str
    year: int | None
    popularity: float


class AutocompleteResponse(Strict):
    query: str
    items: list[AutocompleteItem]


class ExternalId(Strict):
    platform: str
    platform_id: str


class DeepLink(Strict):
    platform: str
    platform_name: str
    web_url: str | None
    app_url: str | None


class ContentDetails(Strict):
    id: str
    type: str
    title: str
    original_title: str | None
    overview: str | None
    release_date: date | None
    year: int | None
    runtime_minutes: int | None
    genres: list[str]
    moods: list[str]
    cast: list[str]
    directors: list[str]
    rating: float | None
    rating_count: int
    popularity: float
    language: str | None
    series_id: str | None
    season_number: int | None
    episode_number: int | None
    updated_at: datetime
    external_ids: list[ExternalId]
    availability: list[Offer] = Field(description="Open offers per platform and region")
    deep_links: list[DeepLink] = Field(description="Per platform carrying the title")


class SimilarResponse(Strict):
    content_id: str
    region: str
    items: list[SearchHit]


class PlatformOut(Strict):
    id: str
    name: str
    web_url_template: str | None
    app_url_template: str | None
    content_count: int


class PlatformList(Strict):
    items: list[PlatformOut]


class Facet(Strict):
    id: str
    name: str
    content_count: int


class GenreList(Strict):
    items: list[Facet] = Field(description="Genres, with how many titles carry each")
    moods: list[Facet] = Field(description="Moods, usable as filters and in queries")


def hit(row: Any, score: float, personal_score: float | None, offers: list[Offer]) -> SearchHit:
    return SearchHit(
        id=str(row["id"]),
        title=str(row["title"]),
        type=str(row["type"]),
        year=row["release_year"],
        overview=row["overview"],
        genres=list(row["genres"]),
        moods=list(row["moods"]),
        rating=row["rating"],
        popularity=float(row["popularity"]),
        score=score,
        personal_score=personal_score,
        availability=offers,
    )

"""HTTP routes of the discovery service. Anonymous calls are allowed everywhere; a bearer token,
if sent, must be valid and personalises search."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from mediagw.common.errors import ERROR_RESPONSES, ApiError, ErrorBody
from mediagw.common.links import link, links
from mediagw.common.paths import UuidPath
from mediagw.common.security import OptionalPrincipal
from mediagw.common.taxonomy import GENRES, MOODS
from mediagw.discovery import store
from mediagw.discovery.context import Ctx, DiscoveryContext
from mediagw.discovery.query import ExplicitFilters, FieldNames, UnknownFilterValue
from mediagw.discovery.schemas import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE,
    MAX_PAGE_SIZE,
    MAX_QUERY_LENGTH,
    REGION_PATTERN,
    TEXT_PATTERN,
    AppliedFilters,
    AutocompleteItem,
    AutocompleteResponse,
    ContentDetails,
    DeepLink,
    ExternalId,
    Facet,
    GenreList,
    Offer,
    ParsedQueryOut,
    PlatformList,
    PlatformOut,
    SearchResponse,
    SemanticSearchRequest,
    SimilarResponse,
    check_text,
)
from mediagw.discovery.search import SearchRequest, SearchResult
from mediagw.discovery.vocabulary import GENRE_NAMES, MOOD_NAMES

JSON_TYPE = "application/json"

router = APIRouter(prefix="/api/v1", tags=["discovery"], responses=ERROR_RESPONSES)
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No content with this id"}
}
# A token is optional (it personalises the page): say so, or clients believe it is required.
OPTIONAL_AUTH: dict[str, Any] = {"security": [{}]}  # FastAPI appends it to HTTPBearer
UNKNOWN_FILTER: dict[int | str, dict[str, Any]] = {
    404: {
        "model": ErrorBody,
        "description": "An explicit filter names a genre, mood, platform or type the catalogue "
        "does not know; `error.field` names it",
    }
}
CONTENT_DETAILS = "content_details_api_v1_content__content_id__get"
SIMILAR = "similar_api_v1_content__content_id__similar_get"


def _open_first(status: int, id_expression: str) -> dict[int | str, dict[str, Any]]:
    """Links from a list of titles to the first title's details and its similar titles."""
    parameters = {"path.content_id": id_expression}
    return links(
        status,
        details=link(CONTENT_DETAILS, "Details of the first title", parameters=parameters),
        similar=link(SIMILAR, "Titles similar to the first one", parameters=parameters),
    )


QUERY_PARAMETER_NAMES = FieldNames()
BODY_FIELD_NAMES = FieldNames(
    genres="filters.genres",
    moods="filters.moods",
    platforms="filters.platforms",
    types="filters.types",
    year_to="filters.year_to",
)

Region = Annotated[
    str | None,
    Query(
        pattern=REGION_PATTERN,
        description="ISO 3166 country code for availability (default US)",
        examples=["US"],
    ),
]
FilterItems = list[Annotated[str, Field(max_length=200, pattern=TEXT_PATTERN)]]
FilterParameter = Annotated[
    FilterItems | None,
    Query(
        description="Repeat the parameter or separate values with commas; any of them match. "
        "A value the catalogue does not know is a 404 naming the parameter."
    ),
]


def _region(ctx: Ctx, region: str | None) -> str:
    return (region or ctx.settings.default_region).upper()


def _check_text(value: str, field: str) -> str:
    try:
        return check_text(value)
    except ValueError as exc:
        raise ApiError(422, "validation_failed", f"{field}: {exc}", field=field) from None


def _filter_values(values: list[str] | None, field: str) -> list[str]:
    for value in values or []:
        if len(value) > 200:
            raise ApiError(422, "validation_failed", f"{field}: value too long", field=field)
        _check_text(value, field)
    return values or []


async def _run_search(
    ctx: Ctx, request: Request, principal: OptionalPrincipal, search: SearchRequest
) -> Response:
    """The answer, encoded once; an anonymous answer whose page came from the search cache is
    kept rendered (per process, dropped with the catalogue version) and replayed as bytes."""
    key = _answer_key(search) if principal is None else None
    if key is not None and (kept := ctx.rendered.get(key)) is not None:
        return Response(kept, media_type=JSON_TYPE)
    try:
        result = await ctx.engine.search(search, principal, request.headers.get("authorization"))
    except UnknownFilterValue as exc:
        # Which genres and platforms exist is the catalogue's state, not the request's shape:
        # a well-formed value that names none is "not found", like an unknown id.
        raise ApiError(404, "unknown_filter_value", exc.message[:500], field=exc.field) from None
    body = _json(_search_response(search, result))
    if key is not None and result.cached:  # replays say "cached": true, as their page was
        ctx.rendered.put(key, body)
    return Response(body, media_type=JSON_TYPE)


def _answer_key(search: SearchRequest) -> str:
    """Everything an anonymous answer depends on besides the catalogue version."""
    explicit = {k: list(v) if isinstance(v, (list, tuple)) else v
                for k, v in dataclasses.asdict(search.explicit).items()}  # fmt: skip
    request = [search.query, explicit, search.page, search.page_size, search.region]
    return "search:" + json.dumps(request, sort_keys=True)


def _search_response(search: SearchRequest, result: SearchResult) -> SearchResponse:
    parsed, filters = result.parsed, result.filters
    return SearchResponse(
        query=search.query,
        parsed=ParsedQueryOut(
            text=parsed.text,
            genres=list(parsed.genres),
            moods=list(parsed.moods),
            platforms=list(parsed.platforms),
            types=list(parsed.types),
            year_from=parsed.year_from,
            year_to=parsed.year_to,
            rating_min=parsed.rating_min,
        ),
        filters=AppliedFilters(
            genres=list(filters.genres),
            moods=list(filters.moods),
            platforms=list(filters.platforms),
            types=list(filters.types),
            year_from=filters.year_from,
            year_to=filters.year_to,
            rating_min=filters.rating_min,
        ),
        prefer_moods=list(filters.prefer_moods),
        region=search.region,
        page=search.page,
        page_size=search.page_size,
        total=result.total,
        has_more=search.page * search.page_size < result.total,
        personalised=result.personalised,
        cached=result.cached,
        items=result.items,
    )


@router.get(
    "/search",
    response_model=SearchResponse,
    openapi_extra=OPTIONAL_AUTH,
    responses=_open_first(200, "$response.body#/items/0/id") | UNKNOWN_FILTER,
)
async def search(
    request: Request,
    principal: OptionalPrincipal,
    ctx: Ctx,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=MAX_QUERY_LENGTH,
            pattern=TEXT_PATTERN,
            description="Natural language: filters are read from it, the rest is matched",
            examples=["funny sci-fi from the 90s"],
        ),
    ],
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    platform: FilterParameter = None,
    genre: FilterParameter = None,
    mood: FilterParameter = None,
    content_type: Annotated[
        FilterItems | None, Query(alias="type", description="movie, series, documentary …")
    ] = None,
    year_from: Annotated[int | None, Query(ge=1870, le=2200)] = None,
    year_to: Annotated[int | None, Query(ge=1870, le=2200)] = None,
    rating_min: Annotated[float | None, Query(ge=0, le=10)] = None,
    region: Region = None,
) -> Response:
    """Search the catalogue in natural language ("funny sci-fi from the 90s on netflix").

    Explicit parameters override what is read from ``q``; unknown values are a 422 naming the
    parameter. Anonymous calls are fine; with a token the page is personalised by SONA.
    """
    explicit = ExplicitFilters(
        genres=_filter_values(genre, "genre"),
        moods=_filter_values(mood, "mood"),
        platforms=_filter_values(platform, "platform"),
        types=_filter_values(content_type, "type"),
        year_from=year_from,
        year_to=year_to,
        rating_min=rating_min,
    )
    query = SearchRequest(
        query=_check_text(q, "q"),
        explicit=explicit,
        names=QUERY_PARAMETER_NAMES,
        page=page,
        page_size=page_size,
        region=_region(ctx, region),
    )
    return await _run_search(ctx, request, principal, query)


@router.post(
    "/search/semantic",
    response_model=SearchResponse,
    openapi_extra=OPTIONAL_AUTH,
    responses=_open_first(200, "$response.body#/items/0/id") | UNKNOWN_FILTER,
)
async def semantic_search(
    body: SemanticSearchRequest, request: Request, principal: OptionalPrincipal, ctx: Ctx
) -> Response:
    """The same search with a JSON body: the query plus explicit filters."""
    filters = body.filters
    query = SearchRequest(
        query=body.query,
        explicit=ExplicitFilters(
            genres=filters.genres,
            moods=filters.moods,
            platforms=filters.platforms,
            types=filters.types,
            year_from=filters.year_from,
            year_to=filters.year_to,
            rating_min=filters.rating_min,
        ),
        names=BODY_FIELD_NAMES,
        page=body.page,
        page_size=body.page_size,
        region=_region(ctx, body.region),
    )
    return await _run_search(ctx, request, principal, query)


@router.get(
    "/search/autocomplete",
    response_model=AutocompleteResponse,
    responses=_open_first(200, "$response.body#/items/0/id"),
)
async def autocomplete(
    ctx: Ctx,
    q: Annotated[
        str, Query(min_length=1, max_length=100, pattern=TEXT_PATTERN, examples=["last orb"])
    ],
    limit: Annotated[int, Query(ge=1, le=10)] = 10,
) -> AutocompleteResponse:
    """Titles for a search box: prefix matches, then word-prefix, then fuzzy; by popularity."""
    _check_text(q, "q")
    async with ctx.pool.connection() as conn:
        rows = await store.autocomplete(conn, ctx.trigram_schema, q, limit)
    return AutocompleteResponse(
        query=q,
        items=[
            AutocompleteItem(
                id=str(r["id"]),
                title=str(r["title"]),
                type=str(r["type"]),
                year=r["release_year"],
                popularity=float(r["popularity"]),
            )
            for r in rows
        ],
    )


@router.get(
    "/content/{content_id:uuid_text}",
    response_model=ContentDetails,
    responses=NOT_FOUND
    | links(
        200,
        similar=link(
            SIMILAR,
            "Titles similar to this one",
            parameters={"path.content_id": "$request.path.content_id"},
        ),
    ),
)
async def content_details(content_id: UuidPath, ctx: Ctx, region: Region = None) -> Response:
    """A title with its offers per platform and region (``region`` narrows them) and deep
    links (web and app) per platform."""
    code = region.upper() if region else None
    body = await ctx.rendered.through(
        f"details:{content_id}:{code}", lambda: _render_details(ctx, str(content_id), code)
    )
    return Response(body, media_type=JSON_TYPE)


async def _render_details(ctx: DiscoveryContext, content_id: str, region: str | None) -> bytes:
    async with ctx.pool.connection() as conn:
        row = await store.details(conn, content_id, region)
    if row is None:
        raise ApiError(404, "not_found", f"no content with id {content_id}", field="content_id")
    return _json(
        ContentDetails(
            id=str(row["id"]),
            type=str(row["type"]),
            title=str(row["title"]),
            original_title=row["original_title"],
            overview=row["overview"],
            release_date=row["release_date"],
            year=row["release_year"],
            runtime_minutes=row["runtime_minutes"],
            genres=list(row["genres"]),
            moods=list(row["moods"]),
            cast=list(row["cast_members"]),
            directors=list(row["directors"]),
            rating=row["rating"],
            rating_count=int(row["rating_count"]),
            popularity=float(row["popularity"]),
            language=row["language"],
            series_id=row["series_id"],
            season_number=row["season_number"],
            episode_number=row["episode_number"],
            updated_at=row["updated_at"],
            external_ids=[ExternalId.model_validate(x) for x in row["external_ids"]],
            availability=[Offer.model_validate(store.offer(raw)) for raw in row["offers"]],
            deep_links=[
                DeepLink(
                    platform=str(p["platform"]),
                    platform_name=str(p["platform_name"]),
                    web_url=p["deep_link"] or store.link(p["web_template"], p["platform_id"]),
                    app_url=store.link(p["app_template"], p["platform_id"]),
                )
                for p in row["platforms"]
            ],
        )
    )


def _json(model: BaseModel) -> bytes:
    """The model as FastAPI would answer it, encoded once by pydantic's serializer."""
    return model.__pydantic_serializer__.to_json(model)


@router.get(
    "/content/{content_id:uuid_text}/similar",
    response_model=SimilarResponse,
    responses=NOT_FOUND | _open_first(200, "$response.body#/items/0/id"),
)
async def similar(
    content_id: UuidPath,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
    region: Region = None,
) -> SimilarResponse:
    """Nearest titles in the vector index (the title itself excluded)."""
    where = _region(ctx, region)
    items = await ctx.engine.similar(str(content_id), limit, where)
    if items is None:
        raise ApiError(404, "not_found", f"no content with id {content_id}", field="content_id")
    return SimilarResponse(content_id=str(content_id), region=where, items=items)


@router.get("/platforms", response_model=PlatformList)
async def platforms(ctx: Ctx) -> Response:
    """Streaming platforms, with how many titles each offers now (any region)."""

    async def render() -> bytes:
        async with ctx.pool.connection() as conn:
            rows = await store.platforms(conn)
        return _json(
            PlatformList(
                items=[
                    PlatformOut(
                        id=str(r["id"]),
                        name=str(r["name"]),
                        web_url_template=r["web_url_template"],
                        app_url_template=r["app_url_template"],
                        content_count=int(r["content_count"]),
                    )
                    for r in rows
                ]
            )
        )

    return Response(await ctx.rendered.through("listing:platforms", render), media_type=JSON_TYPE)


@router.get("/genres", response_model=GenreList)
async def genres(ctx: Ctx) -> Response:
    """Genres (and moods) with how many titles carry each."""

    async def render() -> bytes:
        async with ctx.pool.connection() as conn:
            genre_counts = await store.facet_counts(conn, "genres")
            mood_counts = await store.facet_counts(conn, "moods")
        genre_ids = [*GENRES, *sorted(set(genre_counts) - set(GENRES))]
        mood_ids = [*MOODS, *sorted(set(mood_counts) - set(MOODS))]
        return _json(
            GenreList(
                items=[
                    Facet(
                        id=g,
                        name=GENRE_NAMES.get(g, g.title()),
                        content_count=genre_counts.get(g, 0),
                    )
                    for g in genre_ids
                ],
                moods=[
                    Facet(
                        id=m, name=MOOD_NAMES.get(m, m.title()), content_count=mood_counts.get(m, 0)
                    )
                    for m in mood_ids
                ],
            )
        )

    return Response(await ctx.rendered.through("listing:genres", render), media_type=JSON_TYPE)

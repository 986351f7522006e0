"""SONA endpoints: interactions, preferences, recommendations, and the internal re-rank."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from mediagw.common.errors import ERROR_RESPONSES, ApiError, ErrorBody
from mediagw.common.links import link, links
from mediagw.common.security import CurrentPrincipal, require_scopes
from mediagw.common.tokens import Principal
from mediagw.sona import engine, store
from mediagw.sona.catalogue import Catalogue
from mediagw.sona.context import Ctx
from mediagw.sona.engine import CONTINUE_RANGE, Preferences, Profile, Recommendation
from mediagw.sona.metrics import INTERACTIONS, RECOMMENDATIONS_SECONDS, RERANK_SECONDS, RERANKS
from mediagw.sona.schemas import (
    Context,
    InteractionAccepted,
    InteractionIn,
    PreferencesIn,
    PreferencesOut,
    RecommendationList,
    RecommendedItem,
    RerankRequest,
    RerankResponse,
)

ADMIN_SCOPE = "admin"

router = APIRouter(prefix="/api/v1", tags=["sona"], responses=ERROR_RESPONSES)
internal_router = APIRouter(prefix="/api/v1/internal", tags=["internal"], responses=ERROR_RESPONSES)
NOT_FOUND: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorBody, "description": "No content with this id (`error.field` names it)"}
}


Reader = Annotated[Principal, Depends(require_scopes("read"))]
Writer = Annotated[Principal, Depends(require_scopes("write"))]


# --- interactions --------------------------------------------------------------------------


@router.post(
    "/interactions",
    status_code=202,
    response_model=InteractionAccepted,
    responses={
        **NOT_FOUND,
        409: {"model": ErrorBody, "description": "event_id reused for another interaction"},
    },
)
async def record_interaction(
    body: InteractionIn, principal: Writer, ctx: Ctx
) -> InteractionAccepted:
    """Record what the signed-in user did with a title; their profile is updated at once.

    Positive signals (complete, rate ≥ 3.5, watchlist_add, view ≥ 0.5) pull the profile towards
    the title, skip and low ratings push it away. Idempotent on ``event_id``.
    """
    now = datetime.now(UTC)
    if body.kind == "rate" and body.value is None:
        raise ApiError(422, "validation_failed", "value: a rating 0-5 is required", field="value")
    if body.kind != "rate" and body.value is not None and body.value > 1:
        raise ApiError(
            422,
            "validation_failed",
            f"value: must be a fraction between 0 and 1 for {body.kind}",
            field="value",
        )
    occurred_at = body.occurred_at or now
    if occurred_at > now + timedelta(seconds=ctx.settings.clock_skew_seconds):
        # Nothing happens in the future: a device clock ahead of ours is read as "just now".
        occurred_at = now
    try:
        recorded = await ctx.profiles.record(
            user_id=principal.user_id,
            content_id=str(body.content_id),
            kind=body.kind,
            value=body.value,
            occurred_at=occurred_at,
            event_id=body.event_id,
        )
    except ApiError as exc:
        INTERACTIONS.labels(body.kind, exc.code).inc()
        raise
    INTERACTIONS.labels(body.kind, "duplicate" if recorded.duplicate else "accepted").inc()
    return InteractionAccepted(event_id=recorded.event_id, duplicate=recorded.duplicate)


# --- preferences ---------------------------------------------------------------------------


@router.get("/profile/preferences", response_model=PreferencesOut)
async def get_preferences(principal: Reader, ctx: Ctx) -> PreferencesOut:
    """The signed-in user's stated preferences (empty lists when none were stated)."""
    async with ctx.pool.connection() as conn:
        row = await store.preferences(conn, principal.user_id)
    if row is None:
        return PreferencesOut(genres=[], moods=[], platforms=[], updated_at=None)
    return PreferencesOut(
        genres=list(row["genres"]),
        moods=list(row["moods"]),
        platforms=list(row["platforms"]),
        updated_at=row["updated_at"],
    )


@router.put(
    "/profile/preferences",
    response_model=PreferencesOut,
    responses={404: {"model": ErrorBody, "description": "A platform id the catalogue lacks"}},
)
async def put_preferences(body: PreferencesIn, principal: Writer, ctx: Ctx) -> PreferencesOut:
    """Replace the stated preferences: canonical genres and moods, platform ids. Used for
    recommendations before there is any history (cold start)."""
    async with ctx.pool.connection() as conn:
        known = await store.known_platforms(conn)
    for position, platform in enumerate(body.platforms):
        if known and platform not in known:
            # Which platforms exist is the catalogue's state: a well-formed id naming none is
            # "not found", as an unknown content id is.
            raise ApiError(
                404,
                "unknown_platform",
                f"platforms[{position}]: unknown platform {platform!r}",
                field=f"platforms[{position}]",
            )
    preferences = Preferences(
        tuple(dict.fromkeys(body.genres)),
        tuple(dict.fromkeys(body.moods)),
        tuple(dict.fromkeys(body.platforms)),
    )
    updated = await ctx.profiles.set_preferences(principal.user_id, preferences)
    return PreferencesOut(
        genres=list(preferences.genres),
        moods=list(preferences.moods),
        platforms=list(preferences.platforms),
        updated_at=updated,
    )


# --- recommendations -----------------------------------------------------------------------


def _item(catalogue: Catalogue, rec: Recommendation) -> RecommendedItem:
    item = catalogue.items[rec.row] if rec.row >= 0 else None
    return RecommendedItem(
        content_id=rec.content_id,
        title=item.title if item else None,
        type=item.type if item else None,
        genres=list(item.genres) if item else [],
        release_year=item.release_year if item else None,
        score=round(rec.score, 6),
        reason=rec.reason,
    )


def _continue_watching(catalogue: Catalogue, profile: Profile, limit: int) -> list[Recommendation]:
    low, high = CONTINUE_RANGE
    started = [
        (cid, s)
        for cid, s in profile.items.items()
        if not s.completed and s.progress is not None and low < s.progress < high
    ]
    started.sort(key=lambda pair: pair[1].last_at, reverse=True)
    return [
        Recommendation(
            cid, catalogue.index.get(cid, -1), float(s.progress or 0), "continue watching"
        )
        for cid, s in started[:limit]
    ]


@router.get(
    "/recommendations",
    response_model=RecommendationList,
    responses={
        404: {
            "model": ErrorBody,
            "description": "`context=similar` with an unknown `content_id`, or without one",
        }
    }
    | links(
        200,
        interact=link(
            "record_interaction_api_v1_interactions_post",
            "Record what the user did with the first recommendation",
            request_body={"content_id": "$response.body#/items/0/content_id"},
        ),
        more_like_it=link(
            "recommendations_api_v1_recommendations_get",
            "Titles similar to the first recommendation",
            parameters={
                "query.context": "similar",
                "query.content_id": "$response.body#/items/0/content_id",
            },
        ),
    ),
)
async def recommendations(
    principal: Reader,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    context: Annotated[Context, Query()] = "home",
    content_id: Annotated[
        uuid.UUID | None,
        Query(
            description="The title to find similar ones for: needed by, and only read by, "
            "`context=similar` (without it the answer is 404)"
        ),
    ] = None,
) -> RecommendationList:
    """Recommendations for the signed-in user, each with a score and a short reason.

    ``home``: the personal mix (completed and disliked titles excluded, diversified across
    genres; a cold start uses stated preferences and popularity). ``continue``: titles in
    progress, newest first. ``similar``: titles like ``content_id``.
    """
    if context == "similar" and content_id is None:
        # A rule between two query parameters, which OpenAPI cannot state as a schema: it is
        # in the parameters' descriptions, and the answer is the 404 of a title not found.
        raise ApiError(
            404, "not_found", "context=similar needs the content_id of a title", field="content_id"
        )
    started = time.perf_counter()
    profile = await ctx.profiles.get(principal.user_id)
    catalogue = ctx.catalogue
    similarity = ctx.similarity
    derived = engine.derive(profile, catalogue, similarity.table, similarity.version)
    if context == "continue":
        picks = _continue_watching(catalogue, profile, limit)
    elif context == "similar":
        if str(content_id) not in catalogue.index:
            raise ApiError(404, "not_found", "no content with this content_id", field="content_id")
        picks = engine.similar_items(
            catalogue,
            str(content_id),
            similarity.table,
            ctx.settings.weights,
            limit=limit,
            exclude=profile.excluded(),
        )
    else:
        picks = engine.recommend(
            catalogue,
            profile,
            derived,
            similarity.table,
            ctx.settings.weights,
            limit=limit,
        )
    result = RecommendationList(
        context=context,
        personalised=profile.has_history,
        items=[_item(catalogue, rec) for rec in picks],
    )
    RECOMMENDATIONS_SECONDS.observe(time.perf_counter() - started)
    return result


# --- internal: re-rank -----------------------------------------------------------------------


@internal_router.post(
    "/rerank",
    response_model=RerankResponse,
    responses={
        403: {"model": ErrorBody, "description": "The token is neither this user's nor admin"}
    },
)
async def rerank(body: RerankRequest, principal: CurrentPrincipal, ctx: Ctx) -> JSONResponse:
    """Order candidate titles (≤ 500) for a user — used by discovery's search.

    Needs the user's own token (``sub`` = ``user_id``) or the admin scope. For a user without
    history the candidates come back in the given order with ``personalised: false``.
    Duplicate candidates are dropped (first occurrence kept).
    """
    user_id = str(body.user_id)
    if principal.user_id != user_id and ADMIN_SCOPE not in principal.scopes:
        raise ApiError(
            403, "forbidden", "the token may re-rank only for its own user", field="user_id"
        )
    started = time.perf_counter()
    candidates = engine.unique([str(c) for c in body.candidates])
    ranked, personalised = await ctx.rerank(user_id, candidates, body.limit)
    content = {
        "items": [{"content_id": cid, "score": round(score, 6)} for cid, score in ranked],
        "personalised": personalised,
    }
    RERANK_SECONDS.observe(time.perf_counter() - started)
    RERANKS.labels(str(personalised).lower()).inc()
    return JSONResponse(content)

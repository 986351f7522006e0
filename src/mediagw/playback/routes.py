"""Playback endpoints: sessions and heartbeats, continue watching, history, deep links."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BeforeValidator

from mediagw.common.errors import ERROR_RESPONSES, ApiError, ErrorBody
from mediagw.common.links import link, links
from mediagw.common.paths import UuidPath
from mediagw.common.security import OptionalPrincipal, require_scopes
from mediagw.common.tokens import Principal
from mediagw.playback import store
from mediagw.playback.catalogue import ContentCatalog, ContentInfo
from mediagw.playback.context import Ctx, PlaybackContext
from mediagw.playback.metrics import HEARTBEATS, PROGRESS_WRITES, SESSIONS_ACTIVE, SESSIONS_STARTED
from mediagw.playback.rules import (
    CompletionRule,
    DeepLink,
    Device,
    ProgressRow,
    continue_watching,
    pick_platform,
)
from mediagw.playback.schemas import (
    ContinueItem,
    ContinueWatching,
    DeepLinkOut,
    Heartbeat,
    HeartbeatAccepted,
    HistoryItem,
    HistoryPage,
    SessionStarted,
    SessionStopped,
    StartSession,
    Stop,
)
from mediagw.playback.sessions import Session

log = logging.getLogger("mediagw.playback")

router = APIRouter(prefix="/api/v1", tags=["playback"], responses=ERROR_RESPONSES)


def _responses(*pairs: tuple[int, str]) -> dict[int | str, dict[str, object]]:
    return {status: {"model": ErrorBody, "description": text} for status, text in pairs}


SESSION_ERRORS = _responses(
    (404, "No live session with this id for the caller (`session_not_found`)"),
    (410, "The session expired (`session_expired`) or was stopped (`session_ended`)"),
)
START_SESSION = "start_session_api_v1_playback_sessions_post"
HEARTBEAT = "heartbeat_api_v1_playback_sessions__session_id__heartbeat_post"
STOP = "stop_session_api_v1_playback_sessions__session_id__stop_post"


def _play_first(status: int, description: str) -> dict[int | str, dict[str, object]]:
    """A list of titles links to starting a session on its first one."""
    body = {"content_id": "$response.body#/items/0/content_id"}
    return links(status, play=link(START_SESSION, description, request_body=body))


def _session_links(status: int, session_id: str) -> dict[int | str, dict[str, object]]:
    """Heartbeat and stop take the session this answer is about (``session_id`` expression)."""
    parameters = {"path.session_id": session_id}
    return links(
        status,
        heartbeat=link(HEARTBEAT, "Report progress in this session", parameters=parameters),
        stop=link(STOP, "End this session", parameters=parameters),
    )


Reader = Annotated[Principal, Depends(require_scopes("read"))]
Writer = Annotated[Principal, Depends(require_scopes("write"))]


def _link_out(link: DeepLink | None) -> DeepLinkOut | None:
    if link is None:
        return None
    return DeepLinkOut(
        platform=link.platform,
        web_url=link.web_url,
        app_url=link.app_url,
        chosen_url=link.chosen_url,
    )


def _default_link(info: ContentInfo, device: Device) -> DeepLink | None:
    return info.platforms[0].link(device) if info.platforms else None


async def continue_items(
    rows: list[ProgressRow],
    catalog: ContentCatalog,
    rule: CompletionRule,
    limit: int,
    device: Device,
) -> list[ContinueItem]:
    """Continue-watching entries from progress rows: in progress only, newest first, with
    title and deep link; titles gone from the catalogue are left out."""
    rows = continue_watching(rows, rule, limit)
    infos = await catalog.get_many([r.content_id for r in rows])
    items = []
    for row in rows:
        info = infos.get(row.content_id)
        if info is None:  # removed from the catalogue since
            continue
        items.append(
            ContinueItem(
                content_id=row.content_id,
                title=info.title,
                type=info.type,
                position_seconds=row.position_seconds,
                duration_seconds=row.duration_seconds,
                progress=round(row.position_seconds / row.duration_seconds, 4),
                device_id=row.device_id,
                updated_at=row.updated_at,
                deep_link=_link_out(_default_link(info, device)),
            )
        )
    return items


async def _content(ctx: PlaybackContext, content_id: uuid.UUID) -> ContentInfo:
    info = await ctx.catalog.get(str(content_id))
    if info is None:
        raise ApiError(
            404, "content_not_found", f"no content with id {content_id}", field="content_id"
        )
    return info


def _platform_missing(info: ContentInfo, platform: str) -> ApiError:
    offered = ", ".join(info.platform_ids) or "none"
    return ApiError(
        404,
        "platform_not_available",
        f"platform {platform!r} does not carry this title (available: {offered})",
        field="platform",
    )


async def _update_active(ctx: PlaybackContext) -> None:
    SESSIONS_ACTIVE.set(await ctx.sessions.active_count())


async def _live_session(ctx: PlaybackContext, session_id: uuid.UUID, user_id: str) -> Session:
    session = await ctx.sessions.get(str(session_id))
    if session is not None and session.user_id == user_id:
        return session
    if session is None:
        fate = await ctx.sessions.fate(str(session_id), user_id)
        if fate == "expired":
            raise ApiError(
                410,
                "session_expired",
                "the playback session expired (no heartbeat in time); start a new one",
                field="session_id",
            )
        if fate == "stopped":
            raise ApiError(
                410, "session_ended", "the playback session was stopped", field="session_id"
            )
    raise ApiError(
        404, "session_not_found", f"no playback session {session_id}", field="session_id"
    )


async def _stoppable_session(
    ctx: PlaybackContext, session_id: uuid.UUID, user_id: str
) -> tuple[Session, bool]:
    """The user's live session, taken (and True); else the session as it started if it
    expired (and False); else the 404/410 ``_live_session`` gives (a concurrent stop that
    won: 410 ``session_ended``)."""
    live = await ctx.sessions.get(str(session_id))
    if live is not None and live.user_id == user_id:
        taken = await ctx.sessions.take(str(session_id))
        if taken is not None:
            return taken, True
    elif live is None:
        expired = await ctx.sessions.take_expired(str(session_id), user_id)
        if expired is not None:
            return expired, False
    await _live_session(ctx, session_id, user_id)
    raise ApiError(410, "session_ended", "the playback session was stopped", field="session_id")


async def _record(
    ctx: PlaybackContext,
    request: Request,
    session: Session,
    position: int,
    completed: bool,
    trigger: str,
) -> None:
    """Write progress (and, for a stop, history), then publish it to sync (best effort)."""
    updated_at = await _write(ctx, session, position, completed, trigger)
    await _publish(ctx, request, session, position, completed, updated_at)


async def _write(
    ctx: PlaybackContext, session: Session, position: int, completed: bool, trigger: str
) -> datetime:
    """Progress (and, for a stop, the history row) in one transaction; its ``updated_at``."""
    async with ctx.pool.connection() as conn, conn.transaction():
        updated_at = await store.write_progress(
            conn,
            user_id=session.user_id,
            content_id=session.content_id,
            position=position,
            duration=session.duration_seconds,
            completed=completed,
            device_id=session.device_id,
            session_id=session.session_id,
        )
        if trigger == "stop":
            await store.add_history(
                conn,
                session_id=session.session_id,
                user_id=session.user_id,
                content_id=session.content_id,
                device_id=session.device_id,
                platform=session.platform,
                started_at=datetime.fromtimestamp(session.started_at, UTC),
                position=position,
                duration=session.duration_seconds,
                completed=completed,
            )
    PROGRESS_WRITES.labels(trigger).inc()
    return updated_at


async def _publish(
    ctx: PlaybackContext,
    request: Request,
    session: Session,
    position: int,
    completed: bool,
    updated_at: datetime,
) -> None:
    await ctx.publisher.publish(
        authorization=request.headers.get("authorization"),
        user_id=session.user_id,
        content_id=session.content_id,
        position=position,
        duration=session.duration_seconds,
        completed=completed,
        device_id=session.device_id,
        updated_at=updated_at,
    )


@router.post(
    "/playback/sessions",
    status_code=201,
    response_model=SessionStarted,
    responses=_responses((404, "Unknown content (`content_id`) or platform (`platform`)"))
    | _session_links(201, "$response.body#/session_id"),
)
async def start_session(body: StartSession, principal: Writer, ctx: Ctx) -> SessionStarted:
    """Start watching a title on a device: a session id, the deep link to open, and the
    resume point from the user's progress (0 when new or already completed)."""
    info = await _content(ctx, body.content_id)
    platform = pick_platform(info.platform_ids, body.platform)
    if body.platform is not None and platform is None:
        raise _platform_missing(info, body.platform)
    duration = info.duration_seconds or body.duration_seconds
    if duration is None:
        raise ApiError(
            422,
            "validation_failed",
            "duration_seconds: the catalogue has no runtime for this title; send it",
            field="duration_seconds",
        )
    async with ctx.pool.connection() as conn:
        progress = await store.progress_of(conn, principal.user_id, str(body.content_id))
    resume = 0
    if progress is not None and not progress["completed"]:
        resume = min(int(progress["position_seconds"]), duration)
    now = time.time()
    session = Session(
        session_id=str(uuid.uuid4()),
        user_id=principal.user_id,
        content_id=str(body.content_id),
        device_id=body.device_id,
        platform=platform,
        duration_seconds=duration,
        position_seconds=resume,
        state="starting",
        started_at=now,
        last_heartbeat_at=now,
        last_write_at=0.0,
    )
    await ctx.sessions.save(session, new=True)
    SESSIONS_STARTED.inc()
    await _update_active(ctx)
    entry = info.platform(platform) if platform else None
    return SessionStarted(
        session_id=session.session_id,
        content_id=session.content_id,
        device_id=session.device_id,
        platform=platform,
        deep_link=_link_out(entry.link(body.device) if entry else None),
        position_seconds=resume,
        duration_seconds=duration,
        expires_in_seconds=ctx.settings.session_ttl_seconds,
    )


@router.post(
    "/playback/sessions/{session_id:uuid_text}/heartbeat",
    response_model=HeartbeatAccepted,
    responses=SESSION_ERRORS | _session_links(200, "$request.path.session_id"),
)
async def heartbeat(
    session_id: UuidPath, body: Heartbeat, principal: Writer, ctx: Ctx, request: Request
) -> HeartbeatAccepted:
    """Report the position and state; keeps the session alive for another TTL. Progress is
    written at most every ``heartbeat_write_interval_seconds`` per session."""
    session = await _live_session(ctx, session_id, principal.user_id)
    position = ctx.rule.clamp(body.position_seconds, session.duration_seconds)
    completed = ctx.rule.completed(position, session.duration_seconds)
    now = time.time()
    write = now - session.last_write_at >= ctx.settings.heartbeat_write_interval_seconds
    session.position_seconds = position
    session.state = body.state
    session.last_heartbeat_at = now
    if write:
        session.last_write_at = now
    await ctx.sessions.save(session)
    HEARTBEATS.labels(body.state).inc()
    if write:
        await _record(ctx, request, session, position, completed, "heartbeat")
    await _update_active(ctx)
    return HeartbeatAccepted(
        session_id=session.session_id,
        position_seconds=position,
        state=body.state,
        completed=completed,
        progress_written=write,
        expires_in_seconds=ctx.settings.session_ttl_seconds,
    )


@router.post(
    "/playback/sessions/{session_id:uuid_text}/stop",
    response_model=SessionStopped,
    responses=SESSION_ERRORS,
)
async def stop_session(
    session_id: UuidPath, body: Stop, principal: Writer, ctx: Ctx, request: Request
) -> SessionStopped:
    """End the session: progress is written, a history row added, sync told. A session that
    expired (its heartbeats lapsed) can still be stopped once: the final position is kept."""
    session, live = await _stoppable_session(ctx, session_id, principal.user_id)
    position = ctx.rule.clamp(body.position_seconds, session.duration_seconds)
    completed = ctx.rule.completed(position, session.duration_seconds)
    try:
        updated_at = await _write(ctx, session, position, completed, "stop")
    except BaseException:
        # Nothing was written (one transaction): put the session back so that the client's
        # retry records the position instead of meeting 410 session_ended.
        try:
            await asyncio.shield(ctx.sessions.give_back(session, live=live))
        except Exception:  # Redis is gone too; the original error is the one to answer
            log.exception("playback session %s could not be given back", session.session_id)
        raise
    await _publish(ctx, request, session, position, completed, updated_at)
    await _update_active(ctx)
    return SessionStopped(
        session_id=session.session_id,
        content_id=session.content_id,
        position_seconds=position,
        duration_seconds=session.duration_seconds,
        completed=completed,
    )


@router.get(
    "/playback/continue-watching",
    response_model=ContinueWatching,
    responses=_play_first(200, "Resume the newest title in progress"),
)
async def get_continue_watching(
    principal: Reader,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    device: Annotated[Device, Query(description="Device type for the deep links")] = "web",
) -> ContinueWatching:
    """Titles in progress (past 5%, before 90% or the credits, not completed), newest first,
    on any of the user's devices."""
    async with ctx.pool.connection() as conn:
        rows = await store.in_progress(
            conn,
            principal.user_id,
            ctx.settings.continue_min_ratio,
            ctx.settings.completion_threshold,
            limit,
        )
    items = await continue_items(rows, ctx.catalog, ctx.rule, limit, device)
    return ContinueWatching(items=items)


def _date_time_only(value: object) -> object:
    """The document says `format: date-time`: refuse the bare numbers pydantic would take as
    Unix timestamps."""
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?[\d.eE+-]+\s*", value):
        raise ValueError("must be an ISO 8601 date-time, not a number")
    return value


@router.get(
    "/playback/history",
    response_model=HistoryPage,
    responses=_play_first(200, "Watch the latest title again"),
)
async def get_history(
    principal: Reader,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    before: Annotated[
        datetime | None,
        Query(description="Only sessions ended before this instant"),
        BeforeValidator(_date_time_only),
    ] = None,
) -> HistoryPage:
    """Stopped playback sessions, most recently ended first."""
    if before is not None and before.tzinfo is None:
        before = before.replace(tzinfo=UTC)
    async with ctx.pool.connection() as conn:
        rows = await store.history(conn, principal.user_id, before, limit)
    infos = await ctx.catalog.get_many(sorted({r["content_id"] for r in rows}))
    items = [
        HistoryItem(**row, title=info.title if (info := infos.get(row["content_id"])) else None)
        for row in rows
    ]
    next_before = items[-1].ended_at if len(items) == limit else None
    return HistoryPage(items=items, next_before=next_before)


@router.get(
    "/content/{content_id:uuid_text}/deep-link",
    response_model=DeepLinkOut,
    responses=_responses((404, "Unknown content (`content_id`) or platform (`platform`)")),
    # Public through the gateway (catalogue read): a token is optional, so say so.
    openapi_extra={"security": [{}]},  # appended to HTTPBearer: either is fine
)
async def get_deep_link(
    content_id: UuidPath,
    ctx: Ctx,
    _: OptionalPrincipal,
    platform: Annotated[str | None, Query(pattern=r"^[a-z0-9][a-z0-9_]{0,63}$")] = None,
    device: Device = "web",
) -> DeepLinkOut:
    """Links opening the title on a platform (the first carrying it when none is named):
    the web URL, the app URL, and the one to use on ``device``."""
    info = await _content(ctx, content_id)
    chosen = pick_platform(info.platform_ids, platform)
    if chosen is None:
        if platform is None:
            raise ApiError(
                404, "platform_not_available", "no platform carries this title", field="platform"
            )
        raise _platform_missing(info, platform)
    entry = info.platform(chosen)
    assert entry is not None
    link = _link_out(entry.link(device))
    assert link is not None
    return link

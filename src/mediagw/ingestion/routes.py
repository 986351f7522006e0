"""``/api/v1/ingestion``: start a run of a platform feed, and follow it (admin scope)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from psycopg.rows import DictRow

from mediagw.common.errors import ERROR_RESPONSES, ApiError, ErrorBody
from mediagw.common.links import link
from mediagw.common.security import require_scopes
from mediagw.common.tokens import Principal
from mediagw.ingestion.adapters import HttpFeedAdapter, JsonFileAdapter, PlatformAdapter
from mediagw.ingestion.context import Ctx, IngestionContext
from mediagw.ingestion.schemas import (
    UUID_PATTERN,
    FileSource,
    Run,
    RunAccepted,
    RunRequest,
)

router = APIRouter(prefix="/api/v1/ingestion", tags=["ingestion"], responses=ERROR_RESPONSES)
Admin = Annotated[Principal, Depends(require_scopes("admin"))]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No run with this id"}
}


def _adapter(ctx: IngestionContext, body: RunRequest) -> PlatformAdapter:
    settings = ctx.settings
    if isinstance(body.source, FileSource):
        return JsonFileAdapter(
            settings.feeds_dir, body.source.name, body.platform, max_bytes=settings.feed_max_bytes
        )
    return HttpFeedAdapter(
        body.source.url,
        body.platform,
        timeout=settings.http_feed_timeout_seconds,
        max_pages=settings.http_feed_max_pages,
        max_bytes=settings.feed_max_bytes,
        allow_plain_http=settings.allow_plain_http_feeds,
        allowed_hosts=settings.allowed_feed_hosts,
    )


def _requested_by(principal: Principal) -> str | None:
    try:
        return str(uuid.UUID(principal.user_id))
    except ValueError:
        return None


def _run(row: DictRow) -> Run:
    return Run(
        run_id=str(row["id"]),
        platform=row["platform"],
        source=row["source"],
        status=row["status"],
        fetched=row["fetched_count"],
        new=row["new_count"],
        updated=row["updated_count"],
        merged=row["merged_count"],
        failed=row["failed_count"],
        events_pending=row["events_pending"],
        events_sent=row["events_sent"],
        error=row["error"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
    )


@router.post(
    "/runs",
    status_code=202,
    response_model=RunAccepted,
    responses={
        403: {
            "model": ErrorBody,
            "description": "The deployment does not fetch from this source (scheme, host, or "
            "file feeds disabled)",
        },
        404: {"model": ErrorBody, "description": "No such platform, or no feed of that name"},
        202: {
            "description": "The run is queued; follow it at the `Location`",
            "links": {
                "follow": link(
                    "get_run_api_v1_ingestion_runs__run_id__get",
                    "The run's status and counts",
                    parameters={"path.run_id": "$response.body#/run_id"},
                )
            },
        },
    },
)
async def start_run(
    body: RunRequest, principal: Admin, ctx: Ctx, response: Response
) -> RunAccepted:
    """Ingest a platform's feed (a file in the feeds directory, or an HTTPS URL) in the
    background: normalise, resolve against the catalogue, store, index and emit events."""
    platform = await ctx.platform(body.platform)
    adapter = _adapter(ctx, body)
    async with ctx.pool.connection() as conn:
        cursor = await conn.execute(
            """INSERT INTO ingestion.runs (platform, source, requested_by)
               VALUES (%s, %s, (SELECT id FROM auth.users WHERE id = %s::uuid))
               RETURNING id, status""",
            (platform.id, adapter.source, _requested_by(principal)),
        )
        row = await cursor.fetchone()
    assert row is not None
    run_id = str(row["id"])
    ctx.executor.submit(run_id, platform, adapter)
    response.headers["Location"] = f"/api/v1/ingestion/runs/{run_id}"
    return RunAccepted(run_id=run_id, status=row["status"])


@router.get("/runs/{run_id:uuid_text}", response_model=Run, responses=NOT_FOUND)
async def get_run(
    run_id: Annotated[str, Path(pattern=UUID_PATTERN, description="The id from POST /runs")],
    _: Admin,
    ctx: Ctx,
) -> Run:
    """A run: its status, counts (fetched, new, updated, merged, failed) and events."""
    async with ctx.pool.connection() as conn:
        cursor = await conn.execute("SELECT * FROM ingestion.runs WHERE id = %s", (run_id,))
        row = await cursor.fetchone()
    if row is None:
        raise ApiError(404, "not_found", "no ingestion run with this id", field="run_id")
    return _run(row)

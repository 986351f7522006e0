"""A user's own sessions (one per login on a device): list and revoke."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from mediagw.auth import store
from mediagw.auth.context import Ctx
from mediagw.auth.issuer import revoke_family
from mediagw.auth.schemas import SessionList, SessionOut
from mediagw.common.errors import ERROR_RESPONSES, ApiError, ErrorBody
from mediagw.common.links import link, links
from mediagw.common.paths import UUID_PATTERN
from mediagw.common.security import require_scopes
from mediagw.common.tokens import Principal

router = APIRouter(prefix="/api/v1/auth", tags=["sessions"], responses=ERROR_RESPONSES)


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


@router.get(
    "/sessions",
    response_model=SessionList,
    responses=links(
        200,
        end_first=link(
            "revoke_session_api_v1_auth_sessions__session_id__delete",
            "End the first session listed",
            parameters={"path.session_id": "$response.body#/sessions/0/id"},
        ),
    ),
)
async def list_sessions(
    principal: Annotated[Principal, Depends(require_scopes("read"))], ctx: Ctx
) -> SessionList:
    sessions = await ctx.sessions.list_for(principal.user_id)
    return SessionList(
        sessions=[
            SessionOut(
                id=s.id,
                device_id=s.device_id,
                device_name=s.device_name,
                ip=s.ip,
                user_agent=s.user_agent,
                created_at=_at(s.created_at),
                last_seen_at=_at(s.last_seen_at),
                current=s.id == principal.session_id,
            )
            for s in sessions
        ]
    )


@router.delete(
    "/sessions/{session_id:uuid_text}",
    status_code=204,
    response_class=Response,
    responses={404: {"model": ErrorBody, "description": "No such session of yours"}},
)
async def revoke_session(
    session_id: Annotated[str, Path(pattern=UUID_PATTERN)],
    principal: Annotated[Principal, Depends(require_scopes("write"))],
    ctx: Ctx,
) -> Response:
    """End one of your sessions (another user's session is reported as not found)."""
    async with ctx.pool.connection() as conn, conn.transaction():
        owner = await store.RefreshTokens.family_owner(conn, session_id)
        if owner != principal.user_id:
            raise ApiError(404, "not_found", "no such session", field="session_id")
        await revoke_family(ctx, conn, session_id, principal.user_id, "revoked_by_user")
        await store.audit(conn, "session.revoked", principal.user_id, session_id=session_id)
    return Response(status_code=204)

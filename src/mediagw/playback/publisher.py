"""Publishes progress to sync (``lww_set progress/{content_id}``) so other devices see it.

Publishing is best effort: a failure or an unreachable sync is counted and logged, never
raised, so playback keeps working when sync does not.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

import httpx

from mediagw.common.peers import peer_client
from mediagw.playback.metrics import PUBLISH_FAILURES, PUBLISHED

SYNC_OPS_PATH = "/api/v1/internal/sync/ops"
log = logging.getLogger("mediagw.playback.sync")


class SyncPublisher:
    def __init__(self, sync_url: str | None, timeout: float) -> None:
        self.sync_url = sync_url
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None

    def _peer(self) -> httpx.AsyncClient | None:
        if self._client is None:
            try:
                self._client = peer_client("sync", self.sync_url, timeout=self.timeout)
            except LookupError:
                return None  # not mounted yet (or at all): looked up again next time
        return self._client

    async def publish(
        self,
        *,
        authorization: str | None,
        user_id: str,
        content_id: str,
        position: int,
        duration: int,
        completed: bool,
        device_id: str,
        updated_at: datetime,
    ) -> bool:
        client = self._peer()
        if client is None:
            PUBLISH_FAILURES.labels("unavailable").inc()
            return False
        body: dict[str, Any] = {
            "user_id": user_id,
            "ops": [
                {
                    "op_id": str(uuid.uuid4()),
                    "kind": "lww_set",
                    "key": f"progress/{content_id}",
                    "value": {
                        "position_seconds": position,
                        "duration_seconds": duration,
                        "completed": completed,
                        "device_id": device_id,
                        "updated_at": updated_at.isoformat(),
                    },
                }
            ],
        }
        headers = {"Authorization": authorization} if authorization else {}
        try:
            response = await client.post(SYNC_OPS_PATH, json=body, headers=headers)
        except httpx.HTTPError as exc:
            PUBLISH_FAILURES.labels("error").inc()
            log.warning("sync publish failed: %s: %s", type(exc).__name__, exc)
            return False
        if response.status_code >= 300:
            PUBLISH_FAILURES.labels("status").inc()
            log.warning("sync publish refused: %s %s", response.status_code, response.text[:200])
            return False
        PUBLISHED.inc()
        return True

    async def ping(self) -> None:
        """Readiness: sync answers its liveness probe (raises otherwise)."""
        client = self._peer()
        if client is None:
            raise LookupError("sync is neither configured nor mounted")
        response = await client.get("/health/live")
        response.raise_for_status()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

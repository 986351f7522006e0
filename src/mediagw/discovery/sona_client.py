"""Personalised re-ranking through SONA's ``POST /api/v1/internal/rerank``.

The caller's own ``Authorization`` header is forwarded (SONA checks it is the user it is asked
about). The call is bounded by ``sona_timeout_seconds`` (≈ 200 ms) with ``asyncio.timeout`` —
which also bounds an in-process peer, where httpx timeouts do not apply. Any failure (timeout,
transport error, non-200, malformed answer, SONA not deployed) leaves the fused order in place
and counts ``search_rerank_fallback_total{reason}``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import httpx
from pydantic import BaseModel, ValidationError

from mediagw.common.peers import peer_client
from mediagw.discovery.metrics import RERANK_FALLBACKS

log = logging.getLogger("mediagw.discovery.sona_client")

RERANK_PATH = "/api/v1/internal/rerank"


class _RerankItem(BaseModel):
    content_id: str
    score: float


class _RerankAnswer(BaseModel):
    items: list[_RerankItem]
    personalised: bool = True


@dataclass(frozen=True)
class Reranked:
    order: list[str]
    scores: dict[str, float]
    personalised: bool


class SonaClient:
    """SONA over HTTP (``MG_SONA_URL``) or in-process; resolved lazily, so a SONA mounted after
    discovery in the same process is still found."""

    def __init__(self, url: str | None, timeout: float) -> None:
        self.url = url or None
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None

    def client(self) -> httpx.AsyncClient | None:
        if self._client is None:
            try:
                self._client = peer_client("sona", self.url, timeout=self.timeout)
            except LookupError:
                return None
        return self._client

    async def ready(self) -> None:
        client = self.client()
        if client is None:
            raise ConnectionError("not deployed (MG_SONA_URL unset and not mounted in-process)")
        response = await client.get("/health/live", timeout=2.0)
        if response.status_code != 200:
            raise ConnectionError(f"/health/live answered {response.status_code}")

    async def rerank(
        self, user_id: str, candidates: list[str], authorization: str | None
    ) -> Reranked | None:
        """SONA's order for ``candidates`` (all of them: ids SONA left out follow in the given
        order), or None after counting why it could not be had."""
        client = self.client()
        if client is None:
            RERANK_FALLBACKS.labels("unavailable").inc()
            return None
        headers = {"authorization": authorization} if authorization else {}
        body = {"user_id": user_id, "candidates": candidates, "limit": len(candidates)}
        try:
            async with asyncio.timeout(self.timeout):
                response = await client.post(RERANK_PATH, json=body, headers=headers)
        except TimeoutError:
            RERANK_FALLBACKS.labels("timeout").inc()
            return None
        except httpx.HTTPError as exc:
            log.warning("SONA re-rank failed: %s", exc)
            RERANK_FALLBACKS.labels("error").inc()
            return None
        if response.status_code != 200:
            RERANK_FALLBACKS.labels(f"status_{response.status_code // 100}xx").inc()
            return None
        try:
            answer = _RerankAnswer.model_validate_json(response.content)
        except ValidationError:
            RERANK_FALLBACKS.labels("bad_response").inc()
            return None
        wanted = set(candidates)
        order: list[str] = []
        scores: dict[str, float] = {}
        for item in answer.items:
            if item.content_id in wanted and item.content_id not in scores:
                order.append(item.content_id)
                scores[item.content_id] = item.score
        order += [c for c in candidates if c not in scores]
        return Reranked(order=order, scores=scores, personalised=answer.personalised)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

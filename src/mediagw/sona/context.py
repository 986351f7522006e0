"""What the SONA routes share, built in the app's lifespan, and the dependency that hands it
to them. The refreshers it holds live in ``mediagw.sona.refresh``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis

from mediagw.common.storage import Pool
from mediagw.sona import engine
from mediagw.sona.catalogue import Catalogue
from mediagw.sona.profiles import ProfileStore
from mediagw.sona.refresh import CatalogueLoader, SimilarityJob
from mediagw.sona.settings import SonaSettings


@dataclass
class SonaContext:
    settings: SonaSettings
    pool: Pool
    redis: Redis
    loader: CatalogueLoader
    similarity: SimilarityJob
    profiles: ProfileStore
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def catalogue(self) -> Catalogue:
        return self.loader.snapshot

    async def rerank(
        self, user_id: str, candidates: Sequence[str], limit: int | None
    ) -> tuple[list[tuple[str, float]], bool]:
        """The hot path: (content id, score) best first, and whether it is personalised.
        No database call while the profile is cached (in process, else Redis)."""
        profile = await self.profiles.get(user_id)
        if not profile.has_history:
            return engine.given_order(candidates, limit), False
        catalogue = self.loader.snapshot
        similarity = self.similarity
        derived = engine.derive(profile, catalogue, similarity.table, similarity.version)
        return engine.rerank(catalogue, derived, candidates, self.settings.weights, limit), True

    async def refresh_catalogue(self) -> int:
        async with self.pool.connection() as conn:
            return await self.loader.refresh(conn)


# async: FastAPI would run a plain `def` dependency in a worker thread, a hop per request.
async def _context(request: Request) -> SonaContext:
    context: SonaContext = request.app.state.sona
    return context


Ctx = Annotated[SonaContext, Depends(_context)]

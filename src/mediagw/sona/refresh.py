"""What keeps SONA's hot data fresh: the background loaders its context holds.

- :class:`CatalogueLoader`: the item matrix from content.embeddings ⋈ content.content, loaded at
  start-up and refreshed incrementally by ``updated_at`` every ``item_refresh_seconds`` (with a
  full reload when titles disappear, and every 15 minutes).
- :class:`SimilarityJob`: item-item neighbours recomputed from positive interactions every
  ``similarity_refresh_seconds`` when interactions changed, stored in sona.item_similarity
  (one worker computes, under an advisory lock; the others load the table when it changes).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mediagw.common.storage import Pool
from mediagw.sona import store
from mediagw.sona.catalogue import Catalogue
from mediagw.sona.cooccurrence import cooccurrence_similarity
from mediagw.sona.metrics import CATALOGUE_TITLES, NEIGHBOUR_PAIRS
from mediagw.sona.settings import SonaSettings

log = logging.getLogger("mediagw.sona")
REFRESH_OVERLAP = timedelta(seconds=60)
"""Re-read titles changed this long before the watermark: a transaction that started earlier
but committed later than our last read is still seen."""
FULL_RELOAD_SECONDS = 900.0
SIMILARITY_MODEL = "cooc-v1@"


class CatalogueLoader:
    def __init__(self, settings: SonaSettings) -> None:
        self.settings = settings
        self.snapshot = Catalogue.empty(settings.embedding_dim, settings.recency_half_life_years)
        self._stamps: dict[str, datetime] = {}
        self._watermark: datetime | None = None
        self._loaded_at = 0.0

    async def load(self, conn: store.Conn) -> int:
        rows = await store.catalogue_rows(conn, self.settings.embedding_dim)
        self.snapshot = await asyncio.to_thread(
            Catalogue.build,
            [row.item for row in rows],
            dim=self.settings.embedding_dim,
            version=self.snapshot.version + 1,
            half_life_years=self.settings.recency_half_life_years,
        )
        self._stamps = {row.item.content_id: row.stamp for row in rows}
        self._watermark = max(self._stamps.values(), default=None)
        self._loaded_at = time.monotonic()
        CATALOGUE_TITLES.set(len(self.snapshot))
        return len(rows)

    async def refresh(self, conn: store.Conn) -> int:
        """Apply titles added or changed since the last read; returns how many changed."""
        if self._watermark is None or time.monotonic() - self._loaded_at > FULL_RELOAD_SECONDS:
            before = len(self.snapshot)
            return abs(await self.load(conn) - before)
        if await store.embedding_count(conn, self.settings.embedding_dim) < len(self.snapshot):
            return await self.load(conn)
        stamps = await store.catalogue_stamps(
            conn, self.settings.embedding_dim, self._watermark - REFRESH_OVERLAP
        )
        fresh = {
            content_id: stamp
            for content_id, stamp in stamps
            if (seen := self._stamps.get(content_id)) is None or stamp > seen
        }
        if not fresh:
            return 0
        changed = await store.catalogue_rows(conn, self.settings.embedding_dim, list(fresh))
        self.snapshot = await asyncio.to_thread(
            self.snapshot.updated, [row.item for row in changed]
        )
        self._stamps.update(fresh)  # rows that could not be decoded are not retried either
        self._stamps.update({row.item.content_id: row.stamp for row in changed})
        self._watermark = max(self._watermark, *fresh.values())
        CATALOGUE_TITLES.set(len(self.snapshot))
        return len(changed)


def similarity_rows(
    pairs: Sequence[tuple[str, str]], top_k: int, min_support: int
) -> list[tuple[str, str, float]]:
    """(content id, neighbour id, score) from (user id, liked content id) pairs."""
    positions: dict[str, int] = {}
    per_user: defaultdict[str, list[int]] = defaultdict(list)
    for user_id, content_id in pairs:
        per_user[user_id].append(positions.setdefault(content_id, len(positions)))
    table = cooccurrence_similarity(
        list(per_user.values()), len(positions), top_k=top_k, min_support=min_support
    )
    ids = list(positions)
    return [
        (ids[s], ids[t], round(float(score), 6))
        for s, t, score in zip(table.source, table.target, table.score, strict=True)
    ]


@dataclass
class SimilarityJob:
    settings: SonaSettings
    pool: Pool
    table: dict[str, dict[str, float]] = field(default_factory=dict)
    version: int = 0
    installed: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once a neighbour table (possibly empty) has been computed or loaded."""
    _stamp: tuple[datetime | None, int, str | None] | None = None
    _computed_mark: int | None = None

    def _install(self, rows: Sequence[tuple[str, str, float]]) -> None:
        table: dict[str, dict[str, float]] = {}
        for source, target, score in rows:
            table.setdefault(source, {})[target] = score
        self.table = table
        self.version += 1
        self.installed.set()
        NEIGHBOUR_PAIRS.set(len(rows))

    async def load(self) -> None:
        """Load sona.item_similarity if it changed since the last load."""
        async with self.pool.connection() as conn:
            stamp = await store.similarity_stamp(conn)
            if stamp == self._stamp:
                return
            rows = await store.similarity_rows(conn)
        self._install(rows)
        self._stamp = stamp

    async def recompute(self) -> bool:
        """Recompute and store the neighbours if interactions changed; False when another
        worker holds the lock or nothing changed."""
        async with self.pool.connection() as conn, conn.transaction():
            mark = await store.interactions_watermark(conn)
            if mark == self._computed_mark:
                return False
            stamp = await store.similarity_stamp(conn)
            if stamp[2] == f"{SIMILARITY_MODEL}{mark}":  # another worker already did this one
                self._computed_mark = mark
                return False
            if not await store.try_lock_similarity(conn):
                return False
            pairs = await store.positive_pairs(conn, self.settings.similarity_items_per_user)
            rows = await asyncio.to_thread(
                similarity_rows,
                pairs,
                self.settings.similarity_top_k,
                self.settings.similarity_min_support,
            )
            await store.replace_similarity(conn, rows, f"{SIMILARITY_MODEL}{mark}")
        self._install(rows)
        self._computed_mark = mark
        async with self.pool.connection() as conn:
            self._stamp = await store.similarity_stamp(conn)
        log.info("item similarity recomputed: %d neighbour pairs", len(rows))
        return True

    async def cycle(self) -> None:
        if not await self.recompute():
            await self.load()


async def every(
    seconds: float, action: Callable[[], Awaitable[object]], what: str, *, first: bool
) -> None:
    """Run ``action`` every ``seconds`` until cancelled; failures are logged once per kind."""
    failing: str | None = None
    if not first:
        await asyncio.sleep(seconds)
    while True:
        try:
            await action()
        except Exception as exc:  # noqa: BLE001 — a background refresh must survive any failure
            problem = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            if problem != failing:
                log.warning("%s failed (will retry every %.1f s): %s", what, seconds, problem)
                failing = problem
        else:
            if failing is not None:
                log.info("%s recovered", what)
                failing = None
        await asyncio.sleep(seconds)

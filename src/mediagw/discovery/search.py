"""Search: parse → (cache) → vector ∥ full-text → reciprocal rank fusion → SONA → hydrate.

1. **Parse** the query into hard filters, moods to prefer and free text (``query.py``);
   explicit parameters override parsed values, unknown explicit values are a 422.
2. **Cache** (``cache.py``): the fused page for (normalised query, filters, region, page,
   version) may already be in Redis; personalisation comes after the cache, so an entry serves
   every user.
3. **Retrieve**, both at once:
   - *vector*: embed the free text with the genre and mood words (the whole query when nothing
     else is left) off the event loop, then the ``vector_candidates`` nearest titles passing
     the filters from Qdrant (``query_points``). On a server the filters are native payload
     conditions. The embedded engine runs filters per point in Python (≈ 55 ms per 5,000
     points, DESIGN.md §3), so there the search over-fetches the nearest 400 *unfiltered*
     (≈ 3-8 ms, only the payload fields the filters read) and filters them in Python; when
     too few survive it falls back to a filtered query — restricted by ``has_id`` to the ids
     PostgreSQL's indexes find for the filters when there are at most 500 of them (≈ 10 ms),
     else with the payload conditions. Each way gives the same exact top list (``index.py``).
     If the vector index fails, the search goes on with full-text alone
     (``search_vector_failures_total``);
   - *full-text*: ``websearch_to_tsquery('english', text)`` against ``content.search`` ranked
     by ``ts_rank`` with the same filters in SQL (a query that was all filters lists the
     filtered catalogue by preferred mood, then popularity).
   A platform filter means "an open offer on that platform in the request's region": Qdrant's
   payload narrows by platform, then one SQL check applies the region.
4. **Fuse** with reciprocal rank fusion, k = 60 (``fusion.py``); deterministic, so pages of one
   query never overlap. ``total`` is the size of the fused candidate window.
5. **Personalise** (signed-in callers): SONA re-ranks the page's titles with the caller's token
   forwarded; on failure the fused order stands (``search_rerank_fallback_total``). Re-ranking
   within the page keeps pages disjoint whatever SONA answers.
6. **Hydrate** the page from PostgreSQL with the open offers in the region and deep links.

Every stage is timed in ``search_stage_duration_seconds{stage}``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from mediagw.common.embedding import Embedder
from mediagw.common.storage import Pool
from mediagw.common.taxonomy import GENRES
from mediagw.common.tokens import Principal
from mediagw.discovery import store
from mediagw.discovery.cache import CachedPage, SearchCache
from mediagw.discovery.catalogue_cache import CatalogueCache
from mediagw.discovery.fusion import reciprocal_rank_fusion
from mediagw.discovery.index import AMONG_LIMIT, VectorIndex
from mediagw.discovery.metrics import CACHE_RESULTS, STAGE_SECONDS, VECTOR_FAILURES
from mediagw.discovery.query import (
    ExplicitFilters,
    FieldNames,
    Filters,
    ParsedQuery,
    QueryParser,
    UnknownFilterValue,
    resolve_filters,
)
from mediagw.discovery.schemas import Offer, SearchHit, hit
from mediagw.discovery.settings import DiscoverySettings
from mediagw.discovery.sona_client import SonaClient

log = logging.getLogger("mediagw.discovery.search")

STAGES = ("parse", "embed", "vector", "fulltext", "fusion", "rerank", "hydrate")
VOCABULARY_TTL_SECONDS = 60.0
VOCABULARY_MISS_REFRESH_SECONDS = 5.0
EMBEDDING_CACHE_SIZE = 2048


@contextmanager
def stage(name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        STAGE_SECONDS.labels(name).observe(time.perf_counter() - started)


SELECTIVE_FILTERS_KEPT = 1024
"""Filters remembered as too selective for the embedded over-fetch (per process, oldest out)."""


class Vocabulary:
    """The genres and platforms the catalogue knows, and a parser that recognises them.

    Reloaded from PostgreSQL at most once a minute (and, when a request names a platform or
    genre not yet known, at most every few seconds), so platforms added by ingestion become
    valid filters without a restart.
    """

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.parser = QueryParser()
        self.genres: frozenset[str] = frozenset(GENRES)
        self.platforms: frozenset[str] = self.parser.known_platforms
        self.platform_names: dict[str, str] = {}
        self._loaded_at = -math.inf
        self._lock = asyncio.Lock()

    async def refresh(self, *, force: bool = False) -> None:
        window = VOCABULARY_MISS_REFRESH_SECONDS if force else VOCABULARY_TTL_SECONDS
        if time.monotonic() - self._loaded_at < window:
            return
        async with self._lock:
            if time.monotonic() - self._loaded_at < window:
                return
            try:
                async with self.pool.connection() as conn:
                    cursor = await conn.execute("SELECT id, name FROM content.platforms")
                    platforms = {str(r["id"]): str(r["name"]) for r in await cursor.fetchall()}
                    cursor = await conn.execute(
                        "SELECT DISTINCT unnest(genres) AS genre FROM content.content"
                    )
                    genres = {str(r["genre"]) for r in await cursor.fetchall()}
            except Exception as exc:  # noqa: BLE001 — keep serving with what is known
                log.warning("could not reload the catalogue vocabulary: %s", exc)
                self._loaded_at = time.monotonic()
                return
            if platforms != self.platform_names:
                self.parser = QueryParser(platforms.items())
                self.platforms = self.parser.known_platforms
                self.platform_names = platforms
            self.genres = frozenset({*GENRES, *genres})
            self._loaded_at = time.monotonic()


@dataclass(frozen=True)
class SearchRequest:
    query: str
    explicit: ExplicitFilters
    names: FieldNames
    page: int
    page_size: int
    region: str


@dataclass
class SearchResult:
    parsed: ParsedQuery
    filters: Filters
    items: list[SearchHit]
    total: int
    personalised: bool
    cached: bool


@dataclass
class SearchEngine:
    settings: DiscoverySettings
    pool: Pool
    index: VectorIndex
    embedder: Embedder
    cache: SearchCache
    sona: SonaClient
    vocabulary: Vocabulary
    kept_hits: CatalogueCache[SearchHit]
    """Hydrated hits per title and region, without scores (``catalogue_cache``)."""
    _embeddings: OrderedDict[str, list[float]] = field(default_factory=OrderedDict)
    _selective: OrderedDict[Filters, None] = field(default_factory=OrderedDict)
    """Filters whose embedded over-fetch came up short: their next search skips it (see
    :meth:`nearest`). Only the cost depends on it — every path gives the same exact list."""

    async def embed(self, text: str) -> list[float]:
        """The query's vector (CPU-bound: computed in a worker thread; recent ones memoised)."""
        cached = self._embeddings.get(text)
        if cached is not None:
            self._embeddings.move_to_end(text)
            return cached
        matrix = await asyncio.to_thread(self.embedder.embed, [text])
        vector = [float(v) for v in matrix[0]]
        self._embeddings[text] = vector
        if len(self._embeddings) > EMBEDDING_CACHE_SIZE:
            self._embeddings.popitem(last=False)
        return vector

    async def parse(self, request: SearchRequest) -> tuple[ParsedQuery, Filters]:
        """Parse and merge with the explicit filters (raises InvalidFilter for bad ones)."""
        await self.vocabulary.refresh()
        for attempt in range(2):
            vocabulary = self.vocabulary
            with stage("parse"):
                parsed = vocabulary.parser.parse(request.query)
                try:
                    filters = resolve_filters(
                        parsed,
                        request.explicit,
                        known_genres=vocabulary.genres,
                        known_platforms=vocabulary.platforms,
                        names=request.names,
                    )
                except UnknownFilterValue:
                    if attempt:
                        raise
                    await vocabulary.refresh(force=True)  # ingestion may have just added it
                    continue
            return parsed, filters
        raise AssertionError("unreachable")  # pragma: no cover

    async def search(
        self, request: SearchRequest, principal: Principal | None, authorization: str | None
    ) -> SearchResult:
        parsed, filters = await self.parse(request)
        page = await self._fused_page(request, parsed, filters)
        order, personal = page.ids, dict[str, float]()
        personalised = False
        if principal is not None and order:
            with stage("rerank"):
                reranked = await self.sona.rerank(principal.user_id, order, authorization)
            if reranked is not None:
                order, personal, personalised = (
                    reranked.order,
                    reranked.scores,
                    reranked.personalised,
                )
        scores = dict(zip(page.ids, page.scores, strict=True))
        with stage("hydrate"):
            items = await self.hits(order, scores, personal, request.region)
        return SearchResult(
            parsed=parsed,
            filters=filters,
            items=items,
            total=page.total,
            personalised=personalised,
            cached=page.cached,
        )

    async def _fused_page(
        self, request: SearchRequest, parsed: ParsedQuery, filters: Filters
    ) -> _Page:
        key = None
        if self.cache.enabled:
            version = await self.cache.version()
            if version is None:
                CACHE_RESULTS.labels("error").inc()
            else:
                key = self.cache.key(version, self._cache_request(request, parsed, filters))
                cached = await self.cache.get(key)
                if cached is not None:
                    return _Page(cached.ids, cached.scores, cached.total, cached=True)
        vector_ids, text_ids = await asyncio.gather(
            self._vector_ranking(parsed, filters, request.region),
            self._text_ranking(parsed, filters, request.region),
        )
        with stage("fusion"):
            fused = reciprocal_rank_fusion([vector_ids, text_ids])
            start = (request.page - 1) * request.page_size
            window = fused[start : start + request.page_size]
            page = _Page([f.id for f in window], [f.score for f in window], len(fused))
        if key is not None:
            await self.cache.put(key, CachedPage(page.ids, page.scores, page.total))
        return page

    def _cache_request(
        self, request: SearchRequest, parsed: ParsedQuery, filters: Filters
    ) -> dict[str, Any]:
        return {
            "query": parsed.query,
            "genres": sorted(filters.genres),
            "moods": sorted(filters.moods),
            "prefer_moods": sorted(filters.prefer_moods),
            "platforms": sorted(filters.platforms),
            "types": sorted(filters.types),
            "years": [filters.year_from, filters.year_to],
            "rating_min": filters.rating_min,
            "region": request.region,
            "page": request.page,
            "page_size": request.page_size,
            "embedder": self.embedder.name,
            "candidates": [self.settings.vector_candidates, self.settings.fulltext_candidates],
        }

    async def _vector_ranking(
        self, parsed: ParsedQuery, filters: Filters, region: str
    ) -> list[str]:
        """The vector side; when the index fails the search goes on with full-text alone."""
        with stage("embed"):
            vector = await self.embed(parsed.semantic_text)
        with stage("vector"):
            try:
                return await self.nearest(vector, filters, region)
            except Exception as exc:  # noqa: BLE001 — a failing index degrades search only
                log.warning("vector search failed; full-text results only: %s", exc)
                VECTOR_FAILURES.inc()
                return []

    async def nearest(self, vector: list[float], filters: Filters, region: str) -> list[str]:
        """The ``vector_candidates`` nearest titles passing ``filters`` (see ``index.py``)."""
        index, limit = self.index, self.settings.vector_candidates
        if filters.is_empty or not index.embedded:
            ids = await asyncio.to_thread(index.search, vector, filters, limit)
        else:
            found = None
            if filters not in self._selective:
                found = await asyncio.to_thread(index.overfetched, vector, filters, limit)
            if found is None:  # a selective filter: let PostgreSQL's indexes narrow it first
                # The over-fetch that came up short cost as much as the query that follows;
                # the same filters (a popular search, its next page) go straight here.
                self._remember_selective(filters)
                async with self.pool.connection() as conn:
                    allowed = await store.matching_ids(conn, filters, region, AMONG_LIMIT + 1)
                if len(allowed) <= AMONG_LIMIT:
                    return await asyncio.to_thread(index.among, vector, allowed, limit)
                self._selective.pop(filters, None)  # not so selective after all
                found = await asyncio.to_thread(index.filtered, vector, filters, limit)
            ids = found
        if filters.platforms and ids:  # the payload knows platforms, not platform by region
            async with self.pool.connection() as conn:
                open_offers = await store.available_on(conn, ids, filters.platforms, region)
            ids = [i for i in ids if i in open_offers]
        return ids

    def _remember_selective(self, filters: Filters) -> None:
        self._selective[filters] = None
        self._selective.move_to_end(filters)
        while len(self._selective) > SELECTIVE_FILTERS_KEPT:
            self._selective.popitem(last=False)

    async def _text_ranking(self, parsed: ParsedQuery, filters: Filters, region: str) -> list[str]:
        limit = self.settings.fulltext_candidates
        with stage("fulltext"):
            async with self.pool.connection() as conn:
                if parsed.text:
                    return await store.fulltext(conn, parsed.text, filters, region, limit)
                return await store.browse(conn, filters, region, limit)

    async def hits(
        self,
        ids: Sequence[str],
        scores: dict[str, float],
        personal: dict[str, float],
        region: str,
    ) -> list[SearchHit]:
        """The titles in ``ids`` order with their offers in ``region`` (gone ones skipped);
        only titles this process does not keep are read from PostgreSQL."""
        kept = {i: h for i in ids if (h := self.kept_hits.get(f"{i}:{region}")) is not None}
        missing = [i for i in ids if i not in kept]
        if missing:
            async with self.pool.connection() as conn:
                rows = await store.hydrate(conn, missing, region)
            for content_id, row in rows.items():
                offers = [Offer.model_validate(store.offer(raw)) for raw in row["offers"]]
                kept[content_id] = hit(row, 0.0, None, offers)
                self.kept_hits.put(f"{content_id}:{region}", kept[content_id])
        return [
            kept[i].model_copy(
                update={"score": round(scores.get(i, 0.0), 6), "personal_score": personal.get(i)}
            )
            for i in ids
            if i in kept
        ]

    async def similar(self, content_id: str, limit: int, region: str) -> list[SearchHit] | None:
        """Nearest titles to ``content_id`` (itself excluded); None when it does not exist."""
        async with self.pool.connection() as conn:
            if not await store.exists(conn, content_id):
                return None
            vector = await asyncio.to_thread(self.index.vector_of, content_id)
            if vector is None:
                vector = await store.stored_vector(conn, content_id, self.embedder.name)
            if vector is None:
                ids = await store.same_genres(conn, content_id, limit)
                scores = dict.fromkeys(ids, 0.0)
            else:
                neighbours = await asyncio.to_thread(
                    self.index.neighbours, vector, content_id, limit
                )
                ids = [i for i, _ in neighbours]
                scores = dict(neighbours)
        return await self.hits(ids, scores, {}, region)


@dataclass(frozen=True)
class _Page:
    ids: list[str]
    scores: list[float]
    total: int
    cached: bool = False

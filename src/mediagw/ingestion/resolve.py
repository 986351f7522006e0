"""Entity resolution: the same work from several platforms becomes one content id.

An item is matched, in this order, by

1. its own ``(platform, platform_id)`` in ``content.external_ids`` (seen before),
2. its IMDb id (stored as the external id of platform ``imdb``),
3. its title key (:func:`~mediagw.ingestion.normalise.title_key`), release year ±1 and type
   family (a MOVIE on one platform is a documentary on another), when nothing contradicts it:
   the candidate must not already carry an id of the same platform (a platform lists a work
   once) nor a different IMDb id, share a director when both list some, and run about as long.

Merging keeps what is already known and adds what is new: genres, moods, cast and directors are
unions, the longest overview wins, the rating with the most votes wins, popularity is the
maximum, and empty fields are filled. Re-ingesting the same item therefore changes nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields, replace
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg.rows import DictRow

from mediagw.common.embedding import content_text
from mediagw.ingestion.normalise import TYPE_FAMILY, NormalisedItem, title_key

MatchedBy = Literal["platform_id", "imdb", "title"]
IMDB = "imdb"
_MORE_SPECIFIC = {"movie": ("documentary", "special")}
"""A type may be refined by another platform's feed (MOVIE → documentary), never coarsened."""


@dataclass(frozen=True)
class ContentState:
    """The columns of ``content.content`` that ingestion owns."""

    type: str
    title: str
    normalized_title: str
    overview: str | None
    release_date: date | None
    release_year: int | None
    runtime_minutes: int | None
    genres: tuple[str, ...]
    moods: tuple[str, ...]
    cast_members: tuple[str, ...]
    directors: tuple[str, ...]
    rating: float | None
    rating_count: int
    popularity: float
    language: str | None

    @property
    def text(self) -> str:
        """What the title is embedded as (the shared recipe)."""
        return content_text(self.title, self.overview, self.genres, self.moods)

    @classmethod
    def from_item(cls, item: NormalisedItem) -> ContentState:
        return cls(
            type=item.type,
            title=item.title,
            normalized_title=item.normalized_title,
            overview=item.overview,
            release_date=item.release_date,
            release_year=item.release_date.year if item.release_date else item.release_year,
            runtime_minutes=item.runtime_minutes,
            genres=item.genres,
            moods=item.moods,
            cast_members=item.cast,
            directors=item.directors,
            rating=item.rating,
            rating_count=item.rating_count,
            popularity=item.popularity,
            language=item.language,
        )

    @classmethod
    def from_row(cls, row: DictRow) -> ContentState:
        rating = row["rating"]
        return cls(
            type=str(row["type"]),
            title=str(row["title"]),
            normalized_title=str(row["normalized_title"] or ""),
            overview=row["overview"],
            release_date=row["release_date"],
            release_year=row["release_year"],
            runtime_minutes=row["runtime_minutes"],
            genres=tuple(row["genres"]),
            moods=tuple(row["moods"]),
            cast_members=tuple(row["cast_members"]),
            directors=tuple(row["directors"]),
            rating=float(rating) if isinstance(rating, Decimal | float | int) else None,
            rating_count=int(row["rating_count"]),
            popularity=float(row["popularity"]),
            language=row["language"],
        )

    def columns(self) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("genres", "moods", "cast_members", "directors"):
            values[name] = list(values[name])
        return values


CHANGE_NAMES = {"cast_members": "cast"}
"""Column → the field name events use (``changed_fields``)."""
INTERNAL = frozenset({"normalized_title"})
"""Columns kept up to date but not reported as changes (they derive from others)."""


def _union(existing: tuple[str, ...], incoming: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*existing, *incoming)))


def merge(existing: ContentState, item: NormalisedItem) -> tuple[ContentState, list[str]]:
    """``existing`` enriched by ``item``, and the names of the fields that changed (the
    state may also differ in :data:`INTERNAL` columns, which are not reported)."""
    updates: dict[str, Any] = {
        "genres": _union(existing.genres, item.genres),
        "moods": _union(existing.moods, item.moods),
        "cast_members": _union(existing.cast_members, item.cast),
        "directors": _union(existing.directors, item.directors),
        "popularity": max(existing.popularity, item.popularity),
    }
    if item.type in _MORE_SPECIFIC.get(existing.type, ()):
        updates["type"] = item.type
    if item.overview and len(item.overview) > len(existing.overview or ""):
        updates["overview"] = item.overview
    if existing.release_date is None and item.release_date is not None:
        updates["release_date"] = item.release_date
        updates["release_year"] = item.release_date.year
    elif existing.release_year is None and item.release_year is not None:
        updates["release_year"] = item.release_year
    if existing.runtime_minutes is None and item.runtime_minutes is not None:
        updates["runtime_minutes"] = item.runtime_minutes
    if existing.language is None and item.language is not None:
        updates["language"] = item.language
    if item.rating is not None and (
        existing.rating is None or item.rating_count > existing.rating_count
    ):
        updates["rating"] = item.rating
        updates["rating_count"] = item.rating_count
    if existing.normalized_title != title_key(existing.title):  # a row written elsewhere
        updates["normalized_title"] = title_key(existing.title)
    merged = replace(existing, **updates)
    changed = [
        CHANGE_NAMES.get(f.name, f.name)
        for f in fields(ContentState)
        if getattr(merged, f.name) != getattr(existing, f.name) and f.name not in INTERNAL
    ]
    return merged, changed


def compatible(item: NormalisedItem, candidate: DictRow) -> bool:
    """Nothing about ``candidate`` (a content row) contradicts it being ``item``'s work."""
    directors = set(candidate["directors"] or ())
    if item.directors and directors and not directors & set(item.directors):
        return False
    runtime = candidate["runtime_minutes"]
    if item.runtime_minutes is not None and runtime is not None:
        tolerance = max(10, 0.15 * max(item.runtime_minutes, runtime))
        if abs(item.runtime_minutes - runtime) > tolerance:
            return False
    return True


def lock_keys(item: NormalisedItem) -> list[int]:
    """Advisory lock keys (sorted) for everything an item can be matched by: two items that
    could resolve to the same work are stored one after the other, never side by side."""
    names = [f"ext:{item.platform}:{item.platform_id}", f"title:{item.normalized_title}"]
    if item.imdb_id:
        names.append(f"ext:{IMDB}:{item.imdb_id}")
    keys = {
        int.from_bytes(hashlib.blake2b(n.encode(), digest_size=8).digest(), "big", signed=True)
        for n in names
    }
    return sorted(keys)


@dataclass(frozen=True)
class Match:
    content_id: str
    matched_by: MatchedBy
    row: DictRow


async def _content_row(conn: AsyncConnection[DictRow], content_id: str) -> DictRow:
    cursor = await conn.execute(
        "SELECT * FROM content.content WHERE id = %s FOR UPDATE", (content_id,)
    )
    row = await cursor.fetchone()
    assert row is not None, "an external id always points at an existing row (FK, cascade)"
    return row


_TITLE_CANDIDATES = """
SELECT c.id, c.release_year, c.runtime_minutes, c.directors
  FROM content.content c
 WHERE c.normalized_title = %(key)s
   AND c.type = ANY(%(types)s)
   AND (%(year)s::int IS NULL OR c.release_year IS NULL
        OR c.release_year BETWEEN %(year)s::int - 1 AND %(year)s::int + 1)
   AND NOT EXISTS (SELECT 1 FROM content.external_ids e
                    WHERE e.content_id = c.id AND e.platform = %(platform)s)
   AND (%(imdb)s::text IS NULL OR NOT EXISTS (
        SELECT 1 FROM content.external_ids e
         WHERE e.content_id = c.id AND e.platform = 'imdb' AND e.platform_id <> %(imdb)s))
 ORDER BY abs(coalesce(c.release_year, 0) - coalesce(%(year)s::int, c.release_year, 0)),
          c.created_at, c.id
 LIMIT 20
"""


async def resolve(conn: AsyncConnection[DictRow], item: NormalisedItem) -> Match | None:
    """The content this item is, locked for update; None for a work seen for the first time.

    Call inside the item's transaction, after taking :func:`lock_keys`.
    """
    # Both external ids in one round trip: the platform's own id wins over the IMDb id.
    cursor = await conn.execute(
        "SELECT platform, content_id FROM content.external_ids"
        " WHERE (platform = %s AND platform_id = %s) OR (platform = %s AND platform_id = %s)",
        (item.platform, item.platform_id, IMDB, item.imdb_id),
    )
    owners = {row["platform"]: str(row["content_id"]) for row in await cursor.fetchall()}
    by_id: tuple[tuple[str, MatchedBy], ...] = ((item.platform, "platform_id"), (IMDB, "imdb"))
    for platform, matched_by in by_id:
        if platform in owners:
            content_id = owners[platform]
            return Match(content_id, matched_by, await _content_row(conn, content_id))
    family = TYPE_FAMILY[item.type]
    cursor = await conn.execute(
        _TITLE_CANDIDATES,
        {
            "key": item.normalized_title,
            "types": [t for t, f in TYPE_FAMILY.items() if f == family],
            "year": item.release_year,
            "platform": item.platform,
            "imdb": item.imdb_id,
        },
    )
    for candidate in await cursor.fetchall():
        if compatible(item, candidate):
            content_id = str(candidate["id"])
            return Match(content_id, "title", await _content_row(conn, content_id))
    return None

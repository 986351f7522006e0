"""Content metadata the playback service needs, behind one interface.

:class:`ContentCatalog` is what routes depend on; :class:`PostgresContentCatalog` reads the
catalogue owned by ingestion (``content.content``, ``content.external_ids``,
``content.platforms``). Only platforms with a row in ``content.platforms`` count: an external
id from a catalogue such as imdb is not somewhere to watch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from mediagw.common.storage import Pool
from mediagw.playback.rules import DeepLink, Device, deep_link


@dataclass(frozen=True)
class PlatformEntry:
    platform: str
    name: str
    platform_id: str
    web_url_template: str | None
    app_url_template: str | None

    def link(self, device: Device) -> DeepLink:
        return deep_link(
            self.platform, self.platform_id, self.web_url_template, self.app_url_template, device
        )


@dataclass(frozen=True)
class ContentInfo:
    content_id: str
    title: str
    type: str
    duration_seconds: int | None
    platforms: tuple[PlatformEntry, ...] = field(default=())

    @property
    def platform_ids(self) -> list[str]:
        return [p.platform for p in self.platforms]

    def platform(self, name: str) -> PlatformEntry | None:
        return next((p for p in self.platforms if p.platform == name), None)


class ContentCatalog(Protocol):
    """Read-only title metadata: title, type, duration, platforms and deep-link templates."""

    async def get(self, content_id: str) -> ContentInfo | None: ...

    async def get_many(self, content_ids: Sequence[str]) -> dict[str, ContentInfo]: ...


_QUERY = """
SELECT c.id::text AS content_id, c.title, c.type, c.runtime_minutes,
       coalesce(
           (SELECT json_agg(json_build_object(
                       'platform', p.id, 'name', p.name, 'platform_id', x.platform_id,
                       'web', p.web_url_template, 'app', p.app_url_template)
                    ORDER BY p.id, x.platform_id)
              FROM content.external_ids x
              JOIN content.platforms p ON p.id = x.platform
             WHERE x.content_id = c.id),
           '[]'::json) AS platforms
  FROM content.content c
 WHERE c.id = ANY(%s::uuid[])
"""


class PostgresContentCatalog:
    """:class:`ContentCatalog` over the shared PostgreSQL catalogue."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    async def get(self, content_id: str) -> ContentInfo | None:
        return (await self.get_many([content_id])).get(content_id)

    async def get_many(self, content_ids: Sequence[str]) -> dict[str, ContentInfo]:
        if not content_ids:
            return {}
        async with self.pool.connection() as conn:
            cursor = await conn.execute(_QUERY, (list(content_ids),))
            rows = await cursor.fetchall()
        result: dict[str, ContentInfo] = {}
        for row in rows:
            seen: set[str] = set()
            entries = []
            for p in row["platforms"]:
                if p["platform"] in seen:  # several ids on one platform: the first wins
                    continue
                seen.add(p["platform"])
                entries.append(
                    PlatformEntry(p["platform"], p["name"], p["platform_id"], p["web"], p["app"])
                )
            runtime = row["runtime_minutes"]
            result[row["content_id"]] = ContentInfo(
                content_id=row["content_id"],
                title=row["title"],
                type=row["type"],
                duration_seconds=runtime * 60 if runtime else None,
                platforms=tuple(entries),
            )
        return result

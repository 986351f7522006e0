"""The discovery service's SQL: full-text search, filters, hydration, details, autocomplete.

Every query is parameterised (user text only ever travels as a bind parameter) and composed with
``psycopg.sql`` from fixed fragments. ``websearch_to_tsquery`` accepts any text without raising
(unbalanced quotes, operators, SQL-looking input are just words to it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from psycopg import AsyncConnection, sql
from psycopg.rows import DictRow

from mediagw.common.real_array import decode_real_array
from mediagw.discovery.query import Filters

Conn = AsyncConnection[DictRow]

AVAILABLE_NOW = sql.SQL(
    "(a.available_from IS NULL OR a.available_from <= now())"
    " AND (a.available_until IS NULL OR a.available_until > now())"
)
"""An offer counts while its window is open (offers outside it are neither shown nor matched)."""


def filter_clause(filters: Filters, region: str, params: dict[str, Any]) -> sql.Composable:
    """The WHERE conditions on ``content.content c`` for ``filters`` (fills ``params``)."""
    clauses: list[sql.Composable] = [sql.SQL("TRUE")]
    if filters.genres:
        clauses.append(sql.SQL("c.genres && %(f_genres)s::text[]"))
        params["f_genres"] = list(filters.genres)
    if filters.moods:
        clauses.append(sql.SQL("c.moods && %(f_moods)s::text[]"))
        params["f_moods"] = list(filters.moods)
    if filters.types:
        clauses.append(sql.SQL("c.type = ANY(%(f_types)s::text[])"))
        params["f_types"] = list(filters.types)
    if filters.year_from is not None:
        clauses.append(sql.SQL("c.release_year >= %(f_year_from)s"))
        params["f_year_from"] = filters.year_from
    if filters.year_to is not None:
        clauses.append(sql.SQL("c.release_year <= %(f_year_to)s"))
        params["f_year_to"] = filters.year_to
    if filters.rating_min is not None:
        clauses.append(sql.SQL("c.rating >= %(f_rating_min)s"))
        params["f_rating_min"] = filters.rating_min
    if filters.platforms:
        clauses.append(
            sql.SQL(
                "EXISTS (SELECT 1 FROM content.availability a WHERE a.content_id = c.id"
                " AND a.platform = ANY(%(f_platforms)s::text[]) AND a.region = %(f_region)s"
                " AND {})"
            ).format(AVAILABLE_NOW)
        )
        params["f_platforms"] = list(filters.platforms)
        params["f_region"] = region
    return sql.SQL(" AND ").join(clauses)


async def fulltext(conn: Conn, text: str, filters: Filters, region: str, limit: int) -> list[str]:
    """Titles matching ``text`` (title weighs most, then overview, then people/genres/moods),
    best ``ts_rank`` first; preferred moods lift a match by half."""
    params: dict[str, Any] = {
        "text": text,
        "prefer": list(filters.prefer_moods),
        "limit": limit,
    }
    where = filter_clause(filters, region, params)
    query = sql.SQL(
        "SELECT c.id::text AS id"
        " FROM content.content c, websearch_to_tsquery('english', %(text)s) AS q"
        " WHERE c.search @@ q AND {where}"
        " ORDER BY ts_rank(c.search, q) * (1 + 0.5 * (c.moods && %(prefer)s::text[])::int) DESC,"
        " c.popularity DESC, c.id"
        " LIMIT %(limit)s"
    ).format(where=where)
    cursor = await conn.execute(query, params)
    return [str(row["id"]) for row in await cursor.fetchall()]


async def browse(conn: Conn, filters: Filters, region: str, limit: int) -> list[str]:
    """The filtered catalogue, preferred moods first, then by popularity (a query that was all
    filters — "funny sci-fi from the 90s" — has no words left to match)."""
    params: dict[str, Any] = {"prefer": list(filters.prefer_moods), "limit": limit}
    where = filter_clause(filters, region, params)
    query = sql.SQL(
        "SELECT c.id::text AS id FROM content.content c WHERE {where}"
        " ORDER BY (c.moods && %(prefer)s::text[]) DESC, c.popularity DESC, c.id"
        " LIMIT %(limit)s"
    ).format(where=where)
    cursor = await conn.execute(query, params)
    return [str(row["id"]) for row in await cursor.fetchall()]


async def matching_ids(conn: Conn, filters: Filters, region: str, limit: int) -> list[str]:
    """Up to ``limit`` ids of titles passing ``filters`` (in no particular order)."""
    params: dict[str, Any] = {"limit": limit}
    where = filter_clause(filters, region, params)
    query = sql.SQL("SELECT c.id::text AS id FROM content.content c WHERE {} LIMIT %(limit)s")
    cursor = await conn.execute(query.format(where), params)
    return [str(row["id"]) for row in await cursor.fetchall()]


async def available_on(
    conn: Conn, ids: Sequence[str], platforms: Sequence[str], region: str
) -> set[str]:
    """Which of ``ids`` have an open offer on one of ``platforms`` in ``region``."""
    if not ids:
        return set()
    cursor = await conn.execute(
        sql.SQL(
            "SELECT DISTINCT a.content_id::text AS id FROM content.availability a"
            " WHERE a.content_id = ANY(%(ids)s::uuid[]) AND a.platform = ANY(%(platforms)s)"
            " AND a.region = %(region)s AND {}"
        ).format(AVAILABLE_NOW),
        {"ids": list(ids), "platforms": list(platforms), "region": region},
    )
    return {str(row["id"]) for row in await cursor.fetchall()}


_OFFERS = sql.SQL(
    "SELECT coalesce(json_agg(json_build_object("
    " 'platform', a.platform, 'platform_name', p.name, 'region', a.region,"
    " 'offer_type', a.offer_type, 'price', a.price, 'currency', a.currency,"
    " 'deep_link', a.deep_link, 'available_from', a.available_from,"
    " 'available_until', a.available_until, 'web_template', p.web_url_template,"
    " 'app_template', p.app_url_template, 'platform_id', x.platform_id)"
    " ORDER BY a.platform, a.region, a.offer_type), '[]'::json)"
    " FROM content.availability a"
    " JOIN content.platforms p ON p.id = a.platform"
    " LEFT JOIN LATERAL (SELECT e.platform_id FROM content.external_ids e"
    "   WHERE e.content_id = a.content_id AND e.platform = a.platform"
    "   ORDER BY e.created_at, e.platform_id LIMIT 1) x ON TRUE"
    " WHERE a.content_id = c.id AND {region} AND {now}"
)


def _offers_subquery(region: str | None, params: dict[str, Any]) -> sql.Composable:
    if region is None:
        region_clause: sql.Composable = sql.SQL("TRUE")
    else:
        region_clause = sql.SQL("a.region = %(region)s")
        params["region"] = region
    return _OFFERS.format(region=region_clause, now=AVAILABLE_NOW)


def link(template: str | None, platform_id: str | None) -> str | None:
    """A platform's deep-link template filled with the title's id on that platform."""
    if not template or not platform_id:
        return None
    return template.replace("{platform_id}", quote(platform_id, safe=""))


def offer(raw: dict[str, Any]) -> dict[str, Any]:
    """An availability row (from ``_OFFERS``) with its deep links resolved."""
    platform_id = raw.get("platform_id")
    return {
        "platform": raw["platform"],
        "platform_name": raw["platform_name"],
        "region": str(raw["region"]).strip(),
        "offer_type": raw["offer_type"],
        "price": raw["price"],
        "currency": raw["currency"].strip() if raw["currency"] else None,
        "deep_link": raw["deep_link"] or link(raw["web_template"], platform_id),
        "app_link": link(raw["app_template"], platform_id),
        "available_from": raw["available_from"],
        "available_until": raw["available_until"],
    }


async def hydrate(conn: Conn, ids: Sequence[str], region: str) -> dict[str, DictRow]:
    """The listed titles with their open offers in ``region``; ids that no longer exist are
    simply absent from the answer."""
    if not ids:
        return {}
    params: dict[str, Any] = {"ids": list(ids)}
    offers = _offers_subquery(region, params)
    cursor = await conn.execute(
        sql.SQL(
            "SELECT c.id::text AS id, c.title, c.type, c.release_year, c.overview, c.genres,"
            " c.moods, c.rating::float8 AS rating, c.popularity, ({offers}) AS offers"
            " FROM content.content c WHERE c.id = ANY(%(ids)s::uuid[])"
        ).format(offers=offers),
        params,
    )
    return {str(row["id"]): row for row in await cursor.fetchall()}


async def details(conn: Conn, content_id: str, region: str | None) -> DictRow | None:
    params: dict[str, Any] = {"id": content_id}
    offers = _offers_subquery(region, params)
    cursor = await conn.execute(
        sql.SQL(
            "SELECT c.id::text AS id, c.type, c.title, c.original_title, c.overview,"
            " c.release_date, c.release_year, c.runtime_minutes, c.genres, c.moods,"
            " c.cast_members, c.directors, c.rating::float8 AS rating, c.rating_count,"
            " c.popularity, c.language, c.series_id::text AS series_id, c.season_number,"
            " c.episode_number, c.updated_at, ({offers}) AS offers,"
            " (SELECT coalesce(json_agg(json_build_object('platform', e.platform,"
            "   'platform_id', e.platform_id) ORDER BY e.platform, e.platform_id), '[]'::json)"
            "  FROM content.external_ids e WHERE e.content_id = c.id) AS external_ids,"
            " (SELECT coalesce(json_agg(json_build_object('platform', p.id, 'platform_name',"
            "   p.name, 'web_template', p.web_url_template, 'app_template', p.app_url_template,"
            "   'platform_id', (SELECT e.platform_id FROM content.external_ids e"
            "     WHERE e.content_id = c.id AND e.platform = p.id"
            "     ORDER BY e.created_at, e.platform_id LIMIT 1),"
            "   'deep_link', (SELECT a.deep_link FROM content.availability a"
            "     WHERE a.content_id = c.id AND a.platform = p.id AND a.deep_link IS NOT NULL"
            "     ORDER BY a.region = 'US' DESC, a.region LIMIT 1)) ORDER BY p.id), '[]'::json)"
            "  FROM content.platforms p WHERE p.id IN (SELECT a.platform FROM"
            "   content.availability a WHERE a.content_id = c.id)) AS platforms"
            " FROM content.content c WHERE c.id = %(id)s::uuid"
        ).format(offers=offers),
        params,
    )
    return await cursor.fetchone()


async def trigram_schema(conn: Conn) -> str:
    """Where pg_trgm lives (migration 004 installs it in ``content`` unless it already was)."""
    cursor = await conn.execute(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
        " WHERE e.extname = 'pg_trgm'"
    )
    row = await cursor.fetchone()
    if row is None:
        raise RuntimeError("the pg_trgm extension is missing (migration 004 installs it)")
    return str(row["nspname"])


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def autocomplete(conn: Conn, trgm: str, text: str, limit: int) -> list[DictRow]:
    """Titles starting with ``text``, then titles with a word starting with it, then fuzzy
    (trigram word-similarity) matches; most popular first within each tier."""
    needle = " ".join(text.lower().split())
    schema = sql.Identifier(trgm)
    query = sql.SQL(
        "SELECT id, title, type, release_year, popularity FROM ("
        " SELECT c.id::text AS id, c.title, c.type, c.release_year, c.popularity,"
        "  CASE WHEN lower(c.title) LIKE %(prefix)s THEN 0"
        "       WHEN lower(c.title) LIKE %(word)s THEN 1 ELSE 2 END AS tier,"
        "  {schema}.word_similarity(%(needle)s, lower(c.title)) AS similarity"
        " FROM content.content c"
        " WHERE lower(c.title) LIKE %(prefix)s OR lower(c.title) LIKE %(word)s"
        "  OR %(needle)s OPERATOR({schema}.<%%) lower(c.title)"
        ") m ORDER BY tier, CASE WHEN tier = 2 THEN -similarity ELSE 0 END, popularity DESC, id"
        " LIMIT %(limit)s"
    ).format(schema=schema)
    escaped = _like_escape(needle)
    cursor = await conn.execute(
        query,
        {"prefix": f"{escaped}%", "word": f"% {escaped}%", "needle": needle, "limit": limit},
    )
    return await cursor.fetchall()


async def platforms(conn: Conn) -> list[DictRow]:
    cursor = await conn.execute(
        sql.SQL(
            "SELECT p.id, p.name, p.web_url_template, p.app_url_template,"
            " (SELECT count(DISTINCT a.content_id) FROM content.availability a"
            "  WHERE a.platform = p.id AND {}) AS content_count"
            " FROM content.platforms p ORDER BY p.name, p.id"
        ).format(AVAILABLE_NOW)
    )
    return await cursor.fetchall()


async def facet_counts(conn: Conn, column: str) -> dict[str, int]:
    """How many titles carry each genre (``column="genres"``) or mood (``"moods"``)."""
    if column not in {"genres", "moods"}:
        raise ValueError(column)
    cursor = await conn.execute(
        sql.SQL(
            "SELECT value, count(*) AS n FROM content.content c, unnest(c.{}) AS value"
            " GROUP BY value"
        ).format(sql.Identifier(column))
    )
    return {str(row["value"]): int(row["n"]) for row in await cursor.fetchall()}


async def exists(conn: Conn, content_id: str) -> bool:
    cursor = await conn.execute("SELECT 1 FROM content.content WHERE id = %s::uuid", (content_id,))
    return await cursor.fetchone() is not None


async def stored_vector(conn: Conn, content_id: str, model: str) -> list[float] | None:
    cursor = await conn.execute(
        "SELECT array_send(vector) AS vector FROM content.embeddings"
        " WHERE content_id = %s::uuid AND model = %s",
        (content_id, model),
    )
    row = await cursor.fetchone()
    vector = decode_real_array(row["vector"]) if row else None
    return None if vector is None else list(vector.tolist())


async def same_genres(conn: Conn, content_id: str, limit: int) -> list[str]:
    """Titles sharing the most genres with ``content_id`` (when it has no vector yet)."""
    cursor = await conn.execute(
        "SELECT o.id::text AS id FROM content.content c JOIN content.content o"
        " ON o.id <> c.id AND o.genres && c.genres WHERE c.id = %s::uuid"
        " ORDER BY cardinality(ARRAY(SELECT unnest(o.genres) INTERSECT"
        "   SELECT unnest(c.genres))) DESC, o.popularity DESC, o.id LIMIT %s",
        (content_id, limit),
    )
    return [str(row["id"]) for row in await cursor.fetchall()]

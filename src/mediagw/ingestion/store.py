"""Writing one resolved item, in one transaction: content, external ids, availability,
embedding, and the outbox rows of the events it causes.

Everything an item changes commits together with its events, or nothing does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import numpy as np
from psycopg import AsyncConnection
from psycopg.rows import DictRow

from mediagw.common.embedding import Embedder
from mediagw.common.events import (
    AvailabilityChanged,
    ContentIngested,
    ContentUpdated,
    Event,
    Strict,
)
from mediagw.common.real_array import RealArray
from mediagw.ingestion.normalise import NormalisedItem, Offer
from mediagw.ingestion.producer import Topics
from mediagw.ingestion.resolve import IMDB, ContentState, Match, lock_keys, merge, resolve

log = logging.getLogger("mediagw.ingestion.store")

ItemResult = Literal["new", "merged", "updated", "unchanged"]
Vectors = dict[str, np.ndarray]
"""Embeddings computed ahead (in a batch) by content text."""


@dataclass(frozen=True)
class Platform:
    id: str
    name: str
    web_url_template: str | None
    app_url_template: str | None

    def deep_link(self, platform_id: str) -> str | None:
        if not self.web_url_template:
            return None
        return self.web_url_template.replace("{platform_id}", platform_id)


@dataclass
class ItemOutcome:
    content_id: str
    result: ItemResult
    matched_by: str | None
    changed_fields: list[str] = field(default_factory=list)
    events: int = 0
    availability_changes: int = 0


# --- platforms -------------------------------------------------------------------------------


def read_platforms_file(path: Path) -> list[Platform]:
    """``platforms.json``: a list of {id, name, web_url_template, app_url_template, …}."""
    document = json.loads(path.read_text())
    entries = document.get("platforms") if isinstance(document, dict) else document
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a list of platforms")
    platforms = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise ValueError(f"{path}: every platform needs an 'id'")
        platforms.append(
            Platform(
                id=entry["id"],
                name=str(entry.get("name") or entry["id"]),
                web_url_template=entry.get("web_url_template"),
                app_url_template=entry.get("app_url_template"),
            )
        )
    return platforms


async def upsert_platforms(conn: AsyncConnection[DictRow], platforms: Sequence[Platform]) -> None:
    async with conn.cursor() as cursor:
        await cursor.executemany(
            """INSERT INTO content.platforms (id, name, web_url_template, app_url_template)
               VALUES (%s, %s, %s, %s)
               ON CONFLICT (id) DO UPDATE
                  SET name = excluded.name,
                      web_url_template = excluded.web_url_template,
                      app_url_template = excluded.app_url_template,
                      updated_at = now()
                WHERE (content.platforms.name, content.platforms.web_url_template,
                       content.platforms.app_url_template)
                      IS DISTINCT FROM (excluded.name, excluded.web_url_template,
                                        excluded.app_url_template)""",
            [(p.id, p.name, p.web_url_template, p.app_url_template) for p in platforms],
        )


async def load_platforms(conn: AsyncConnection[DictRow]) -> dict[str, Platform]:
    cursor = await conn.execute(
        "SELECT id, name, web_url_template, app_url_template FROM content.platforms"
    )
    return {
        row["id"]: Platform(
            row["id"], row["name"], row["web_url_template"], row["app_url_template"]
        )
        for row in await cursor.fetchall()
    }


# --- the item transaction --------------------------------------------------------------------


@dataclass(frozen=True)
class StoreContext:
    """What storing an item needs besides the item."""

    run_id: str | None
    platform: Platform
    embedder: Embedder
    topics: Topics


_OFFER_COLUMNS = ("price", "currency", "deep_link", "available_from", "available_until")


def _offer_values(offer: Offer, platform: Platform, platform_id: str) -> dict[str, Any]:
    return {
        "price": offer.price,
        "currency": offer.currency,
        "deep_link": offer.deep_link or platform.deep_link(platform_id),
        "available_from": offer.available_from,
        "available_until": offer.available_until,
    }


def _same_offer(row: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    for column in _OFFER_COLUMNS:
        stored, incoming = row[column], values[column]
        if isinstance(stored, str):
            stored = stored.strip()  # char(3) comes back padded only if shorter: be safe
        if isinstance(stored, Decimal) and isinstance(incoming, Decimal):
            if stored.compare(incoming) != 0:
                return False
        elif stored != incoming:
            return False
    return True


async def _insert_content(conn: AsyncConnection[DictRow], state: ContentState) -> str:
    """The new content's id is made here (a random UUID, as the column's default would be),
    so the insert needs no round trip of its own in pipeline mode."""
    columns = {"id": str(uuid.uuid4()), **state.columns()}
    names = ", ".join(columns)
    placeholders = ", ".join(f"%({c})s" for c in columns)
    await conn.execute(
        f"INSERT INTO content.content ({names}) VALUES ({placeholders})",  # noqa: S608 — column names from the dataclass, values bound
        columns,
    )
    return str(columns["id"])


async def _update_content(
    conn: AsyncConnection[DictRow], content_id: str, state: ContentState
) -> None:
    columns = state.columns()
    assignments = ", ".join(f"{c} = %({c})s" for c in columns)
    await conn.execute(
        f"UPDATE content.content SET {assignments}, updated_at = now() WHERE id = %(id)s",  # noqa: S608 — column names from the dataclass, values bound
        {**columns, "id": content_id},
    )


_LINK = """INSERT INTO content.external_ids (platform, platform_id, content_id)
           VALUES (%s, %s, %s) ON CONFLICT (platform, platform_id) DO NOTHING"""


async def _link_ids(
    conn: AsyncConnection[DictRow], content_id: str, item: NormalisedItem, *, created: bool
) -> bool:
    """Store the item's external ids; True when its platform is new for this content (always,
    for content this item has just ``created``)."""
    platform_is_new = True
    if not created:
        cursor = await conn.execute(
            "SELECT 1 FROM content.external_ids WHERE content_id = %s AND platform = %s LIMIT 1",
            (content_id, item.platform),
        )
        platform_is_new = await cursor.fetchone() is None
    await conn.execute(_LINK, (item.platform, item.platform_id, content_id))
    if not item.imdb_id:
        return platform_is_new
    if created:
        # Resolution found no owner of the IMDb id, under its lock: nothing to read back, so
        # no round trip in pipeline mode.
        await conn.execute(_LINK, (IMDB, item.imdb_id, content_id))
        return platform_is_new
    cursor = await conn.execute(_LINK + " RETURNING content_id", (IMDB, item.imdb_id, content_id))
    if await cursor.fetchone() is None:
        owner = await conn.execute(
            "SELECT content_id FROM content.external_ids WHERE platform = %s AND platform_id = %s",
            (IMDB, item.imdb_id),
        )
        row = await owner.fetchone()
        if row is not None and str(row["content_id"]) != content_id:
            log.warning(
                "%s %s claims %s, which belongs to content %s; not linked",
                item.platform,
                item.platform_id,
                item.imdb_id,
                row["content_id"],
            )
    return platform_is_new


async def _sync_availability(
    conn: AsyncConnection[DictRow],
    content_id: str,
    item: NormalisedItem,
    platform: Platform,
    *,
    created: bool,
) -> list[AvailabilityChanged]:
    """Make the content's offers on this platform those of the item; the changes made
    (content the item has just ``created`` has none stored yet)."""
    stored: dict[tuple[Any, Any], DictRow] = {}
    if not created:
        cursor = await conn.execute(
            """SELECT id, region, offer_type, price, currency, deep_link, available_from,
                      available_until
                 FROM content.availability WHERE content_id = %s AND platform = %s FOR UPDATE""",
            (content_id, item.platform),
        )
        stored = {(row["region"], row["offer_type"]): row for row in await cursor.fetchall()}
    changes: list[AvailabilityChanged] = []
    for offer in item.offers:
        values = _offer_values(offer, platform, item.platform_id)
        row = stored.pop(offer.key, None)
        if row is None:
            await conn.execute(
                """INSERT INTO content.availability
                       (content_id, platform, region, offer_type, price, currency, deep_link,
                        available_from, available_until)
                   VALUES (%(content_id)s, %(platform)s, %(region)s, %(offer_type)s, %(price)s,
                           %(currency)s, %(deep_link)s, %(available_from)s,
                           %(available_until)s)""",
                {
                    **values,
                    "content_id": content_id,
                    "platform": item.platform,
                    "region": offer.region,
                    "offer_type": offer.offer_type,
                },
            )
            change = "added"
        elif not _same_offer(row, values):
            await conn.execute(
                """UPDATE content.availability
                      SET price = %(price)s, currency = %(currency)s, deep_link = %(deep_link)s,
                          available_from = %(available_from)s,
                          available_until = %(available_until)s, updated_at = now()
                    WHERE id = %(id)s""",
                {**values, "id": row["id"]},
            )
            change = "updated"
        else:
            continue
        changes.append(
            AvailabilityChanged(
                content_id=content_id,
                platform=item.platform,
                region=offer.region,
                offer_type=offer.offer_type,
                change=change,  # type: ignore[arg-type]  # "added" | "updated"
                available_from=offer.available_from,
                available_until=offer.available_until,
            )
        )
    for (region, offer_type), row in sorted(stored.items()):
        await conn.execute("DELETE FROM content.availability WHERE id = %s", (row["id"],))
        changes.append(
            AvailabilityChanged(
                content_id=content_id,
                platform=item.platform,
                region=str(region),
                offer_type=offer_type,
                change="removed",
                available_from=row["available_from"],
                available_until=row["available_until"],
            )
        )
    return changes


async def _store_embedding(
    conn: AsyncConnection[DictRow],
    content_id: str,
    state: ContentState,
    *,
    text_changed: bool,
    embedder: Embedder,
    vectors: Vectors,
) -> bool:
    """Embed the content when its text changed or its vector is missing or from another
    model; True when a vector was written."""
    if not text_changed:
        cursor = await conn.execute(
            "SELECT model, dim FROM content.embeddings WHERE content_id = %s", (content_id,)
        )
        row = await cursor.fetchone()
        if row is not None and row["model"] == embedder.name and row["dim"] == embedder.dim:
            return False
    text = state.text
    vector = vectors.get(text)
    if vector is None:  # not predicted by the batch (merged text differs): embed it alone
        matrix = await asyncio.to_thread(embedder.embed, [text])
        vector = matrix[0]
        vectors[text] = vector
    await conn.execute(
        """INSERT INTO content.embeddings (content_id, model, dim, vector)
           VALUES (%s, %s, %s, %s)
           ON CONFLICT (content_id) DO UPDATE
              SET model = excluded.model, dim = excluded.dim, vector = excluded.vector,
                  updated_at = now()""",
        (content_id, embedder.name, len(vector), RealArray(vector)),
    )
    return True


async def enqueue(
    conn: AsyncConnection[DictRow],
    run_id: str | None,
    topics: Topics,
    key: str,
    payloads: Sequence[Strict],
) -> int:
    """Insert the events of ``payloads`` (keyed by ``key``) into the outbox, in order."""
    if not payloads:
        return 0
    events = [Event.of(payload, key) for payload in payloads]
    async with conn.cursor() as cursor:
        await cursor.executemany(
            """INSERT INTO ingestion.outbox (event_id, run_id, topic, event_type, key, payload,
                                             schema_version, occurred_at, created_at)
               VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, %s, clock_timestamp())""",
            [
                (
                    e.event_id,
                    run_id,
                    topics.name(e.type),
                    e.type,
                    e.key,
                    json.dumps(e.payload),
                    e.schema_version,
                    e.occurred_at,
                )
                for e in events
            ],
        )
    if run_id is not None:
        await conn.execute(
            "UPDATE ingestion.runs SET events_pending = events_pending + %s, updated_at = now() "
            "WHERE id = %s",
            (len(events), run_id),
        )
    return len(events)


async def store_item(
    conn: AsyncConnection[DictRow], item: NormalisedItem, ctx: StoreContext, vectors: Vectors
) -> ItemOutcome:
    """Resolve and write one item, with its events. Call inside a transaction."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) WITH ORDINALITY AS t(k, i)"
        " ORDER BY i",
        (lock_keys(item),),
    )
    match: Match | None = await resolve(conn, item)
    if match is None:
        state = ContentState.from_item(item)
        content_id = await _insert_content(conn, state)
        changed = ["created"]
        text_changed = True
    else:
        content_id = match.content_id
        existing = ContentState.from_row(match.row)
        state, changed = merge(existing, item)
        if state != existing:
            await _update_content(conn, content_id, state)
        text_changed = state.text != existing.text
    platform_is_new = await _link_ids(conn, content_id, item, created=match is None)
    availability = await _sync_availability(
        conn, content_id, item, ctx.platform, created=match is None
    )
    await _store_embedding(
        conn,
        content_id,
        state,
        text_changed=text_changed,
        embedder=ctx.embedder,
        vectors=vectors,
    )
    payloads: list[Strict] = []
    if match is None:
        result: ItemResult = "new"
        payloads.append(
            ContentIngested(
                content_id=content_id,
                title=state.title,
                type=state.type,
                release_year=state.release_year,
                genres=list(state.genres),
                # Content made by this item has its ids and offers on one platform only.
                platforms=[item.platform],
                source_platform=item.platform,
            )
        )
    else:
        if platform_is_new:
            changed = [*changed, "platforms"]
        if match.matched_by == "platform_id":
            result = "updated" if changed or availability else "unchanged"
        else:
            result = "merged"
        if changed:
            payloads.append(
                ContentUpdated(
                    content_id=content_id, changed_fields=changed, source_platform=item.platform
                )
            )
    payloads.extend(availability)
    events = await enqueue(conn, ctx.run_id, ctx.topics, content_id, payloads)
    return ItemOutcome(
        content_id=content_id,
        result=result,
        matched_by=match.matched_by if match else None,
        changed_fields=[] if match is None else changed,
        events=events,
        availability_changes=len(availability),
    )

"""Ingestion events counted end to end: produced, delivered, consumed, duplicates, lost.

Produced and delivered come from the transactional outbox of the launched stack (a row is an
event the catalogue change committed; ``sent_at`` is set on the broker's delivery report).
Consumed is what a deduplicating consumer — this module, keyed on ``event_id`` — reads back
from the topics; duplicates are the repeats it dropped (delivery is at least once). An event
is lost when it was produced but never reached the consumer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg

from harness.topics import consume

DEAD_LETTER_FROM = "9999-01-01"
"""The relay parks a dead letter at 9999-12-31; anything scheduled after this is one."""


@dataclass(frozen=True)
class EventTally:
    produced: int
    delivered: int
    consumed: int
    duplicates: int
    dead_letters: int
    lost: int
    pending: int
    """Produced but not delivered when the tally gave up waiting (expected 0)."""


def _outbox(database_url: str) -> tuple[dict[str, str], int, int]:
    """event id → topic of every outbox row; how many are delivered; how many dead."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT event_id::text, topic, sent_at IS NOT NULL,"
            " next_attempt_at >= %s::timestamptz FROM ingestion.outbox",
            (DEAD_LETTER_FROM,),
        ).fetchall()
    topics = {event_id: topic for event_id, topic, _, _ in rows}
    return topics, sum(1 for r in rows if r[2]), sum(1 for r in rows if r[3] and not r[2])


def tally(database_url: str, bootstrap: str, settle: float = 90.0) -> EventTally:
    """Wait (up to ``settle`` s) for the outbox to drain, then read every topic back."""
    deadline = time.monotonic() + settle
    while True:
        topics, delivered, dead = _outbox(database_url)
        pending = len(topics) - delivered - dead
        if pending == 0 or time.monotonic() >= deadline:
            break
        time.sleep(1.0)
    names = sorted(set(topics.values()))
    messages = consume(bootstrap, names, expected=delivered, quiet=3.0, within=120) if names else []
    ids = [str(m["value"].get("event_id")) for m in messages]
    seen = set(ids)
    return EventTally(
        produced=len(topics),
        delivered=delivered,
        consumed=len(seen & topics.keys()),
        duplicates=len(ids) - len(seen),
        dead_letters=dead,
        lost=len(topics.keys() - seen),
        pending=pending,
    )

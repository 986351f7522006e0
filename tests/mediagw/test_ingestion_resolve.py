"""Entity resolution keys and merge rules, and the outbox relay's pure parts."""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest

from harness import catalogue
from mediagw.common.events import Event
from mediagw.ingestion.normalise import TYPE_FAMILY, NormalisedItem, normalise_item, title_key
from mediagw.ingestion.producer import Delivery, Outgoing
from mediagw.ingestion.relay import backoff, outgoing
from mediagw.ingestion.resolve import ContentState, compatible, lock_keys, merge

pytestmark = pytest.mark.unit


def item(**changes: Any) -> NormalisedItem:
    base = NormalisedItem(
        platform="netflix",
        platform_id="ne-1",
        title="The Last Orbit",
        normalized_title="last orbit",
        type="movie",
        overview="A lone astronaut drifts.",
        release_year=1994,
        release_date=None,
        runtime_minutes=120,
        genres=("sci-fi",),
        moods=("thoughtful",),
        cast=("Iris Garcia",),
        directors=("Maya Bishop",),
        rating=6.8,
        rating_count=100,
        popularity=5.0,
        language="en",
        imdb_id=None,
        offers=(),
    )
    return replace(base, **changes)


@pytest.mark.parametrize(
    "title",
    [
        "The Last Orbit",
        "Last Orbit, The",
        "Last Orbit, The (1994)",
        "THE LAST ORBIT",
        "last orbit!",
        "The  Last-Orbit",
        "A Last Orbit",
    ],
)
def test_spellings_of_one_title_share_the_resolution_key(title: str) -> None:
    assert title_key(title) == "last orbit"


def test_resolution_keys_fold_accents_ampersands_and_apostrophes() -> None:
    assert title_key("Amélie & the Crêpes") == title_key("Amelie and Crepes") == "amelie and crepes"
    assert title_key("The Blacksmith's Daughter") == title_key("Blacksmiths Daughter")
    assert title_key("The Kiss II") != title_key("The Kiss 2"), "sequels stay apart"
    assert title_key("The") == "the", "a title made only of an article keeps it"


def test_merge_adds_what_is_new_and_keeps_the_richest() -> None:
    existing = ContentState.from_item(item())
    incoming = item(
        platform="prime",
        type="documentary",
        overview="A lone astronaut drifts, far from home, for a very long time.",
        release_date=date(1994, 10, 16),
        genres=("sci-fi", "drama"),
        moods=("epic",),
        cast=("Leo Rossi", "Iris Garcia"),
        rating=7.4,
        rating_count=900,
        popularity=2.0,
    )
    merged, changed = merge(existing, incoming)
    assert merged.type == "documentary"
    assert merged.overview == incoming.overview
    assert merged.release_date == date(1994, 10, 16)
    assert merged.genres == ("sci-fi", "drama")
    assert merged.moods == ("thoughtful", "epic")
    assert merged.cast_members == ("Iris Garcia", "Leo Rossi")
    assert (merged.rating, merged.rating_count) == (7.4, 900)
    assert merged.popularity == 5.0, "the maximum"
    assert changed == [
        "type",
        "overview",
        "release_date",
        "genres",
        "moods",
        "cast",
        "rating",
        "rating_count",
    ]


def test_merge_never_coarsens_or_shortens_and_is_idempotent() -> None:
    existing = ContentState.from_item(item(type="documentary", rating_count=900))
    poorer = item(type="movie", overview="Short.", rating=2.0, rating_count=10, popularity=1.0)
    merged, changed = merge(existing, poorer)
    assert (merged, changed) == (existing, [])
    once, _ = merge(existing, item(genres=("drama",)))
    twice, changed_again = merge(once, item(genres=("drama",)))
    assert (twice, changed_again) == (once, [])


def test_contradicting_directors_or_runtime_rule_out_a_title_match() -> None:
    candidate = {"directors": ["Maya Bishop"], "runtime_minutes": 120}
    assert compatible(item(), candidate)
    assert compatible(item(directors=()), candidate), "nothing to contradict"
    assert compatible(item(runtime_minutes=128), candidate), "a different cut"
    assert not compatible(item(directors=("Ben Castillo",)), candidate)
    assert not compatible(item(runtime_minutes=95), candidate)


def test_lock_keys_are_stable_sorted_and_cover_every_matching_key() -> None:
    keys = lock_keys(item(imdb_id="tt9000001"))
    assert keys == sorted(keys) == lock_keys(item(imdb_id="tt9000001"))
    assert len(keys) == 3
    same_title_elsewhere = lock_keys(item(platform="prime", platform_id="pr-1"))
    assert set(keys) & set(same_title_elsewhere), "two platforms' items of one title serialise"


def test_the_keys_resolve_the_generated_catalogue_to_its_truth() -> None:
    """The resolution rules (platform id, IMDb id, title key ± year with no contradiction) run
    over all six generated feeds in memory: every work ends as exactly one title."""
    directory = catalogue.default_directory()
    truth = json.loads((directory / "truth.json").read_text())
    titles: list[dict[str, Any]] = []
    by_id: dict[tuple[str, str], int] = {}
    for platform in catalogue.PLATFORMS:
        feed = json.loads((directory / "feeds" / f"{platform.id}.json").read_text())
        for raw in feed["items"]:
            it = normalise_item(raw, platform.id)
            found = by_id.get((it.platform, it.platform_id))
            if found is None and it.imdb_id:
                found = by_id.get(("imdb", it.imdb_id))
            if found is None:
                found = next(
                    (
                        n
                        for n, t in enumerate(titles)
                        if t["key"] == it.normalized_title
                        and t["family"] == TYPE_FAMILY[it.type]
                        and abs(t["year"] - (it.release_year or 0)) <= 1
                        and it.platform not in t["platforms"]
                        and not (it.imdb_id and t["imdb"] and t["imdb"] != it.imdb_id)
                        and compatible(it, t)
                    ),
                    None,
                )
            if found is None:
                titles.append(
                    {
                        "key": it.normalized_title,
                        "family": TYPE_FAMILY[it.type],
                        "year": it.release_year,
                        "imdb": None,
                        "platforms": set(),
                        "directors": list(it.directors),
                        "runtime_minutes": it.runtime_minutes,
                    }
                )
                found = len(titles) - 1
            title = titles[found]
            title["platforms"].add(it.platform)
            title["directors"] = list(dict.fromkeys([*title["directors"], *it.directors]))
            if it.imdb_id and not title["imdb"]:
                title["imdb"] = it.imdb_id
                by_id[("imdb", it.imdb_id)] = found
            by_id[(it.platform, it.platform_id)] = found
    assert len(titles) == len(truth)
    for work in truth:
        assert len({by_id[key] for key in work["platform_ids"].items()}) == 1, work


def test_backoff_is_exponential_with_full_jitter() -> None:
    rng = random.Random(7)
    for attempts, ceiling in ((1, 0.5), (2, 1.0), (3, 2.0), (6, 16.0), (12, 60.0), (99, 60.0)):
        delays = [backoff(attempts, 0.5, 60.0, rng) for _ in range(300)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.9, "full jitter spans the whole range"
        assert min(delays) < ceiling * 0.1


def outbox_row(**changes: Any) -> dict[str, Any]:
    content_id = str(uuid.uuid4())
    row = {
        "event_id": uuid.uuid4(),
        "topic": "t.content.updated",
        "event_type": "content.updated",
        "key": content_id,
        "payload": {
            "content_id": content_id,
            "changed_fields": ["overview"],
            "source_platform": "netflix",
        },
        "schema_version": 1,
        "occurred_at": datetime(2025, 1, 1, tzinfo=UTC),
    }
    return {**row, **changes}


def test_an_outbox_row_becomes_a_validated_envelope() -> None:
    row = outbox_row()
    message = outgoing(row)
    assert isinstance(message, Outgoing)
    assert (message.event_id, message.topic, message.key) == (
        str(row["event_id"]),
        "t.content.updated",
        row["key"],
    )
    event = Event.model_validate_json(message.value)
    assert event.payload == row["payload"]
    assert event.occurred_at == row["occurred_at"]


@pytest.mark.parametrize(
    "changes",
    [
        {"payload": {"content_id": "x", "changed_fields": [], "source_platform": "netflix"}},
        {"payload": {"content_id": "x", "source_platform": "netflix", "extra": 1}},
        {"event_type": "content.deleted"},
    ],
)
def test_an_invalid_outbox_row_is_a_permanent_failure(changes: dict[str, Any]) -> None:
    result = outgoing(outbox_row(**changes))
    assert isinstance(result, Delivery)
    assert (result.delivered, result.retriable, result.reason) == (False, False, "invalid_event")
    assert result.error


def test_merge_fills_a_missing_resolution_key_without_reporting_it() -> None:
    written_elsewhere = replace(ContentState.from_item(item()), normalized_title="")
    merged, changed = merge(written_elsewhere, item())
    assert merged.normalized_title == "last orbit"
    assert changed == [], "a derived column is not a change consumers need to hear about"

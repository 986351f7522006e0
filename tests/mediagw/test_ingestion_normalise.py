"""Normalisation of platform feed items: both feed formats, titles, genres, ratings, offers."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from harness import catalogue
from mediagw.ingestion.normalise import (
    GENRES,
    InvalidItem,
    clean_title,
    feed_format,
    map_genre,
    map_genres,
    normalise_item,
    parse_feed,
)

pytestmark = pytest.mark.unit

STANDARD: dict[str, Any] = {
    "id": "ne-94fc959e5d",
    "title": "THE LAST ORBIT",
    "year": 1994,
    "type": "SHOW",
    "genres": ["Sci-Fi", "Docuseries", "Romantic", "Mockumentary"],
    "moods": ["Thoughtful", "Epic", "thoughtful"],
    "synopsis": "  A thoughtful sci-fi series\tin which an android   must decide.  ",
    "cast": ["Iris Garcia", "Leo Rossi", "Iris Garcia"],
    "directors": ["Maya Bishop"],
    "runtime_minutes": 48,
    "rating": 3.4,
    "votes": 503,
    "popularity": 6.291,
    "language": "en",
    "availability": [
        {
            "region": "US",
            "offer_type": "rent",
            "price": 7.47,
            "currency": "USD",
            "deep_link": "https://www.netflix.com/title/ne-94fc959e5d",
            "available_from": "2015-01-01T00:00:00Z",
            "available_until": None,
        },
        {
            "region": "gb",
            "offer_type": "subscription",
            "price": None,
            "currency": None,
            "deep_link": None,
            "available_from": None,
            "available_until": "2027-12-31T23:59:59Z",
        },
    ],
    "imdb_id": "tt9000001",
}
CATALOG_V2: dict[str, Any] = {
    "asset_id": "pr-84a0d211e5",
    "name": "Last Orbit, The (1994)",
    "release_date": "1994-10-16",
    "content_type": "tv_series",
    "categories": ["Science Fiction", "Animated", "Music & Musicals", "Military & War"],
    "tags": ["thoughtful", "epic"],
    "description": "A thoughtful sci-fi series in which an android must decide.",
    "credits": {"actors": ["Iris Garcia"], "directors": ["Maya Bishop"]},
    "duration_seconds": 2890,
    "score": 68,
    "score_count": 13268,
    "trending": 35.764,
    "original_language": "EN",
    "offers": [
        {
            "region": "BR",
            "offer_type": "buy",
            "price": 19.9,
            "currency": "brl",
            "deep_link": "https://www.primevideo.com/detail/pr-84a0d211e5",
            "available_from": "2015-01-01T00:00:00Z",
            "available_until": None,
        }
    ],
    "external_ids": {"imdb": "tt9000001"},
}


def test_standard_item_is_normalised_field_by_field() -> None:
    item = normalise_item(STANDARD, "netflix")
    assert feed_format(STANDARD) == "standard"
    assert (item.platform, item.platform_id) == ("netflix", "ne-94fc959e5d")
    assert (item.title, item.normalized_title) == ("The Last Orbit", "last orbit")
    assert item.type == "series"
    assert item.genres == ("sci-fi", "documentary", "romance")
    assert item.dropped_genres == ("Mockumentary",)
    assert item.moods == ("thoughtful", "epic")
    assert item.overview == "A thoughtful sci-fi series in which an android must decide."
    assert item.cast == ("Iris Garcia", "Leo Rossi")
    assert item.directors == ("Maya Bishop",)
    assert (item.release_year, item.release_date, item.runtime_minutes) == (1994, None, 48)
    assert (item.rating, item.rating_count, item.popularity) == (6.8, 503, 6.291)
    assert item.language == "en"
    assert item.external_ids == {"netflix": "ne-94fc959e5d", "imdb": "tt9000001"}
    us, gb = item.offers
    assert (us.region, us.offer_type, us.price, us.currency) == (
        "US",
        "rent",
        Decimal("7.47"),
        "USD",
    )
    assert us.available_from == datetime(2015, 1, 1, tzinfo=UTC)
    assert (gb.region, gb.price, gb.deep_link) == ("GB", None, None)
    assert gb.available_until == datetime(2027, 12, 31, 23, 59, 59, tzinfo=UTC)


def test_catalog_v2_item_is_normalised_field_by_field() -> None:
    item = normalise_item(CATALOG_V2, "prime")
    assert feed_format(CATALOG_V2) == "catalog-v2"
    assert (item.platform_id, item.title, item.normalized_title) == (
        "pr-84a0d211e5",
        "The Last Orbit",
        "last orbit",
    )
    assert item.type == "series"
    assert item.genres == ("sci-fi", "animation", "musical", "war")
    assert item.dropped_genres == ()
    assert item.moods == ("thoughtful", "epic")
    assert (item.release_date, item.release_year) == (date(1994, 10, 16), 1994)
    assert item.runtime_minutes == 48  # 2890 s
    assert (item.rating, item.rating_count, item.popularity) == (6.8, 13268, 35.764)
    assert (item.cast, item.directors) == (("Iris Garcia",), ("Maya Bishop",))
    assert (item.language, item.imdb_id) == ("en", "tt9000001")
    (offer,) = item.offers
    assert (offer.region, offer.offer_type, offer.price, offer.currency) == (
        "BR",
        "buy",
        Decimal("19.90"),
        "BRL",
    )


def test_both_formats_of_one_work_normalise_to_the_same_work() -> None:
    standard, v2 = normalise_item(STANDARD, "netflix"), normalise_item(CATALOG_V2, "prime")
    for name in ("title", "normalized_title", "type", "release_year", "moods", "rating"):
        assert getattr(standard, name) == getattr(v2, name), name


@pytest.mark.parametrize(
    ("raw", "title", "year"),
    [
        ("The Last Orbit", "The Last Orbit", None),
        ("Last Orbit, The", "The Last Orbit", None),
        ("Last Orbit, The (1994)", "The Last Orbit", 1994),
        ("Crystal Sword (1969)", "Crystal Sword", 1969),
        ("LAST ORBIT, THE (1994)", "The Last Orbit", 1994),
        ("Heart, A", "A Heart", None),
        ("THE LAST ORBIT", "The Last Orbit", None),
        ("HEART OF ROSSI", "Heart of Rossi", None),
        ("THE KISS II", "The Kiss II", None),
        ("THE BLACKSMITH'S DAUGHTER", "The Blacksmith's Daughter", None),
        ("X-MEN RISING", "X-Men Rising", None),
        ("UFO", "UFO", None),
        ("\uff34\uff48\uff45  Last\u00a0Orbit ", "The Last Orbit", None),
        ("Tab\tand\nnewline", "Tab and newline", None),
        ("(1984)", "(1984)", None),
        ("Plan 9 (From Outer Space)", "Plan 9 (From Outer Space)", None),
    ],
)
def test_titles_are_cleaned(raw: str, title: str, year: int | None) -> None:
    assert clean_title(raw) == (title, year)


@pytest.mark.parametrize(
    ("name", "genres"),
    [
        ("Science Fiction", ("sci-fi",)),
        ("Sci-Fi", ("sci-fi",)),
        ("sci fi", ("sci-fi",)),
        ("Sci-Fi & Fantasy", ("sci-fi",)),
        ("SCI-FI", ("sci-fi",)),
        ("Animated", ("animation",)),
        ("Music & Musicals", ("musical",)),
        ("Military & War", ("war",)),
        ("Kids & Family", ("family",)),
        ("Docuseries", ("documentary",)),
        ("Romantic", ("romance",)),
        ("Action & Adventure", ("action", "adventure")),
        ("Crime / Thriller", ("crime", "thriller")),
        ("Western", ("western",)),
        ("Mockumentary", ()),
        ("", ()),
    ],
)
def test_genres_map_to_the_canonical_list(name: str, genres: tuple[str, ...]) -> None:
    assert map_genre(name) == genres
    assert set(genres) <= set(GENRES)


def test_unknown_genres_are_dropped_and_reported_once() -> None:
    genres, dropped = map_genres(["Sci-Fi", "Science Fiction", "Mockumentary", "mockumentary", ""])
    assert genres == ("sci-fi",)
    assert dropped == ("Mockumentary", "mockumentary")


def test_the_genre_list_is_the_catalogue_generators() -> None:
    assert GENRES == catalogue.GENRES


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"title": None}, "title: missing"),
        ({"title": "   "}, "title: empty"),
        ({"title": 42}, "title: expected a string"),
        ({"type": "PODCAST"}, "type: unknown content type 'PODCAST'"),
        ({"rating": 7}, "rating: 7 is outside 0..5"),
        ({"rating": "high"}, "rating: expected a number"),
        ({"votes": -1}, "votes: expected a whole number"),
        ({"year": 1200}, "year: 1200 is not a year"),
        ({"runtime_minutes": 0}, "runtime: 0 minutes is outside 1..10000"),
        ({"language": "English"}, "language: 'English' is not a language code"),
        ({"imdb_id": "nm123"}, "imdb: 'nm123' is not an IMDb title id"),
        ({"cast": "Iris Garcia"}, "cast: expected a list of strings"),
        ({"availability": [{"region": "USA", "offer_type": "rent"}]}, "availability[0].region"),
        ({"availability": [{"region": "US", "offer_type": "lease"}]}, "availability[0].offer_type"),
        (
            {"availability": [{"region": "US", "offer_type": "rent", "price": 3}]},
            "availability[0].currency: required with a price",
        ),
        (
            {
                "availability": [
                    {
                        "region": "US",
                        "offer_type": "free",
                        "available_from": "2020-01-01T00:00:00Z",
                        "available_until": "2019-01-01T00:00:00Z",
                    }
                ]
            },
            "availability[0].available_until: not after available_from",
        ),
    ],
)
def test_invalid_items_are_refused_with_a_reason_naming_the_field(
    change: dict[str, Any], reason: str
) -> None:
    with pytest.raises(InvalidItem) as info:
        normalise_item({**STANDARD, **change}, "netflix")
    assert info.value.reason.startswith(reason), info.value.reason


def test_invalid_catalog_v2_fields_are_refused_too() -> None:
    for change, reason in (
        ({"score": 101}, "score: 101 is outside 0..100"),
        ({"release_date": "16/10/1994"}, "release_date: '16/10/1994' is not a YYYY-MM-DD date"),
        ({"credits": ["Iris"]}, "credits: expected an object"),
        ({"external_ids": {"imdb": 9000001}}, "external_ids.imdb: expected a string"),
        ({"offers": {"region": "US"}}, "offers: expected a list of offers"),
    ):
        with pytest.raises(InvalidItem) as info:
            normalise_item({**CATALOG_V2, **change}, "prime")
        assert info.value.reason.startswith(reason), info.value.reason
    with pytest.raises(InvalidItem, match="neither 'id'"):
        normalise_item({"title": "No id"}, "netflix")
    with pytest.raises(InvalidItem, match="expected an object"):
        normalise_item(["not", "an", "object"], "netflix")


def test_parse_feed_accepts_a_document_or_a_bare_list() -> None:
    assert parse_feed({"platform": "netflix", "items": [1], "next_page": 2}) == ("netflix", [1], 2)
    assert parse_feed([1, 2]) == (None, [1, 2], None)
    bad: Any
    for bad in ({"items": "x"}, {"entries": []}, "text"):
        with pytest.raises(ValueError, match="items"):
            parse_feed(bad)


def test_every_item_of_the_generated_feeds_normalises_to_its_work() -> None:
    """All six generated feeds, both formats: each item yields its work's truth (title,
    genres, moods, year) with nothing failed and no genre dropped."""
    directory = catalogue.default_directory()
    truth = json.loads((directory / "truth.json").read_text())
    work_of = {(p, i): w for w in truth for p, i in w["platform_ids"].items()}
    checked = 0
    for platform in catalogue.PLATFORMS:
        feed = json.loads((directory / "feeds" / f"{platform.id}.json").read_text())
        for raw in feed["items"]:
            item = normalise_item(raw, platform.id)
            work = work_of[(platform.id, item.platform_id)]
            assert (item.title, item.release_year) == (work["title"], work["year"])
            assert (list(item.genres), list(item.moods)) == (work["genres"], work["moods"])
            assert item.dropped_genres == ()
            assert item.rating is not None
            assert 0 <= item.rating <= 10
            checked += 1
    assert checked == sum(len(w["platform_ids"]) for w in truth)

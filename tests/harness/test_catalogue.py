"""The seed catalogue generator: reproducible, realistic, and consistent with its truth table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import catalogue

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def small() -> dict[str, object]:
    return catalogue.generate(works=300, seed=7)


def test_same_seed_same_catalogue() -> None:
    assert catalogue.generate(works=50, seed=1) == catalogue.generate(works=50, seed=1)
    assert catalogue.generate(works=50, seed=1) != catalogue.generate(works=50, seed=2)


def test_every_work_is_on_at_least_one_platform_and_some_on_several(small: dict) -> None:
    truth = small["truth"]
    assert len(truth) == 300
    assert all(work["platform_ids"] for work in truth)
    assert sum(1 for work in truth if len(work["platform_ids"]) > 1) > 50


def test_feed_entries_match_the_truth_table(small: dict) -> None:
    feeds = small["feeds"]
    by_id = {
        entry.get("id") or entry.get("asset_id"): platform
        for platform, entries in feeds.items()
        for entry in entries
    }
    expected = {pid: p for work in small["truth"] for p, pid in work["platform_ids"].items()}
    assert by_id == expected


def test_the_two_feed_formats_differ_as_platforms_do(small: dict) -> None:
    standard = small["feeds"]["netflix"][0]
    v2 = small["feeds"]["prime"][0]
    assert {"id", "title", "year", "rating", "availability"} <= standard.keys()
    assert {"asset_id", "name", "release_date", "score", "offers"} <= v2.keys()
    assert 0 <= standard["rating"] <= 5
    assert 0 <= v2["score"] <= 100


def test_genres_and_moods_come_from_the_vocabulary(small: dict) -> None:
    for work in small["truth"]:
        assert set(work["genres"]) <= set(catalogue.GENRES)
        assert set(work["moods"]) <= set(catalogue.MOODS)
        assert 1950 <= work["year"] <= 2025


def test_overviews_speak_of_their_genre(small: dict) -> None:
    entries = small["feeds"]["netflix"]
    assert all(entry["synopsis"].split()[2].lower() in catalogue.GENRES for entry in entries[:50])


def test_write_produces_the_files(tmp_path: Path) -> None:
    counts = catalogue.write(tmp_path, works=40, seed=3)
    assert counts["works"] == 40
    feed = json.loads((tmp_path / "feeds" / "netflix.json").read_text())
    assert feed["platform"] == "netflix"
    assert len(feed["items"]) == counts["netflix"]
    platforms = json.loads((tmp_path / "platforms.json").read_text())
    assert {p["id"] for p in platforms} == {p.id for p in catalogue.PLATFORMS}
    assert all("{platform_id}" in p["web_url_template"] for p in platforms)


def test_checked_in_seed_is_what_the_generator_makes(tmp_path: Path) -> None:
    catalogue.write(tmp_path)
    shipped = catalogue.default_directory()
    for name in ("platforms.json", "truth.json", "feeds/prime.json", "feeds/netflix.json"):
        assert (tmp_path / name).read_text() == (shipped / name).read_text(), name


def test_generator_and_services_share_one_vocabulary() -> None:
    from mediagw.common.taxonomy import GENRES, MOODS  # noqa: PLC0415 — the services' side

    assert tuple(catalogue.GENRES) == GENRES
    assert tuple(catalogue.MOODS) == MOODS

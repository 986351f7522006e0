"""Discovery and SONA through the gateway, on the seed catalogue ingested at stack start.

The session stack ingests every platform feed through the ingestion API (as an admin would),
so these journeys exercise the whole content side: ingestion → PostgreSQL + Qdrant + Kafka →
search (vector + full text, fused) → SONA re-ranking for a signed-in user.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from harness.accounts import Account, expect
from harness.stack import Stack

pytestmark = pytest.mark.e2e


def search(
    api: httpx.Client, q: str, headers: dict[str, str] | None = None, **params: object
) -> dict:
    response = api.get("/api/v1/search", params={"q": q, **params}, headers=headers or {})
    return expect(response, 200).json()


def test_the_seed_catalogue_was_ingested_with_duplicates_merged(
    stack: Stack, api: httpx.Client
) -> None:
    if not stack.seeded:
        pytest.fail("the session stack was not seeded (attached stacks must be seeded already)")
    assert all(run.status == "succeeded" for run in stack.seeded)
    assert (
        sum(run.counts.get("merged_count", run.counts.get("merged", 0)) for run in stack.seeded) > 0
    )
    platforms = expect(api.get("/api/v1/platforms"), 200).json()
    names = {p["id"] for p in (platforms["items"] if isinstance(platforms, dict) else platforms)}
    assert names == {"netflix", "prime", "disney", "hulu", "max", "appletv"}


def test_funny_sci_fi_from_the_90s(api: httpx.Client) -> None:
    result = search(api, "funny sci-fi from the 90s")
    assert result["parsed"]["genres"] == ["sci-fi"]
    assert result["parsed"]["year_from"] == 1990
    assert result["parsed"]["year_to"] == 1999
    top = result["items"][:5]
    assert len(top) == 5
    for item in top:
        assert "sci-fi" in item["genres"], item
        assert 1990 <= item["year"] <= 1999, item
    assert "funny" in top[0]["moods"], "moods named in the query rank first"
    assert result["personalised"] is False


def test_explicit_filters_are_honoured(api: httpx.Client) -> None:
    result = search(
        api, "adventure", platform="netflix", year_from=2000, year_to=2010, type="movie"
    )
    assert result["items"]
    for item in result["items"]:
        assert item["type"] == "movie"
        assert 2000 <= item["year"] <= 2010
        details = expect(api.get(f"/api/v1/content/{item['id']}"), 200).json()
        assert "netflix" in {link["platform"] for link in details["deep_links"]}


def test_content_details_carry_deep_links(api: httpx.Client) -> None:
    hit = search(api, "space")["items"][0]
    details = expect(api.get(f"/api/v1/content/{hit['id']}"), 200).json()
    assert details["id"] == hit["id"]
    assert details["deep_links"]
    for link in details["deep_links"]:
        assert link["web_url"].startswith("https://")


def test_personalisation_reorders_for_a_user_with_history_only(
    api: httpx.Client, new_account: Callable[..., Account]
) -> None:
    query = "movies from the 2000s"
    anonymous = [i["id"] for i in search(api, query, page_size=20)["items"]]
    newcomer = new_account()
    fresh = search(api, query, headers=newcomer.headers, page_size=20)
    assert [i["id"] for i in fresh["items"]] == anonymous, "no history: order unchanged"

    fan = new_account()
    horror = search(api, "scary horror", page_size=10)["items"]
    for item in horror[:6]:
        expect(
            api.post(
                "/api/v1/interactions",
                json={"content_id": item["id"], "kind": "complete", "value": 1.0},
                headers=fan.headers,
            ),
            202,
        )
    personal = search(api, query, headers=fan.headers, page_size=20)
    assert personal["personalised"] is True
    order = [i["id"] for i in personal["items"]]
    assert sorted(order) == sorted(anonymous), "re-ranking reorders the same page of results"
    assert order != anonymous
    top_genres = [g for i in personal["items"][:5] for g in i["genres"]]
    all_genres = [g for i in personal["items"] for g in i["genres"]]
    assert top_genres.count("horror") / 5 >= all_genres.count("horror") / len(personal["items"])


def test_recommendations_follow_what_you_watch(
    api: httpx.Client, new_account: Callable[..., Account]
) -> None:
    user = new_account()
    cold = expect(api.get("/api/v1/recommendations?limit=10", headers=user.headers), 200).json()
    assert cold["personalised"] is False
    westerns = search(api, "western", page_size=10)["items"]
    for item in westerns[:5]:
        expect(
            api.post(
                "/api/v1/interactions",
                json={"content_id": item["id"], "kind": "complete"},
                headers=user.headers,
            ),
            202,
        )
    warm = expect(api.get("/api/v1/recommendations?limit=10", headers=user.headers), 200).json()
    assert warm["personalised"] is True
    watched = {item["id"] for item in westerns[:5]}
    assert not watched & {item["content_id"] for item in warm["items"]}
    assert sum("western" in item["genres"] for item in warm["items"]) >= 3


def test_search_rejects_bad_input_with_reasons(api: httpx.Client) -> None:
    cases = (
        ({"q": ""}, "q"),
        ({"q": "x" * 600}, "q"),
        ({"q": "a", "page": 0}, "page"),
        ({"q": "   "}, "q"),
    )
    for params, field in cases:
        response = api.get("/api/v1/search", params=params)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["error"]["field"] == field
    # A well-formed genre the catalogue does not know is "not found", naming the parameter.
    unknown = api.get("/api/v1/search", params={"q": "a", "genre": "not-a-genre"})
    assert unknown.status_code == 404, unknown.text
    assert unknown.json()["error"]["code"] == "unknown_filter_value"
    assert unknown.json()["error"]["field"] == "genre"
    hostile = search(api, "'; DROP TABLE content.content; --")
    assert isinstance(hostile["items"], list)
    assert search(api, "space")["items"], "the catalogue is still there"

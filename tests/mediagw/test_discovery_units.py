"""Discovery building blocks: reciprocal rank fusion, payload filters, ranking, cache keys,
settings."""

from __future__ import annotations

import random
import uuid

import pytest
from qdrant_client import QdrantClient, models

from mediagw.common.settings import ConfigError, load_settings
from mediagw.common.vectors import embedded_lock
from mediagw.discovery.cache import CACHE_PREFIX, SearchCache
from mediagw.discovery.fusion import RRF_K, reciprocal_rank_fusion
from mediagw.discovery.index import payload_fields, payload_matches, qdrant_filter, ranked
from mediagw.discovery.query import Filters
from mediagw.discovery.settings import DiscoverySettings

pytestmark = pytest.mark.unit


# --- reciprocal rank fusion -------------------------------------------------------------------


def test_rrf_scores_are_the_sum_of_reciprocal_ranks_with_k_60() -> None:
    fused = {f.id: f.score for f in reciprocal_rank_fusion([["a", "b", "c"], ["c", "a"]])}
    assert RRF_K == 60
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["b"] == pytest.approx(1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)


def test_rrf_ranks_agreement_above_a_single_first_place() -> None:
    vector = ["x", "shared", "y", "z"]
    fulltext = ["w", "v", "shared"]
    order = [f.id for f in reciprocal_rank_fusion([vector, fulltext])]
    assert order[0] == "shared", "second and third in both lists beat first in one"
    assert set(order) == {"x", "shared", "y", "z", "w", "v"}


def test_rrf_uses_ranks_not_scores_and_is_deterministic_on_ties() -> None:
    # "a" and "b" are both first in one list: equal scores, broken by best rank then id
    first = [f.id for f in reciprocal_rank_fusion([["b"], ["a"]])]
    second = [f.id for f in reciprocal_rank_fusion([["a"], ["b"]])]
    assert first == second == ["a", "b"]
    # equal scores: the better single rank first ("b" is third twice: 1/4 + 1/4 = 1/2)
    fused = reciprocal_rank_fusion([["z", "x", "b"], ["y", "w", "b"]], k=1)
    assert [f.score for f in fused[:3]] == [0.5, 0.5, 0.5]
    assert [f.id for f in fused[:3]] == ["y", "z", "b"]


def test_rrf_counts_a_repeated_id_once_per_list() -> None:
    fused = {f.id: f.score for f in reciprocal_rank_fusion([["a", "a", "b"]])}
    assert fused == {"a": pytest.approx(1 / 61), "b": pytest.approx(1 / 62)}


def test_rrf_weights_and_arguments() -> None:
    fused = reciprocal_rank_fusion([["a"], ["b"]], weights=[2.0, 1.0])
    assert [f.id for f in fused] == ["a", "b"]
    assert fused[0].score == pytest.approx(2 / 61)
    assert reciprocal_rank_fusion([]) == []
    assert reciprocal_rank_fusion([[], []]) == []
    with pytest.raises(ValueError, match="positive"):
        reciprocal_rank_fusion([["a"]], k=0)
    with pytest.raises(ValueError, match="one weight"):
        reciprocal_rank_fusion([["a"]], weights=[1.0, 2.0])


def test_rrf_is_stable_under_input_order_of_equal_lists() -> None:
    rng = random.Random(7)
    items = [f"t{i}" for i in range(50)]
    a, b = rng.sample(items, 30), rng.sample(items, 30)
    assert reciprocal_rank_fusion([a, b]) == reciprocal_rank_fusion([b, a])


# --- payload filters: the Python twin agrees with Qdrant's -------------------------------------

GENRE_POOL = ("sci-fi", "comedy", "drama", "horror")
MOOD_POOL = ("funny", "dark", "epic")


def random_payload(rng: random.Random) -> dict[str, object]:
    return {
        "type": rng.choice(("movie", "series", "documentary")),
        "genres": rng.sample(GENRE_POOL, rng.randint(1, 2)),
        "moods": rng.sample(MOOD_POOL, rng.randint(0, 2)),
        "platforms": rng.sample(("netflix", "prime", "hulu"), rng.randint(0, 2)),
        "year": rng.choice((None, *range(1980, 2021))),
        "rating": rng.choice((None, 4.5, 6.0, 7.5, 8.2, 9.1)),
    }


FILTERS = [
    Filters(genres=("sci-fi",)),
    Filters(genres=("sci-fi", "comedy"), moods=("funny",)),
    Filters(types=("series",), year_from=1990, year_to=1999),
    Filters(year_from=2000),
    Filters(year_to=1985, rating_min=7.5),
    Filters(platforms=("netflix",), rating_min=6.0),
    Filters(moods=("dark", "epic"), types=("movie", "documentary")),
]


def test_python_filter_matches_qdrant_filter_on_every_point() -> None:
    rng = random.Random(11)
    client = QdrantClient(location=":memory:")
    try:
        client.create_collection(
            "t", vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE)
        )
        payloads = {str(uuid.UUID(int=i + 1)): random_payload(rng) for i in range(300)}
        client.upsert(
            "t",
            points=[
                models.PointStruct(
                    id=pid, vector=[rng.random() + 0.01 for _ in range(4)], payload=p
                )
                for pid, p in payloads.items()
            ],
        )
        for filters in FILTERS:
            condition = qdrant_filter(filters)
            assert condition is not None
            qdrant_ids = {
                str(p.id) for p in client.scroll("t", scroll_filter=condition, limit=1000)[0]
            }
            python_ids = {pid for pid, p in payloads.items() if payload_matches(p, filters)}
            assert python_ids == qdrant_ids, filters
            assert python_ids, f"the sample exercises {filters}"
    finally:
        client.close()


def test_payload_fields_are_only_those_the_filters_read() -> None:
    assert payload_fields(Filters(genres=("x",), year_to=2000)) == ["genres", "year"]
    assert payload_fields(Filters(types=("movie",), rating_min=7)) == ["type", "rating"]
    assert payload_fields(Filters(prefer_moods=("funny",))) == []
    assert qdrant_filter(Filters(prefer_moods=("funny",))) is None
    assert payload_matches(None, Filters()) is True
    assert payload_matches(None, Filters(year_from=1990)) is False


def test_ranking_ignores_jitter_below_four_decimals_and_breaks_ties_by_id() -> None:
    points = [
        models.ScoredPoint(id=str(uuid.UUID(int=2)), version=0, score=0.70000009),
        models.ScoredPoint(id=str(uuid.UUID(int=1)), version=0, score=0.70000001),
        models.ScoredPoint(id=str(uuid.UUID(int=3)), version=0, score=0.9),
    ]
    assert ranked(points) == [str(uuid.UUID(int=i)) for i in (3, 1, 2)]


def test_one_embedded_engine_has_one_call_lock() -> None:
    url = f"qdrant+embedded://memory-{uuid.uuid4().hex}"
    assert embedded_lock(url) is embedded_lock(url)
    assert embedded_lock(url) is not embedded_lock(f"{url}-other")


# --- cache keys and settings ------------------------------------------------------------------


def test_cache_keys_depend_on_content_not_order_and_include_the_version() -> None:
    one = SearchCache.key("3", {"query": "a", "page": 1, "genres": ["x"]})
    same = SearchCache.key("3", {"genres": ["x"], "page": 1, "query": "a"})
    assert one == same
    assert one.startswith(CACHE_PREFIX)
    assert len(one.removeprefix(CACHE_PREFIX)) == 64
    assert SearchCache.key("4", {"query": "a", "page": 1, "genres": ["x"]}) != one
    assert SearchCache.key("3", {"query": "a", "page": 2, "genres": ["x"]}) != one


ENV = {
    "JWT_SECRET": "Kq3v9Zt1xW8pL2mN7rB5cY0dF4gH6jS1aE9uI3oP7kT2wQ8zX5vC",
    "MG_POSTGRES_URL": "postgresql://u@h:5432/d",
    "MG_REDIS_URL": "redis://h:6379/0",
}


def test_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    settings = load_settings(DiscoverySettings)
    assert settings.qdrant_url == "qdrant+embedded://memory"
    assert settings.embedder == "minilm"
    assert settings.sona_url is None
    assert settings.kafka_bootstrap is None
    assert settings.kafka_group_id == "discovery-cache"
    assert settings.topics == ["content.updated", "availability.changed", "content.ingested"]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MG_QDRANT_URL", "ftp://x"),
        ("MG_EMBEDDER", "word2vec"),
        ("MG_SONA_URL", "sona:8082"),
        ("MG_EMBEDDED_OVERFETCH", "50"),
    ],
)
def test_bad_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    for key, good in ENV.items():
        monkeypatch.setenv(key, good)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(DiscoverySettings)
    assert variable in str(caught.value)

"""Qdrant through the current client API: create, upsert, filtered query_points."""

from __future__ import annotations

import random

import pytest
from qdrant_client import QdrantClient, models

from harness.isolation import QdrantCollections

pytestmark = pytest.mark.integration

DIM = 8


def vector(seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(-1, 1) for _ in range(DIM)]


def test_upsert_and_filtered_query(
    qdrant_client: QdrantClient, qdrant_collections: QdrantCollections
) -> None:
    name = qdrant_collections.name("content")
    assert not qdrant_client.collection_exists(name)
    qdrant_client.create_collection(
        name, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE)
    )
    genres = ["comedy", "sci-fi", "drama"]
    qdrant_client.upsert(
        name,
        points=[
            models.PointStruct(
                id=i, vector=vector(i), payload={"genre": genres[i % 3], "year": 1980 + i}
            )
            for i in range(60)
        ],
        wait=True,
    )
    assert qdrant_client.count(name, exact=True).count == 60

    result = qdrant_client.query_points(
        name,
        query=vector(4),
        query_filter=models.Filter(
            must=[
                models.FieldCondition(key="genre", match=models.MatchValue(value="sci-fi")),
                models.FieldCondition(key="year", range=models.Range(gte=1990, lt=2000)),
            ]
        ),
        limit=10,
        with_payload=True,
    )
    assert result.points, "the filter matches points 10..19 with genre sci-fi"
    for point in result.points:
        assert point.payload is not None
        assert point.payload["genre"] == "sci-fi"
        assert 1990 <= point.payload["year"] < 2000
    expected_ids = {i for i in range(10, 20) if i % 3 == 1}
    assert {int(p.id) for p in result.points} == expected_ids

    unfiltered = qdrant_client.query_points(name, query=vector(4), limit=1)
    assert unfiltered.points[0].id == 4  # a point is its own nearest neighbour


def test_collections_are_removed_by_cleanup(qdrant_client: QdrantClient) -> None:
    collections = QdrantCollections(qdrant_client)
    name = collections.name()
    qdrant_client.create_collection(
        name, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT)
    )
    collections.cleanup()
    assert not qdrant_client.collection_exists(name)

"""The embedding cache: the same vectors as the model, read back instead of recomputed, and
never shared between models."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from mediagw.common.embedding import CachedEmbedder, HashingEmbedder, Matrix

pytestmark = pytest.mark.unit

TEXTS = ["The Last Orbit. sci-fi. tense.", "A Quiet Farm. drama.", "The Last Orbit. sci-fi. tense."]


class Counting(HashingEmbedder):
    """The hashing embedder, counting the texts it is asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.embedded = 0

    def embed(self, texts: Sequence[str]) -> Matrix:
        self.embedded += len(texts)
        return super().embed(texts)


def test_cached_vectors_equal_the_models_and_are_read_back(tmp_path: Path) -> None:
    inner = Counting()
    cache = CachedEmbedder(inner, tmp_path / "e.sqlite", "hashing/384")
    first = cache.embed(TEXTS)
    assert inner.embedded == 3
    np.testing.assert_array_equal(first, HashingEmbedder().embed(TEXTS))
    again = CachedEmbedder(inner, tmp_path / "e.sqlite", "hashing/384")  # a restarted service
    second = again.embed([*TEXTS, "New Title. comedy."])
    assert inner.embedded == 4  # only the new text was embedded
    assert again.hits == 3
    np.testing.assert_array_equal(second[:3], first)


def test_another_model_never_reads_these_vectors(tmp_path: Path) -> None:
    inner = Counting()
    CachedEmbedder(inner, tmp_path / "e.sqlite", "model-a/384").embed(TEXTS)
    other = CachedEmbedder(inner, tmp_path / "e.sqlite", "model-b/384")
    other.embed(TEXTS)
    assert other.hits == 0
    assert inner.embedded == 6

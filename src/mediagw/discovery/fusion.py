"""Reciprocal rank fusion: one ranking out of several, using ranks only (never raw scores).

``score(d) = Σ_lists weight / (k + rank_in_list(d))`` with ranks from 1 (Cormack et al., 2009;
k = 60). A title ranked well by both the vector index and full-text search beats one ranked
first by only one of them, and neither list's score scale matters. Ties are broken by the best
single rank, then by id, so the same inputs always give the same order (pages stay stable).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

RRF_K = 60


@dataclass(frozen=True)
class Fused:
    id: str
    score: float


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[str]],
    *,
    k: int = RRF_K,
    weights: Sequence[float] | None = None,
) -> list[Fused]:
    """Fuse ranked id lists (best first); an id repeated within one list counts once."""
    if k <= 0:
        raise ValueError("k must be positive")
    if weights is not None and len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    scores: dict[str, float] = {}
    best_rank: dict[str, int] = {}
    for index, ranking in enumerate(rankings):
        weight = 1.0 if weights is None else weights[index]
        seen: set[str] = set()
        rank = 0
        for item in ranking:
            if item in seen:
                continue
            seen.add(item)
            rank += 1
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
            best_rank[item] = min(best_rank.get(item, rank), rank)
    ordered = sorted(scores, key=lambda i: (-scores[i], best_rank[i], i))
    return [Fused(item, scores[item]) for item in ordered]

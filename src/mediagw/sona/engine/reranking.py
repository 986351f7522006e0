"""Re-ranking: ordering a caller's candidate list (discovery's search results) for one user.

The caller's own order still counts through a given-rank prior, 1/log2(position + 2); on top
come the user's content affinity, collaborative score, popularity and recency, and a genre
diversity penalty of ``diversity · log2(1 + r)``, where r is how many better-scored candidates
share the main genre (a closed form of greedy genre decay, O(n log n)). Users without history
get ``given_order``: the candidates as given. The served path is ``SonaContext.rerank`` in
``mediagw.sona.context``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from mediagw.sona.catalogue import Catalogue
from mediagw.sona.engine.taste import Derived, calibrated
from mediagw.sona.settings import Weights


def given_rank_prior(n: int) -> npt.NDArray[np.float64]:
    """1/log2(position + 2): 1 for the first, decaying like DCG's discount."""
    prior: npt.NDArray[np.float64] = 1.0 / np.log2(np.arange(n, dtype=np.float64) + 2.0)
    return prior


def rank_within_group(
    score: npt.NDArray[np.float64], group: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """For each entry, how many entries of its group score higher (ties: earlier first).
    Entries in group -1 are never counted or penalised."""
    n = len(score)
    order = np.argsort(-score, kind="stable")
    grouped = group[order]
    by_group = np.argsort(grouped, kind="stable")
    sorted_groups = grouped[by_group]
    boundaries = np.flatnonzero(sorted_groups[1:] != sorted_groups[:-1]) + 1
    starts = np.concatenate(([0], boundaries))
    lengths = np.diff(np.concatenate((starts, [n])))
    ranks_sorted = np.arange(n) - np.repeat(starts, lengths)
    ranks = np.empty(n, dtype=np.float64)
    ranks[order[by_group]] = ranks_sorted
    ranks[group < 0] = 0.0
    return ranks


def rerank(
    catalogue: Catalogue,
    derived: Derived,
    candidates: Sequence[str],
    weights: Weights,
    limit: int | None = None,
) -> list[tuple[str, float]]:
    """Order ``candidates`` for a user with history; returns (content id, score), best first.

    Candidates unknown to the catalogue keep only their given-rank prior (they are not dropped).
    """
    n = len(candidates)
    if n == 0:
        return []
    index = catalogue.index
    rows = np.fromiter((index.get(c, -1) for c in candidates), dtype=np.int64, count=n)
    known = rows >= 0
    safe = np.where(known, rows, 0)
    score = weights.given_rank * given_rank_prior(n)
    if len(catalogue):
        if derived.unit is not None:
            content = calibrated(catalogue.matrix[safe] @ derived.unit, derived)
            score += weights.content * np.where(known, content, 0.0)
        if derived.collab_max > 0:
            collab = derived.collab
            cf = np.fromiter((collab.get(c, 0.0) for c in candidates), dtype=np.float64, count=n)
            score += weights.collaborative * (cf / derived.collab_max)
        score += np.where(
            known,
            weights.popularity * catalogue.popularity[safe]
            + weights.recency * catalogue.recency[safe],
            0.0,
        )
        if weights.diversity > 0:
            genre = np.where(known, catalogue.primary_genre[safe], -1)
            score -= weights.diversity * np.log2(1.0 + rank_within_group(score, genre))
    order = np.argsort(-score, kind="stable")
    if limit is not None:
        order = order[:limit]
    return [(candidates[i], float(score[i])) for i in order]


def given_order(candidates: Sequence[str], limit: int | None = None) -> list[tuple[str, float]]:
    """The unpersonalised answer: the candidates as given, scored by their rank prior."""
    chosen = candidates[:limit] if limit is not None else candidates
    prior = given_rank_prior(len(chosen))
    return [(c, float(p)) for c, p in zip(chosen, prior, strict=True)]


def unique(candidates: Sequence[str]) -> list[str]:
    """First occurrence of each id, in order."""
    return list(dict.fromkeys(candidates))

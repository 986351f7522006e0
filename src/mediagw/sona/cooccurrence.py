"""Item-item similarity from co-occurrence: which titles the same users liked.

Computed in batches by the similarity job (``sona.refresh``) over every user's liked items,
with numpy only: pairs are encoded as ``i * n + j`` and counted with ``np.unique`` in chunks,
so memory stays bounded by the chunk size rather than by the number of pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class SimilarityTable:
    """Top-K neighbours as parallel arrays of item indexes and scores."""

    source: npt.NDArray[np.int64]
    target: npt.NDArray[np.int64]
    score: npt.NDArray[np.float64]
    support: npt.NDArray[np.int64]


_PAIR_CHUNK = 4_000_000


def _reduce(keys: list[npt.NDArray[np.int64]], counts: list[npt.NDArray[np.int64]]) -> tuple[
    npt.NDArray[np.int64], npt.NDArray[np.int64]
]:  # fmt: skip
    all_keys = np.concatenate(keys)
    all_counts = np.concatenate(counts)
    merged, inverse = np.unique(all_keys, return_inverse=True)
    summed = np.bincount(inverse, weights=all_counts, minlength=len(merged)).astype(np.int64)
    return merged, summed


def cooccurrence_similarity(
    user_items: Sequence[Sequence[int]], n_items: int, *, top_k: int, min_support: int = 1
) -> SimilarityTable:
    """Item-item cosine of co-occurrence counts: sim(i, j) = |U_i ∩ U_j| / √(|U_i|·|U_j|),
    where U_i is the set of users who liked item i. Keeps the ``top_k`` best neighbours of each
    item (ties by neighbour index) among pairs liked together by ≥ ``min_support`` users."""
    empty = SimilarityTable(
        np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64)
    )
    item_users = np.zeros(n_items, dtype=np.int64)
    keys: list[npt.NDArray[np.int64]] = []
    counts: list[npt.NDArray[np.int64]] = []
    pending: list[npt.NDArray[np.int64]] = []
    pending_size = 0
    for items in user_items:
        liked = np.unique(np.asarray(items, dtype=np.int64))
        item_users[liked] += 1
        if len(liked) < 2:
            continue
        left, right = np.meshgrid(liked, liked, indexing="ij")
        off_diagonal = left != right
        pending.append(left[off_diagonal] * n_items + right[off_diagonal])
        pending_size += len(liked) * (len(liked) - 1)
        if pending_size > _PAIR_CHUNK:
            chunk, chunk_counts = np.unique(np.concatenate(pending), return_counts=True)
            keys.append(chunk)
            counts.append(chunk_counts.astype(np.int64))
            pending, pending_size = [], 0
    if pending:
        chunk, chunk_counts = np.unique(np.concatenate(pending), return_counts=True)
        keys.append(chunk)
        counts.append(chunk_counts.astype(np.int64))
    if not keys:
        return empty
    pair_keys, support = _reduce(keys, counts)
    keep = support >= min_support
    pair_keys, support = pair_keys[keep], support[keep]
    source, target = pair_keys // n_items, pair_keys % n_items
    score = support / np.sqrt(item_users[source] * item_users[target])
    order = np.lexsort((target, -score, source))
    source, target, score, support = source[order], target[order], score[order], support[order]
    boundaries = np.flatnonzero(source[1:] != source[:-1]) + 1
    starts = np.concatenate(([0], boundaries))
    lengths = np.diff(np.concatenate((starts, [len(source)])))
    rank = np.arange(len(source)) - np.repeat(starts, lengths)
    top = rank < top_k
    return SimilarityTable(source[top], target[top], np.minimum(score[top], 1.0), support[top])

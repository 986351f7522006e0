"""Recommendations over the whole catalogue for one user: scoring, diversification, reasons.

Score = content affinity + collaborative + stated preference + popularity + recency, each
scaled to 0..1 and weighted by ``Weights`` (a cold start has only preference, popularity and
recency). The list is diversified by maximal marginal relevance (similarity = a weighted mix
of vector cosine and genre Jaccard) with a cap on any one main genre's share, and each pick
gets a short reason ("because you watched X", "popular in comedy" …).

"More like this title" is ``mediagw.sona.engine.similar``; re-ordering a given candidate list
is ``mediagw.sona.engine.reranking``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mediagw.sona.catalogue import Catalogue
from mediagw.sona.engine.reranking import rank_within_group
from mediagw.sona.engine.taste import Derived, Neighbours, Preferences, Profile, calibrated
from mediagw.sona.settings import Weights


@dataclass(frozen=True)
class Recommendation:
    content_id: str
    row: int
    score: float
    reason: str


def preference_match(
    catalogue: Catalogue, preferences: Preferences, weights: Weights
) -> npt.NDArray[np.float32]:
    """0..1 per item: ``preference_genre`` (0.75) if it has a preferred genre, +
    ``preference_mood`` (0.25) if it has a preferred mood."""
    n = len(catalogue)
    match = np.zeros(n, dtype=np.float32)
    if preferences.genres:
        has_genre = (catalogue.genres @ catalogue.genre_mask(preferences.genres)) > 0
        match += weights.preference_genre * has_genre
    if preferences.moods:
        has_mood = (catalogue.moods @ catalogue.mood_mask(preferences.moods)) > 0
        match += weights.preference_mood * has_mood
    return match


@dataclass(frozen=True)
class Components:
    """Each weighted component over the whole catalogue (for scores and reasons)."""

    content: npt.NDArray[np.float64]
    collaborative: npt.NDArray[np.float64]
    preference: npt.NDArray[np.float64]
    popularity: npt.NDArray[np.float64]
    recency: npt.NDArray[np.float64]
    affinity: npt.NDArray[np.float64]
    """The calibrated content part before weighting (0..1, ≈ the user's percentile)."""

    def total(self) -> npt.NDArray[np.float64]:
        total: npt.NDArray[np.float64] = (
            self.content + self.collaborative + self.preference + self.popularity + self.recency
        )
        return total


def components(
    catalogue: Catalogue, derived: Derived | None, preferences: Preferences, weights: Weights
) -> Components:
    n = len(catalogue)
    zeros = np.zeros(n, dtype=np.float64)
    affinity, collab = zeros, zeros
    if derived is not None and derived.unit is not None and n:
        affinity = calibrated(catalogue.matrix @ derived.unit, derived).astype(np.float64)
    if derived is not None and derived.collab_max > 0:
        collab = zeros.copy()
        for content_id, value in derived.collab.items():
            row = catalogue.index.get(content_id)
            if row is not None:
                collab[row] = weights.collaborative * value / derived.collab_max
    match = preference_match(catalogue, preferences, weights).astype(np.float64)
    return Components(
        content=weights.content * affinity,
        collaborative=collab,
        preference=weights.preference * match,
        popularity=weights.popularity * catalogue.popularity.astype(np.float64),
        recency=weights.recency * catalogue.recency.astype(np.float64),
        affinity=affinity,
    )


def _pool(
    score: npt.NDArray[np.float64], primary: npt.NDArray[np.int64], size: int, per_genre: int
) -> npt.NDArray[np.int64]:
    """Rows worth considering: the best ``size`` overall plus the best ``per_genre`` of every
    main genre (so a genre cap has alternatives), best first, ties by row."""
    valid = np.flatnonzero(np.isfinite(score))
    if len(valid) == 0:
        return valid
    order = valid[np.argsort(-score[valid], kind="stable")]
    ranks = rank_within_group(score[order], primary[order])
    chosen = np.zeros(len(order), dtype=bool)
    chosen[:size] = True
    chosen |= (ranks < per_genre) & (primary[order] >= 0)
    result: npt.NDArray[np.int64] = order[chosen]
    return result


def mmr_select(
    catalogue: Catalogue,
    pool: npt.NDArray[np.int64],
    relevance: npt.NDArray[np.float64],
    limit: int,
    weights: Weights,
) -> list[int]:
    """Greedy maximal marginal relevance over ``pool`` (rows), with a main-genre cap.

    Picks argmax λ·rel - (1-λ)·max-similarity-to-picked (λ = ``weights.mmr_lambda``), where
    similarity mixes the vector cosine and the genre Jaccard index (``weights.mmr_vector``,
    ``weights.mmr_genres``); a genre that already fills ``weights.max_genre_share`` of the
    list is skipped while any other candidate remains. Returns rows in pick order.
    """
    if len(pool) == 0 or limit <= 0:
        return []
    mmr_lambda = weights.mmr_lambda
    rel = relevance[pool]
    span = float(rel.max() - rel.min())
    rel = (rel - rel.min()) / span if span > 1e-12 else np.ones_like(rel)
    vectors = catalogue.matrix[pool]
    genres = catalogue.genres[pool]
    genre_counts = genres.sum(axis=1)
    primary = catalogue.primary_genre[pool]
    cap = max(1, math.ceil(limit * weights.max_genre_share))
    has_genre = primary >= 0
    genre_of = np.where(has_genre, primary, 0)
    picked_per_genre = np.zeros(max(len(catalogue.genre_vocab), 1), dtype=np.int64)
    similarity = np.zeros(len(pool), dtype=np.float64)
    available = np.ones(len(pool), dtype=bool)
    picks: list[int] = []
    for _ in range(min(limit, len(pool))):
        mmr = mmr_lambda * rel - (1.0 - mmr_lambda) * similarity
        eligible = available & ~(has_genre & (picked_per_genre[genre_of] >= cap))
        if not eligible.any():
            eligible = available
        j = int(np.argmax(np.where(eligible, mmr, -np.inf)))
        picks.append(int(pool[j]))
        available[j] = False
        if has_genre[j]:
            picked_per_genre[genre_of[j]] += 1
        cosine = vectors @ vectors[j]
        overlap = genres @ genres[j]
        union = genre_counts + genre_counts[j] - overlap
        jaccard = np.where(union > 0, overlap / np.maximum(union, 1e-9), 0.0)
        similarity = np.maximum(
            similarity, weights.mmr_vector * cosine + weights.mmr_genres * jaccard
        )
    return picks


STRONG_AFFINITY = 0.9
"""A title is explained by the user's history only if it is among roughly their best-matching
tenth of the catalogue (or co-liked with something they liked); otherwise by preferences,
recency or popularity."""


def _reason(
    catalogue: Catalogue,
    row: int,
    parts: Components,
    profile: Profile | None,
    neighbours: Neighbours,
) -> str:
    item = catalogue.items[row]
    genre = item.genres[0] if item.genres else None
    personal = parts.collaborative[row] > 0 or parts.affinity[row] >= STRONG_AFFINITY
    reason = None
    if profile is not None and personal:
        reason = _personal_reason(catalogue, row, parts, profile, neighbours)
    elif profile is not None and parts.preference[row] > 0:
        reason = _preference_reason(catalogue, row, profile.preferences)
    if reason is not None:
        return reason
    if parts.recency[row] > parts.popularity[row]:
        return f"new in {genre}" if genre else "new release"
    return f"popular in {genre}" if genre else "popular right now"


def _personal_reason(
    catalogue: Catalogue, row: int, parts: Components, profile: Profile, neighbours: Neighbours
) -> str:
    anchor = _anchor(catalogue, row, parts, profile, neighbours)
    if anchor is None:
        return "matches your taste"
    title, verb = anchor
    if verb == "rated":
        return f"because you rated {title} highly"
    if verb == "added":
        return f"because you added {title} to your watchlist"
    return f"because you watched {title}"


def _preference_reason(catalogue: Catalogue, row: int, preferences: Preferences) -> str | None:
    item = catalogue.items[row]
    genre = next((g for g in item.genres if g in set(preferences.genres)), None)
    if genre:
        return f"matches your interest in {genre}"
    mood = next((m for m in item.moods if m in set(preferences.moods)), None)
    return f"for when you want something {mood}" if mood else None


def _anchor(
    catalogue: Catalogue, row: int, parts: Components, profile: Profile, neighbours: Neighbours
) -> tuple[str, str] | None:
    """The liked title that best explains ``row``: by co-occurrence if that part dominates,
    else by vector similarity. Returns (title, verb)."""
    liked = profile.liked()
    if not liked:
        return None
    target = catalogue.ids[row]
    if parts.collaborative[row] > parts.content[row]:
        best_id, best = None, 0.0
        for content_id, like in liked.items():
            value = like * neighbours.get(content_id, {}).get(target, 0.0)
            if value > best and content_id in catalogue.index:
                best_id, best = content_id, value
        if best_id is not None:
            return catalogue.items[catalogue.index[best_id]].title, profile.items[best_id].verb
    rows = [(cid, catalogue.index[cid]) for cid in liked if cid in catalogue.index]
    if not rows:
        return None
    similarity = catalogue.matrix[[r for _, r in rows]] @ catalogue.matrix[row]
    weighted = similarity * np.array([liked[cid] for cid, _ in rows])
    content_id, anchor_row = rows[int(np.argmax(weighted))]
    return catalogue.items[anchor_row].title, profile.items[content_id].verb


def recommend(
    catalogue: Catalogue,
    profile: Profile | None,
    derived: Derived | None,
    neighbours: Neighbours,
    weights: Weights,
    *,
    limit: int,
    exclude: set[str] | None = None,
) -> list[Recommendation]:
    """Recommendations over the whole catalogue.

    With history: content + collaborative + preference + popularity + recency. Without (cold
    start): stated preferences + popularity + recency. Excluded titles (completed, disliked,
    ``exclude``) never appear; the list is diversified by MMR with a genre cap
    (``weights.mmr_lambda``, ``weights.max_genre_share``).
    """
    if not len(catalogue) or limit <= 0:
        return []
    preferences = profile.preferences if profile is not None else Preferences()
    use = derived if profile is not None and profile.has_history else None
    parts = components(catalogue, use, preferences, weights)
    score = parts.total()
    banned = set(exclude or ())
    if profile is not None:
        banned |= profile.excluded()
    for content_id in banned:
        row = catalogue.index.get(content_id)
        if row is not None:
            score[row] = -np.inf
    pool = _pool(
        score,
        catalogue.primary_genre,
        size=max(limit * 4, 40),
        per_genre=max(2, math.ceil(limit / 2)),
    )
    picks = mmr_select(catalogue, pool, score, limit, weights)
    return [
        Recommendation(
            content_id=catalogue.ids[row],
            row=row,
            score=float(score[row]),
            reason=_reason(catalogue, row, parts, profile, neighbours),
        )
        for row in picks
    ]

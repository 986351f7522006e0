"""The scoring and ranking engine: pure functions over numpy arrays and plain data, no I/O.

Score of an item for a user = a weighted mix of components, each scaled to 0..1:

- **content**: cosine of the user's profile vector with the item, calibrated per user (the
  cosine's z-score within the user's catalogue-wide distribution through a logistic curve), so
  the weight means the same whatever the embedder's cosine range is;
- **collaborative**: Σ over the user's liked items p of like(p) · sim(p, item), where sim is the
  item-item co-occurrence cosine, divided by its maximum for this user;
- **popularity** (catalogue percentile) and **recency** (release-year half-life);
- **preference** (stated genres and moods; recommendations only);
- **given rank** (re-ranking only): 1/log2(position + 2), so the caller's relevance order (search)
  still counts.

Diversity: re-ranking subtracts ``diversity · log2(1 + r)`` where r is how many better-scored
candidates share the main genre (a closed form of greedy genre decay, O(n log n));
recommendations use maximal marginal relevance (similarity = mean of vector cosine and genre
Jaccard) with a cap on any one main genre's share. Ties keep the given order (stable sorts
everywhere).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from mediagw.sona.catalogue import Catalogue, Vector
from mediagw.sona.settings import Weights

Neighbours = Mapping[str, Mapping[str, float]]
"""Item-item similarity: content id → {neighbour id: score in 0..1}, top-K per item."""

KINDS = ("view", "complete", "rate", "skip", "watchlist_add", "watchlist_remove")
POSITIVE_RATING = 3.5
NEGATIVE_RATING = 2.5
VIEW_POSITIVE_FRACTION = 0.5
VIEW_COMPLETE_FRACTION = 0.9
CONTINUE_RANGE = (0.05, 0.9)
LOGISTIC_SLOPE = 1.702  # logistic(1.702 z) ≈ the normal CDF of z


# --- signals and profiles ------------------------------------------------------------------


FIXED_WEIGHTS = {"complete": 1.0, "watchlist_add": 0.5, "watchlist_remove": -0.2, "skip": -0.6}


def signal_weight(kind: str, value: float | None) -> float:
    """How strongly one interaction pulls the profile towards (> 0) or away from (< 0) the item.

    complete +1; rate >= 3.5 -> +0.4..+1, rate < 2.5 -> -1..0 (in between: neutral);
    view >= half watched -> +0.45..+0.7 (less: neutral); watchlist_add +0.5;
    watchlist_remove -0.2; skip -0.6.
    """
    if kind in FIXED_WEIGHTS:
        return FIXED_WEIGHTS[kind]
    if kind == "rate":
        rating = value if value is not None else 0.0
        neutral = NEGATIVE_RATING <= rating < POSITIVE_RATING
        return 0.0 if neutral else (rating - 2.5) / 2.5
    if kind == "view":
        positive = value is not None and value >= VIEW_POSITIVE_FRACTION
        return 0.2 + 0.5 * value if positive and value is not None else 0.0
    raise ValueError(f"unknown interaction kind {kind!r}")


def update_vector(
    accumulator: Vector | None, item: Vector | None, weight: float, decay: float
) -> Vector | None:
    """The profile after one signal: ``decay · profile + weight · item``.

    The profile is an exponentially-decayed weighted sum of item vectors (its direction is the
    taste; cosine ignores the length). Positive weights pull it towards the item, negative ones
    push it away; a neutral signal or an item without a vector leaves it unchanged.
    """
    if item is None or weight == 0.0:
        return accumulator
    base = accumulator * decay if accumulator is not None else np.zeros_like(item)
    result: Vector = (base + weight * item).astype(np.float32)
    return result


@dataclass
class ItemState:
    """What one user did with one title, folded over all their interactions with it."""

    weight: float = 0.0
    """Net like (> 0) or dislike (< 0): the latest signal's sign wins, the largest magnitude
    within that sign."""
    verb: str = "watched"
    """For reasons: watched, rated … highly, added … to your watchlist."""
    progress: float | None = None
    completed: bool = False
    last_at: float = 0.0

    def apply(self, kind: str, value: float | None, weight: float, at: float) -> None:
        if weight > 0:
            self.weight = max(self.weight, weight) if self.weight > 0 else weight
            self.verb = {"rate": "rated", "watchlist_add": "added"}.get(kind, "watched")
        elif weight < 0:
            self.weight = min(self.weight, weight) if self.weight < 0 else weight
        if kind == "complete" or (
            kind == "view" and value is not None and value >= VIEW_COMPLETE_FRACTION
        ):
            self.completed = True
        if kind == "view" and value is not None:
            self.progress = value
        self.last_at = max(self.last_at, at)


@dataclass(frozen=True)
class Preferences:
    genres: tuple[str, ...] = ()
    moods: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.genres or self.moods)


@dataclass
class Derived:
    """Per-user values derived from the profile and the current catalogue / neighbours."""

    catalogue_version: int
    neighbours_version: int
    unit: Vector | None
    mean: float
    std: float
    collab: dict[str, float]
    collab_max: float


@dataclass
class Profile:
    """A user's taste: the profile vector, per-title states, stated preferences."""

    user_id: str
    vector: Vector | None = None
    interaction_count: int = 0
    items: dict[str, ItemState] = field(default_factory=dict)
    preferences: Preferences = field(default_factory=Preferences)
    derived: Derived | None = field(default=None, repr=False, compare=False)

    @property
    def has_history(self) -> bool:
        return self.interaction_count > 0

    def apply(
        self,
        content_id: str,
        kind: str,
        value: float | None,
        at: float,
        item_vector: Vector | None,
        *,
        decay: float,
        history_limit: int,
    ) -> float:
        """Fold one interaction in; returns its signal weight."""
        weight = signal_weight(kind, value)
        self.vector = update_vector(self.vector, item_vector, weight, decay)
        state = self.items.pop(content_id, None) or ItemState()
        state.apply(kind, value, weight, at)
        self.items[content_id] = state  # re-inserted: the dict is ordered oldest → newest
        while len(self.items) > history_limit:
            del self.items[next(iter(self.items))]
        self.interaction_count += 1
        self.derived = None
        return weight

    def liked(self) -> dict[str, float]:
        return {cid: min(1.0, s.weight) for cid, s in self.items.items() if s.weight > 0}

    def excluded(self) -> set[str]:
        """Titles never to recommend again: completed ones and disliked ones."""
        return {cid for cid, s in self.items.items() if s.completed or s.weight < 0}


def collaborative_scores(liked: Mapping[str, float], neighbours: Neighbours) -> dict[str, float]:
    """Σ_p like(p) · sim(p, item) over the user's liked items, per neighbouring item."""
    scores: dict[str, float] = {}
    for content_id, like in liked.items():
        for neighbour, similarity in neighbours.get(content_id, {}).items():
            scores[neighbour] = scores.get(neighbour, 0.0) + like * similarity
    return scores


def derive(
    profile: Profile, catalogue: Catalogue, neighbours: Neighbours, neighbours_version: int
) -> Derived:
    """The profile's derived values for this catalogue and neighbour table (cached on it)."""
    cached = profile.derived
    if (
        cached is not None
        and cached.catalogue_version == catalogue.version
        and cached.neighbours_version == neighbours_version
    ):
        return cached
    unit: Vector | None = None
    mean, std = 0.0, 1.0
    vector = profile.vector
    if vector is not None and vector.shape == (catalogue.dim,):
        norm = float(np.linalg.norm(vector))
        if norm > 1e-9:
            unit = (vector / norm).astype(np.float32)
            if len(catalogue):
                cosines = catalogue.matrix @ unit
                mean, std = float(cosines.mean()), float(cosines.std())
                std = std if std > 1e-6 else 1.0
    collab = collaborative_scores(profile.liked(), neighbours) if neighbours else {}
    collab_max = max(collab.values(), default=0.0)
    profile.derived = Derived(
        catalogue.version, neighbours_version, unit, mean, std, collab, collab_max
    )
    return profile.derived


def calibrated(cosines: npt.NDArray[np.float32], derived: Derived) -> npt.NDArray[np.float32]:
    """Cosines → 0..1 by the user's own distribution (≈ percentile of the z-score)."""
    z = (cosines - derived.mean) / derived.std
    result: npt.NDArray[np.float32] = (1.0 / (1.0 + np.exp(-LOGISTIC_SLOPE * z))).astype(np.float32)
    return result


# --- re-ranking ---------------------------------------------------------------------------


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


# --- recommendations -------------------------------------------------------------------------


@dataclass(frozen=True)
class Recommendation:
    content_id: str
    row: int
    score: float
    reason: str


def preference_match(catalogue: Catalogue, preferences: Preferences) -> npt.NDArray[np.float32]:
    """0..1 per item: 0.75 if it has a preferred genre, + 0.25 if it has a preferred mood."""
    n = len(catalogue)
    match = np.zeros(n, dtype=np.float32)
    if preferences.genres:
        match += 0.75 * ((catalogue.genres @ catalogue.genre_mask(preferences.genres)) > 0)
    if preferences.moods:
        match += 0.25 * ((catalogue.moods @ catalogue.mood_mask(preferences.moods)) > 0)
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
    preference = weights.preference * preference_match(catalogue, preferences).astype(np.float64)
    return Components(
        content=weights.content * affinity,
        collaborative=collab,
        preference=preference,
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
    mmr_lambda: float,
    max_genre_share: float,
) -> list[int]:
    """Greedy maximal marginal relevance over ``pool`` (rows), with a main-genre cap.

    Picks argmax λ·rel - (1-λ)·max-similarity-to-picked, where similarity is the mean of the
    vector cosine and the genre Jaccard index; a genre that already fills ``max_genre_share`` of
    the list is skipped while any other candidate remains. Returns rows in pick order.
    """
    if len(pool) == 0 or limit <= 0:
        return []
    rel = relevance[pool]
    span = float(rel.max() - rel.min())
    rel = (rel - rel.min()) / span if span > 1e-12 else np.ones_like(rel)
    vectors = catalogue.matrix[pool]
    genres = catalogue.genres[pool]
    genre_counts = genres.sum(axis=1)
    primary = catalogue.primary_genre[pool]
    cap = max(1, math.ceil(limit * max_genre_share))
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
        similarity = np.maximum(similarity, 0.5 * cosine + 0.5 * jaccard)
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
    mmr_lambda: float = 0.75,
    max_genre_share: float = 0.5,
    exclude: set[str] | None = None,
) -> list[Recommendation]:
    """Recommendations over the whole catalogue.

    With history: content + collaborative + preference + popularity + recency. Without (cold
    start): stated preferences + popularity + recency. Excluded titles (completed, disliked,
    ``exclude``) never appear; the list is diversified by MMR with a genre cap.
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
    picks = mmr_select(catalogue, pool, score, limit, mmr_lambda, max_genre_share)
    return [
        Recommendation(
            content_id=catalogue.ids[row],
            row=row,
            score=float(score[row]),
            reason=_reason(catalogue, row, parts, profile, neighbours),
        )
        for row in picks
    ]


def similar_items(
    catalogue: Catalogue,
    content_id: str,
    neighbours: Neighbours,
    *,
    limit: int,
    exclude: set[str] | None = None,
) -> list[Recommendation]:
    """Titles like ``content_id``: 0.6 · vector cosine + 0.4 · co-occurrence similarity."""
    row = catalogue.index.get(content_id)
    if row is None:
        return []
    score = (0.6 * (catalogue.matrix @ catalogue.matrix[row])).astype(np.float64)
    for neighbour, similarity in neighbours.get(content_id, {}).items():
        other = catalogue.index.get(neighbour)
        if other is not None:
            score[other] += 0.4 * similarity
    score[row] = -np.inf
    for banned in exclude or ():
        banned_row = catalogue.index.get(banned)
        if banned_row is not None:
            score[banned_row] = -np.inf
    valid = np.flatnonzero(np.isfinite(score))
    order = valid[np.argsort(-score[valid], kind="stable")][:limit]
    title = catalogue.items[row].title
    return [
        Recommendation(catalogue.ids[r], int(r), float(score[r]), f"similar to {title}")
        for r in order
    ]

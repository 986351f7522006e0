"""A user's taste as the engine sees it, and the per-user values scoring derives from it.

``Profile`` folds interactions in (the profile vector, per-title states, stated preferences);
``derive`` turns it into what scoring needs for the current catalogue and neighbour table (the
unit vector, the user's cosine distribution, collaborative scores), cached on the profile.

Pure data and arithmetic, no I/O. Keeping profiles hot and persistent (LRU, Redis, PostgreSQL)
and their cache form is ``mediagw.sona.profiles`` (``ProfileStore``); the neighbour table that
``collaborative_scores`` reads is computed by ``mediagw.sona.cooccurrence``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from mediagw.sona.catalogue import Catalogue, Vector
from mediagw.sona.engine.signals import VIEW_COMPLETE_FRACTION, signal_weight, update_vector

Neighbours = Mapping[str, Mapping[str, float]]
"""Item-item similarity: content id → {neighbour id: score in 0..1}, top-K per item."""

LOGISTIC_SLOPE = 1.702  # logistic(1.702 z) ≈ the normal CDF of z


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

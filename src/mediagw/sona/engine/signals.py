"""What one interaction means for a user's taste: the interaction kinds, and the signed weight
each kind and value gives when it is folded into the profile vector.

This is the single source of the interaction kinds: ``InteractionKind`` is the type the API
accepts (``mediagw.sona.schemas``) and ``INTERACTION_KINDS`` the same names as a tuple. The
database's CHECK constraint (``migrations/006_sona.up.sql``) and the "liked" filter of the
similarity job (``mediagw.sona.store.POSITIVE_SQL``) restate them in SQL.

The signal weights are not part of ``Weights``: they are baked into the stored profile vectors,
so they stay fixed rather than tunable per deployment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal, get_args

import numpy as np

from mediagw.sona.catalogue import Vector

InteractionKind = Literal["view", "complete", "rate", "skip", "watchlist_add", "watchlist_remove"]
INTERACTION_KINDS: Final[tuple[InteractionKind, ...]] = get_args(InteractionKind)

POSITIVE_RATING = 3.5
NEGATIVE_RATING = 2.5
RATING_MIDPOINT = 2.5
"""A rating maps linearly onto -1..+1 around this (0 → -1, 5 → +1)."""
VIEW_POSITIVE_FRACTION = 0.5
VIEW_COMPLETE_FRACTION = 0.9
VIEW_BASE_WEIGHT = 0.2
VIEW_PROGRESS_WEIGHT = 0.5
"""A positive view weighs ``VIEW_BASE_WEIGHT + VIEW_PROGRESS_WEIGHT · share watched``."""
CONTINUE_RANGE = (0.05, 0.9)
"""Progress strictly inside this range puts a title on the "continue watching" list."""

FIXED_WEIGHTS: Mapping[str, float] = {
    "complete": 1.0,
    "watchlist_add": 0.5,
    "watchlist_remove": -0.2,
    "skip": -0.6,
}
"""Kinds whose weight does not depend on the value; ``rate`` and ``view`` are computed."""


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
        return 0.0 if neutral else (rating - RATING_MIDPOINT) / RATING_MIDPOINT
    if kind == "view":
        positive = value is not None and value >= VIEW_POSITIVE_FRACTION
        if positive and value is not None:
            return VIEW_BASE_WEIGHT + VIEW_PROGRESS_WEIGHT * value
        return 0.0
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

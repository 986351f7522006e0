"""The scoring and ranking engine: pure functions over numpy arrays and plain data, no I/O.

Score of an item for a user = a weighted mix of components, each scaled to 0..1 and weighted by
``mediagw.sona.settings.Weights``:

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
recommendations use maximal marginal relevance (similarity = a weighted mix, by default the
mean, of vector cosine and genre Jaccard) with a cap on any one main genre's share. Ties keep
the given order (stable sorts everywhere).

One module per job, each depending only on the ones before it:

- ``signals``: interaction kinds and what each one weighs;
- ``taste``: the user's profile and the per-user values scoring derives from it;
- ``reranking``: ordering a caller's candidate list;
- ``recommendations``: recommendations over the catalogue, MMR, reasons;
- ``similar``: titles similar to one title.

This package re-exports their public names: import from ``mediagw.sona.engine``. Around it,
``mediagw.sona.profiles`` keeps profiles hot and persistent (LRU, Redis, PostgreSQL) and
``mediagw.sona.cooccurrence`` computes the item-item neighbour table the engine reads.
"""

from __future__ import annotations

from mediagw.sona.engine.recommendations import (
    STRONG_AFFINITY,
    Components,
    Recommendation,
    components,
    mmr_select,
    preference_match,
    recommend,
)
from mediagw.sona.engine.reranking import (
    given_order,
    given_rank_prior,
    rank_within_group,
    rerank,
    unique,
)
from mediagw.sona.engine.signals import (
    CONTINUE_RANGE,
    FIXED_WEIGHTS,
    INTERACTION_KINDS,
    NEGATIVE_RATING,
    POSITIVE_RATING,
    VIEW_COMPLETE_FRACTION,
    VIEW_POSITIVE_FRACTION,
    InteractionKind,
    signal_weight,
    update_vector,
)
from mediagw.sona.engine.similar import similar_items
from mediagw.sona.engine.taste import (
    LOGISTIC_SLOPE,
    Derived,
    ItemState,
    Neighbours,
    Preferences,
    Profile,
    calibrated,
    collaborative_scores,
    derive,
)

__all__ = [
    "CONTINUE_RANGE",
    "FIXED_WEIGHTS",
    "INTERACTION_KINDS",
    "LOGISTIC_SLOPE",
    "NEGATIVE_RATING",
    "POSITIVE_RATING",
    "STRONG_AFFINITY",
    "VIEW_COMPLETE_FRACTION",
    "VIEW_POSITIVE_FRACTION",
    "Components",
    "Derived",
    "InteractionKind",
    "ItemState",
    "Neighbours",
    "Preferences",
    "Profile",
    "Recommendation",
    "calibrated",
    "collaborative_scores",
    "components",
    "derive",
    "given_order",
    "given_rank_prior",
    "mmr_select",
    "preference_match",
    "rank_within_group",
    "recommend",
    "rerank",
    "signal_weight",
    "similar_items",
    "unique",
    "update_vector",
]

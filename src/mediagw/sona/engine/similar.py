"""Titles similar to one given title: "more like this" (``context=similar``).

Similarity mixes the vector cosine with the item-item co-occurrence score from the neighbour
table (``weights.similar_content``, ``weights.similar_collaborative``). The table itself is
computed by ``mediagw.sona.cooccurrence`` (the similarity job); this module only reads it.
Not personal beyond the titles the caller excludes.
"""

from __future__ import annotations

import numpy as np

from mediagw.sona.catalogue import Catalogue
from mediagw.sona.engine.recommendations import Recommendation
from mediagw.sona.engine.taste import Neighbours
from mediagw.sona.settings import Weights


def similar_items(
    catalogue: Catalogue,
    content_id: str,
    neighbours: Neighbours,
    weights: Weights,
    *,
    limit: int,
    exclude: set[str] | None = None,
) -> list[Recommendation]:
    """Titles like ``content_id``: ``similar_content`` (0.6) · vector cosine +
    ``similar_collaborative`` (0.4) · co-occurrence similarity."""
    row = catalogue.index.get(content_id)
    if row is None:
        return []
    cosine = catalogue.matrix @ catalogue.matrix[row]
    score = (weights.similar_content * cosine).astype(np.float64)
    for neighbour, similarity in neighbours.get(content_id, {}).items():
        other = catalogue.index.get(neighbour)
        if other is not None:
            score[other] += weights.similar_collaborative * similarity
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

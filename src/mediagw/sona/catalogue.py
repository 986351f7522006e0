"""The in-memory catalogue SONA scores against: one immutable snapshot of item vectors and facts.

A snapshot is never changed after it is built; a refresh builds the next one (copying the arrays,
a few milliseconds for thousands of titles) and swaps the reference, so a request that took a
snapshot scores against one consistent catalogue. Row numbers of existing titles are stable
across incremental updates (new titles are appended), so anything keyed by row stays valid.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from mediagw.common.taxonomy import GENRES, MOODS

Vector = npt.NDArray[np.float32]
UNKNOWN_YEAR_RECENCY = 0.25


@dataclass(frozen=True)
class CatalogueItem:
    """One title as SONA sees it (from content.embeddings joined with content.content)."""

    content_id: str
    vector: Vector
    title: str
    type: str
    genres: tuple[str, ...]
    moods: tuple[str, ...]
    popularity: float
    release_year: int | None


def percentile(values: npt.NDArray[np.float64]) -> Vector:
    """Each value's mid-rank percentile in 0..1 (ties share one value; one item → 1.0)."""
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    if n == 1:
        return np.ones(1, dtype=np.float32)
    ordered = np.sort(values)
    left = np.searchsorted(ordered, values, side="left")
    right = np.searchsorted(ordered, values, side="right")
    result: Vector = ((left + right - 1) / 2 / (n - 1)).astype(np.float32)
    return result


def _unit_rows(matrix: Vector) -> Vector:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    result: Vector = (matrix / norms).astype(np.float32, copy=False)
    return result


def _vocabulary(base: Sequence[str], seen: Iterable[Sequence[str]]) -> tuple[str, ...]:
    vocab = list(base)
    known = set(vocab)
    for names in seen:
        for name in names:
            if name not in known:
                known.add(name)
                vocab.append(name)
    return tuple(vocab)


def _multi_hot(rows: Sequence[Sequence[str]], vocab: Sequence[str]) -> Vector:
    position = {name: i for i, name in enumerate(vocab)}
    matrix = np.zeros((len(rows), len(vocab)), dtype=np.float32)
    for row, names in enumerate(rows):
        for name in names:
            matrix[row, position[name]] = 1.0
    return matrix


class Catalogue:
    """An immutable snapshot: item matrix (unit rows), genre/mood multi-hot, popularity
    percentile, recency, titles. Build with :meth:`build`; derive the next with :meth:`updated`.
    """

    def __init__(
        self,
        *,
        version: int,
        dim: int,
        items: Sequence[CatalogueItem],
        matrix: Vector,
        year: int,
        half_life_years: float,
    ) -> None:
        self.version = version
        self.dim = dim
        self.year = year
        self.half_life_years = half_life_years
        self.items: tuple[CatalogueItem, ...] = tuple(items)
        self.ids: tuple[str, ...] = tuple(item.content_id for item in items)
        self.index: dict[str, int] = {cid: row for row, cid in enumerate(self.ids)}
        self.matrix: Vector = matrix
        self.genre_vocab = _vocabulary(GENRES, (item.genres for item in items))
        self.mood_vocab = _vocabulary(MOODS, (item.moods for item in items))
        self.genre_position = {name: i for i, name in enumerate(self.genre_vocab)}
        self.mood_position = {name: i for i, name in enumerate(self.mood_vocab)}
        self.genres: Vector = _multi_hot([item.genres for item in items], self.genre_vocab)
        self.moods: Vector = _multi_hot([item.moods for item in items], self.mood_vocab)
        self.primary_genre: npt.NDArray[np.int64] = np.array(
            [self.genre_position[item.genres[0]] if item.genres else -1 for item in items],
            dtype=np.int64,
        )
        self.popularity: Vector = percentile(
            np.array([item.popularity for item in items], dtype=np.float64)
        )
        ages = np.array(
            [max(0, year - item.release_year) if item.release_year else -1 for item in items],
            dtype=np.float64,
        )
        recency = np.where(ages < 0, UNKNOWN_YEAR_RECENCY, 0.5 ** (ages / half_life_years))
        self.recency: Vector = recency.astype(np.float32)

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(
        cls,
        items: Sequence[CatalogueItem],
        *,
        dim: int,
        version: int = 1,
        year: int | None = None,
        half_life_years: float = 8.0,
    ) -> Catalogue:
        kept = [item for item in items if item.vector.shape == (dim,)]
        matrix = (
            _unit_rows(np.stack([item.vector for item in kept]).astype(np.float32))
            if kept
            else np.zeros((0, dim), dtype=np.float32)
        )
        return cls(
            version=version,
            dim=dim,
            items=kept,
            matrix=matrix,
            year=year if year is not None else datetime.now(UTC).year,
            half_life_years=half_life_years,
        )

    @classmethod
    def empty(cls, dim: int, half_life_years: float = 8.0) -> Catalogue:
        return cls.build([], dim=dim, version=0, half_life_years=half_life_years)

    def updated(self, changes: Sequence[CatalogueItem]) -> Catalogue:
        """The next snapshot with ``changes`` applied: changed titles keep their rows, new
        titles are appended. Returns ``self`` when nothing changes."""
        changes = [item for item in changes if item.vector.shape == (self.dim,)]
        if not changes:
            return self
        items = list(self.items)
        matrix_rows: list[Vector] = []
        replaced: dict[int, Vector] = {}
        seen: dict[str, int] = {}
        for item in changes:
            row = self.index.get(item.content_id, seen.get(item.content_id))
            vector = item.vector.astype(np.float32)
            if row is None:
                seen[item.content_id] = len(items)
                items.append(item)
                matrix_rows.append(vector)
            elif row < len(self.items):
                items[row] = item
                replaced[row] = vector
            else:  # a title appended earlier in this same batch, changed again
                items[row] = item
                matrix_rows[row - len(self.items)] = vector
        matrix = self.matrix.copy()
        for row, vector in replaced.items():
            matrix[row] = vector
        if matrix_rows:
            matrix = np.vstack([matrix, np.stack(matrix_rows).astype(np.float32)])
        return Catalogue(
            version=self.version + 1,
            dim=self.dim,
            items=items,
            matrix=_unit_rows(matrix),
            year=self.year,
            half_life_years=self.half_life_years,
        )

    def genre_mask(self, names: Iterable[str]) -> Vector:
        mask = np.zeros(len(self.genre_vocab), dtype=np.float32)
        for name in names:
            if name in self.genre_position:
                mask[self.genre_position[name]] = 1.0
        return mask

    def mood_mask(self, names: Iterable[str]) -> Vector:
        mask = np.zeros(len(self.mood_vocab), dtype=np.float32)
        for name in names:
            if name in self.mood_position:
                mask[self.mood_position[name]] = 1.0
        return mask

"""SONA's view of the vocabulary: the shared genres and moods, and platform ids."""

from __future__ import annotations

from mediagw.common.taxonomy import GENRES, MOODS, Genre, Mood

PLATFORM_ID_PATTERN = r"^[a-z0-9][a-z0-9_]{0,63}$"
"""Same rule as ``content.platforms.id``."""

__all__ = ["GENRES", "MOODS", "PLATFORM_ID_PATTERN", "Genre", "Mood"]

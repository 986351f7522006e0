"""The canonical genre and mood vocabulary every service speaks.

Ingestion maps every feed's spelling onto these ids ("Science Fiction" → ``sci-fi``), so
preferences, catalogue rows and recommendation reasons all speak the same words.
"""

from __future__ import annotations

from typing import Literal, get_args

Genre = Literal[
    "action", "adventure", "animation", "comedy", "crime", "documentary", "drama", "family",
    "fantasy", "history", "horror", "musical", "mystery", "romance", "sci-fi", "thriller",
    "war", "western",
]  # fmt: skip
Mood = Literal[
    "funny", "dark", "uplifting", "tense", "romantic", "thoughtful", "scary", "quirky",
    "heartwarming", "epic",
]  # fmt: skip

GENRES: tuple[str, ...] = get_args(Genre)
MOODS: tuple[str, ...] = get_args(Mood)

PLATFORM_ID_PATTERN = r"^[a-z0-9][a-z0-9_]{0,63}$"
"""A platform id, the same rule as the database's ``content.platforms.id``."""

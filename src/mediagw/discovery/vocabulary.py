"""The catalogue's controlled vocabulary: genres, moods, content types and platform synonyms.

Canonical values are what ingestion writes into ``content.content`` and the Qdrant payload
(lower-case ids such as ``sci-fi``); the display names are for people. The genre and mood lists
match the catalogue generator's (a unit test checks they stay in step).
"""

from __future__ import annotations

from mediagw.common.taxonomy import GENRES, MOODS

CONTENT_TYPES: tuple[str, ...] = ("movie", "series", "episode", "documentary", "special")
"""The values ``content.content.type`` allows (its CHECK constraint)."""

GENRE_NAMES: dict[str, str] = {
    **{genre: genre.title() for genre in GENRES},
    "sci-fi": "Sci-Fi",
}
MOOD_NAMES: dict[str, str] = {mood: mood.title() for mood in MOODS}

# Natural-language phrases for each canonical value. Phrases are matched whole-word and
# case-insensitively, longest first; `query.py` decides the order between the families.
GENRE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "action": ("action", "action-packed", "action packed", "martial arts", "shoot-em-up"),
    "adventure": ("adventure", "adventures", "adventurous"),
    "animation": ("animation", "animated", "cartoon", "cartoons", "anime"),
    "comedy": ("comedy", "comedies", "comedic", "sitcom", "sitcoms", "stand-up", "standup"),
    "crime": ("crime", "gangster", "gangsters", "mafia", "mob", "heist", "heists"),
    "documentary": ("docuseries", "docu-series"),
    "drama": ("drama", "dramas", "dramatic"),
    "family": (
        "family", "family-friendly", "family friendly", "kids", "for kids", "kid-friendly",
        "children", "children's", "childrens",
    ),
    "fantasy": ("fantasy", "fantasies"),
    "history": ("history", "historical", "period piece", "period pieces"),
    "horror": ("horror", "horrors", "slasher", "slashers", "zombie", "zombies"),
    "musical": ("musical", "musicals"),
    "mystery": ("mystery", "mysteries", "whodunit", "whodunits", "whodunnit", "detective"),
    "romance": ("romance", "romances", "love story", "love stories"),
    "sci-fi": (
        "sci-fi", "scifi", "sci fi", "science fiction", "science-fiction", "space opera",
        "cyberpunk",
    ),
    "thriller": ("thriller", "thrillers"),
    "war": ("war", "wwii", "ww2", "world war", "world war ii", "world war 2", "military"),
    "western": ("western", "westerns", "cowboy", "cowboys"),
}  # fmt: skip
COMBINED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # phrase: (genres, moods)
    "romantic comedy": (("romance", "comedy"), ()),
    "romantic comedies": (("romance", "comedy"), ()),
    "rom-com": (("romance", "comedy"), ()),
    "rom-coms": (("romance", "comedy"), ()),
    "romcom": (("romance", "comedy"), ()),
    "romcoms": (("romance", "comedy"), ()),
    "period drama": (("history", "drama"), ()),
    "period dramas": (("history", "drama"), ()),
    "dark comedy": (("comedy",), ("dark",)),
    "dark comedies": (("comedy",), ("dark",)),
}
"""Phrases naming several genres or a genre and a mood (longer phrases win, so these are
taken before the single words inside them)."""

HORROR_BEFORE_TYPE: tuple[str, ...] = ("scary", "spooky", "creepy", "terrifying", "frightening")
"""Mood words that name the horror genre when a type word follows ("scary movies")."""

MOOD_SYNONYMS: dict[str, tuple[str, ...]] = {
    "funny": (
        "funny", "hilarious", "humorous", "humourous", "laugh-out-loud", "laugh out loud",
        "lighthearted", "light-hearted",
    ),
    "dark": ("dark", "gritty", "bleak", "grim", "brooding"),
    "uplifting": (
        "uplifting", "inspiring", "inspirational", "feel-good", "feel good", "feelgood",
        "hopeful",
    ),
    "tense": (
        "tense", "suspenseful", "suspense", "gripping", "nail-biting", "nail biting", "intense",
        "edge of your seat", "edge-of-your-seat", "edge of my seat",
    ),
    "romantic": ("romantic", "passionate"),
    "thoughtful": (
        "thoughtful", "thought-provoking", "thought provoking", "cerebral", "philosophical",
        "mind-bending", "mind bending",
    ),
    "scary": ("scary", "terrifying", "creepy", "spooky", "chilling", "frightening"),
    "quirky": ("quirky", "offbeat", "weird", "whimsical", "eccentric", "odd"),
    "heartwarming": (
        "heartwarming", "heart-warming", "heart warming", "touching", "wholesome", "cozy", "cosy",
    ),
    "epic": ("epic", "sweeping", "spectacular"),
}  # fmt: skip

TYPE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "movie": ("movie", "movies", "film", "films", "flick", "flicks", "feature film"),
    "series": (
        "series", "tv series", "tv show", "tv shows", "show", "shows", "miniseries",
        "mini-series",
    ),
    "documentary": ("documentary", "documentaries", "docs"),
}  # fmt: skip
TYPE_WORDS: tuple[str, ...] = tuple(p for ps in TYPE_SYNONYMS.values() for p in ps)

PLATFORM_SYNONYMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # platform id: (phrases recognised anywhere, phrases recognised only after "on")
    "netflix": (("netflix",), ()),
    "prime": (
        ("prime video", "amazon prime video", "amazon prime", "amazon video", "primevideo"),
        ("prime", "amazon"),
    ),
    "disney": (("disney+", "disney plus", "disneyplus", "disney"), ()),
    "hulu": (("hulu",), ()),
    "max": (("hbo max", "hbomax", "hbo"), ("max",)),
    "appletv": (
        ("apple tv+", "apple tv plus", "apple tv", "appletv+", "appletv"),
        ("apple",),
    ),
}
"""How people name the catalogue's platforms. Platforms added later are recognised by their
id and name after "on" (the parser is built with the platforms the database knows)."""


def canonical_genre(value: str) -> str | None:
    """``"Sci-Fi"``, ``"science fiction"`` → ``"sci-fi"``; None when not a genre."""
    lowered = " ".join(value.strip().lower().split())
    if lowered in GENRES:
        return lowered
    return next((g for g, words in GENRE_SYNONYMS.items() if lowered in words), None)


def canonical_mood(value: str) -> str | None:
    lowered = " ".join(value.strip().lower().split())
    if lowered in MOODS:
        return lowered
    return next((m for m, words in MOOD_SYNONYMS.items() if lowered in words), None)


def canonical_type(value: str) -> str | None:
    lowered = " ".join(value.strip().lower().split())
    if lowered in CONTENT_TYPES:
        return lowered
    return next((t for t, words in TYPE_SYNONYMS.items() if lowered in words), None)

"""The discovery query parser: natural language → filters + free text, and explicit overrides."""

from __future__ import annotations

from typing import Any

import pytest

from harness import catalogue
from mediagw.discovery.query import (
    ExplicitFilters,
    FieldNames,
    ParsedQuery,
    QueryParser,
    UnknownFilterValue,
    normalise,
    resolve_filters,
)
from mediagw.discovery.vocabulary import (
    CONTENT_TYPES,
    GENRES,
    MOODS,
    PLATFORM_SYNONYMS,
    canonical_genre,
    canonical_mood,
    canonical_type,
)

pytestmark = pytest.mark.unit

PARSER = QueryParser()


def parse(query: str) -> ParsedQuery:
    return PARSER.parse(query)


def fields(parsed: ParsedQuery) -> dict[str, Any]:
    """The parsed filters that are set (empty ones left out), plus the free text."""
    found: dict[str, Any] = {"text": parsed.text}
    for name in ("genres", "moods", "platforms", "types"):
        if getattr(parsed, name):
            found[name] = list(getattr(parsed, name))
    if parsed.year_from is not None or parsed.year_to is not None:
        found["years"] = (parsed.year_from, parsed.year_to)
    if parsed.rating_min is not None:
        found["rating_min"] = parsed.rating_min
    return found


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # the brief's example, and its spellings
        ("funny sci-fi from the 90s",
         {"text": "", "genres": ["sci-fi"], "moods": ["funny"], "years": (1990, 1999)}),
        ("Funny SCI-FI from the 1990s",
         {"text": "", "genres": ["sci-fi"], "moods": ["funny"], "years": (1990, 1999)}),
        ("science fiction", {"text": "", "genres": ["sci-fi"]}),
        ("science-fiction", {"text": "", "genres": ["sci-fi"]}),
        ("scifi", {"text": "", "genres": ["sci-fi"]}),
        ("sci fi", {"text": "", "genres": ["sci-fi"]}),
        ("hilarious space opera", {"text": "", "genres": ["sci-fi"], "moods": ["funny"]}),
        # horror: the genre, "scary" + a type word, or the mood alone
        ("horror", {"text": "", "genres": ["horror"]}),
        ("scary movies", {"text": "", "genres": ["horror"], "types": ["movie"]}),
        ("spooky films", {"text": "", "genres": ["horror"], "types": ["movie"]}),
        ("something scary", {"text": "", "moods": ["scary"]}),
        ("creepy zombie shows",
         {"text": "", "genres": ["horror"], "moods": ["scary"], "types": ["series"]}),
        # decades and years
        ("80s action", {"text": "", "genres": ["action"], "years": (1980, 1989)}),
        ("'90s", {"text": "", "years": (1990, 1999)}),
        ("westerns from the fifties", {"text": "", "genres": ["western"], "years": (1950, 1959)}),
        ("early 2000s", {"text": "", "years": (2000, 2003)}),
        ("late 80s", {"text": "", "years": (1986, 1989)}),
        ("mid-70s", {"text": "", "years": (1973, 1976)}),
        ("the 2010s", {"text": "", "years": (2010, 2019)}),
        ("in 1994", {"text": "", "years": (1994, 1994)}),
        ("released in 2005", {"text": "", "years": (2005, 2005)}),
        ("after 2010", {"text": "", "years": (2011, None)}),
        ("since 2015", {"text": "", "years": (2015, None)}),
        ("before 1980", {"text": "", "years": (None, 1979)}),
        ("until 1999", {"text": "", "years": (None, 1999)}),
        ("before the 80s", {"text": "", "years": (None, 1979)}),
        ("after the 90s", {"text": "", "years": (2000, None)}),
        ("between 1990 and 2000", {"text": "", "years": (1990, 2000)}),
        ("from 1985 to 1990", {"text": "", "years": (1985, 1990)}),
        ("1970-1975", {"text": "", "years": (1970, 1975)}),
        ("after 2000 before 2010", {"text": "", "years": (2001, 2009)}),
        # platforms
        ("on netflix", {"text": "", "platforms": ["netflix"]}),
        ("Netflix thrillers", {"text": "", "genres": ["thriller"], "platforms": ["netflix"]}),
        ("prime video", {"text": "", "platforms": ["prime"]}),
        ("streaming on amazon prime", {"text": "", "platforms": ["prime"]}),
        ("on prime", {"text": "", "platforms": ["prime"]}),
        ("disney+ cartoons", {"text": "", "genres": ["animation"], "platforms": ["disney"]}),
        ("disney plus", {"text": "", "platforms": ["disney"]}),
        ("hulu or hbo max", {"text": "", "platforms": ["hulu", "max"]}),
        ("on max", {"text": "", "platforms": ["max"]}),
        ("apple tv+", {"text": "", "platforms": ["appletv"]}),
        ("mad max", {"text": "mad max"}),
        ("prime suspect", {"text": "prime suspect"}),
        # types
        ("movie", {"text": "", "types": ["movie"]}),
        ("films", {"text": "", "types": ["movie"]}),
        ("tv shows", {"text": "", "types": ["series"]}),
        ("a series", {"text": "", "types": ["series"]}),
        ("documentary about bees", {"text": "bees", "types": ["documentary"]}),
        ("docuseries", {"text": "", "genres": ["documentary"]}),
        # ratings
        ("rated above 8", {"text": "", "rating_min": 8.0}),
        ("comedies rated over 7.5", {"text": "", "genres": ["comedy"], "rating_min": 7.5}),
        ("rated 9 or higher", {"text": "", "rating_min": 9.0}),
        ("8+ rating", {"text": "", "rating_min": 8.0}),
        ("highly rated dramas", {"text": "", "genres": ["drama"], "rating_min": 7.5}),
        ("top-rated", {"text": "", "rating_min": 7.5}),
        ("the best war films",
         {"text": "", "genres": ["war"], "types": ["movie"], "rating_min": 7.5}),
        ("rated above 80", {"text": "rated above 80"}),
        # several genres and moods in one phrase
        ("romantic comedy", {"text": "", "genres": ["romance", "comedy"]}),
        ("rom-coms", {"text": "", "genres": ["romance", "comedy"]}),
        ("something romantic", {"text": "", "moods": ["romantic"]}),
        ("dark comedy", {"text": "", "genres": ["comedy"], "moods": ["dark"]}),
        ("feel-good family movies",
         {"text": "", "genres": ["family"], "moods": ["uplifting"], "types": ["movie"]}),
        # free text
        ("crystal sword", {"text": "crystal sword"}),
        ("The Last Orbit", {"text": "last orbit"}),
        ("show me something funny", {"text": "", "moods": ["funny"]}),
        ("movies about robots", {"text": "robots", "types": ["movie"]}),
        ("haunted house on netflix from the 80s",
         {"text": "haunted house", "platforms": ["netflix"], "years": (1980, 1989)}),
        ("-horror ghosts", {"text": "-horror ghosts"}),
        ("star wars", {"text": "star wars"}),
        # everything at once
        (
            "highly rated funny sci-fi movies from the 90s on netflix about robots",
            {"text": "robots", "genres": ["sci-fi"], "moods": ["funny"], "types": ["movie"],
             "platforms": ["netflix"], "years": (1990, 1999), "rating_min": 7.5},
        ),
    ],
)  # fmt: skip
def test_phrasings_parse_to_filters_and_text(query: str, expected: dict[str, Any]) -> None:
    assert fields(parse(query)) == expected


def test_the_semantic_text_keeps_genre_and_mood_words_and_drops_the_rest() -> None:
    assert parse("funny sci-fi from the 90s").semantic_text == "funny sci-fi"
    assert parse("scary movies on hulu").semantic_text == "horror"
    assert parse("dark thriller about a heist").semantic_text == "dark thriller heist"
    # nothing but filters that say nothing about content: embed the whole query
    assert parse("movies on netflix").semantic_text == "movies on netflix"


@pytest.mark.parametrize(
    "query",
    [
        "'; DROP TABLE content.content; --",
        "日本の映画 アニメ",
        "émigré café 🎬",
        '"unbalanced',
        "%_\\",
        "x" * 500,
        "\x00\x01 tab\there",
        "((((((((((",
        "1999 2000 2001 1990-",
    ],
)
def test_any_text_parses_without_error(query: str) -> None:
    parsed = parse(query)
    assert parsed.query == normalise(query)
    assert "\x00" not in parsed.text
    assert "|" not in parsed.text.split()


def test_unicode_and_sql_looking_text_is_left_as_free_text() -> None:
    assert parse("日本の映画 アニメ").text == "日本の映画 アニメ"
    injection = parse("'; DROP TABLE content.content; --")
    assert injection.text == "' drop table content.content --"
    assert fields(injection).keys() == {"text"}


def test_normalise_folds_case_quotes_dashes_and_space() -> None:
    assert normalise("  The\u2019s  \u201cBest\u201d\u2014Ever\n") == 'the\'s "best"-ever'


def test_platforms_the_database_knows_are_recognised_after_on() -> None:
    parser = QueryParser([("crunchyroll", "Crunchyroll"), ("netflix", "Netflix")])
    assert parser.parse("anime on crunchyroll").platforms == ("crunchyroll",)
    assert parser.parse("anime on crunchyroll").genres == ("animation",)
    assert "crunchyroll" in parser.known_platforms
    assert parser.parse("netflix").platforms == ("netflix",)


# --- explicit filters -------------------------------------------------------------------------

KNOWN = {"known_genres": GENRES, "known_platforms": set(PLATFORM_SYNONYMS)}


def test_explicit_values_override_parsed_ones_field_by_field() -> None:
    parsed = parse("funny sci-fi from the 90s on netflix")
    filters = resolve_filters(
        parsed, ExplicitFilters(genres=["Comedy"], platforms=["Prime Video"]), **KNOWN
    )
    assert filters.genres == ("comedy",)
    assert filters.platforms == ("prime",)
    assert (filters.year_from, filters.year_to) == (1990, 1999), "not overridden: parsed stays"
    assert filters.moods == (), "parsed moods are preferences, not filters"
    assert filters.prefer_moods == ("funny",)


def test_an_explicit_year_bound_replaces_the_parsed_range() -> None:
    parsed = parse("sci-fi from the 90s")
    filters = resolve_filters(parsed, ExplicitFilters(year_from=2005), **KNOWN)
    assert (filters.year_from, filters.year_to) == (2005, None)


def test_explicit_moods_are_hard_filters() -> None:
    filters = resolve_filters(parse("funny space"), ExplicitFilters(moods=["epic"]), **KNOWN)
    assert filters.moods == ("epic",)
    assert filters.prefer_moods == ()


def test_comma_separated_and_repeated_values_are_alternatives() -> None:
    explicit = ExplicitFilters(genres=["drama,science fiction", "drama"], types=["film, show"])
    filters = resolve_filters(parse("x"), explicit, **KNOWN)
    assert filters.genres == ("drama", "sci-fi")
    assert filters.types == ("movie", "series")


@pytest.mark.parametrize(
    ("explicit", "field"),
    [
        (ExplicitFilters(genres=["space-opera-x"]), "genre"),
        (ExplicitFilters(moods=["grumpy"]), "mood"),
        (ExplicitFilters(platforms=["myspace"]), "platform"),
        (ExplicitFilters(types=["podcast"]), "type"),
    ],
)
def test_unknown_explicit_values_name_the_field(explicit: ExplicitFilters, field: str) -> None:
    with pytest.raises(UnknownFilterValue) as caught:
        resolve_filters(parse("anything"), explicit, **KNOWN)
    assert caught.value.field == field
    assert caught.value.message.startswith(f"{field}: unknown value")


def test_body_field_names_are_used_in_errors() -> None:
    names = FieldNames(genres="filters.genres", year_to="filters.year_to")
    with pytest.raises(UnknownFilterValue) as caught:
        resolve_filters(parse("x"), ExplicitFilters(genres=["nope"]), **KNOWN, names=names)
    assert caught.value.field == "filters.genres"


def test_an_inverted_explicit_year_range_is_read_in_order() -> None:
    filters = resolve_filters(parse("x"), ExplicitFilters(year_from=2000, year_to=1990), **KNOWN)
    assert (filters.year_from, filters.year_to) == (1990, 2000)


def test_genres_the_database_knows_are_accepted() -> None:
    filters = resolve_filters(
        parse("x"),
        ExplicitFilters(genres=["k-drama"]),
        known_genres={*GENRES, "k-drama"},
        known_platforms=set(),
    )
    assert filters.genres == ("k-drama",)


def test_no_filters_at_all_is_empty() -> None:
    filters = resolve_filters(parse("crystal sword"), ExplicitFilters(), **KNOWN)
    assert filters.is_empty
    assert not resolve_filters(parse("sci-fi"), ExplicitFilters(), **KNOWN).is_empty


# --- the vocabulary ---------------------------------------------------------------------------


def test_the_vocabulary_matches_the_catalogue_generator() -> None:
    assert GENRES == catalogue.GENRES
    assert MOODS == catalogue.MOODS
    assert set(PLATFORM_SYNONYMS) == {p.id for p in catalogue.PLATFORMS}


def test_canonical_values_accept_synonyms_and_case() -> None:
    assert canonical_genre("Science Fiction") == "sci-fi"
    assert canonical_genre("SCI-FI") == "sci-fi"
    assert canonical_genre("nope") is None
    assert canonical_mood("Hilarious") == "funny"
    assert canonical_type("Film") == "movie"
    assert canonical_type("TV Show") == "series"
    assert set(CONTENT_TYPES) == {"movie", "series", "episode", "documentary", "special"}

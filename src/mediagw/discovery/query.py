"""Natural-language queries → filters + free text.

``"funny sci-fi from the 90s on netflix"`` becomes genres ``[sci-fi]``, moods ``[funny]``,
years 1990-1999, platforms ``[netflix]`` and no free text. The parser is a set of
whole-word phrase rules applied in a fixed order — rating phrases, year ranges and bounds,
decades, single years, platforms, then genre / mood / type words (longest phrase first) — each
match removed from the text so the next rule cannot see it. What is left, minus filler words
("show me", "something", "with" …), is the free text for full-text search.

- Genres, platforms, types, years and ratings become hard filters.
- Moods are kept as *preferences*: the search ranks matching titles first but does not drop the
  others (a mood word in a sentence is a wish, not a constraint). Explicit mood filters — the
  ``filters.moods`` of ``POST /search/semantic`` or ``?mood=`` — are hard filters.
- Explicit parameters override the parsed value of the same field (a parsed year range is
  dropped as a whole when either explicit year bound is given). :func:`resolve_filters` checks
  explicit values and raises :class:`UnknownFilterValue` naming the field for unknown ones.

A few conventions: "after 2010" means 2011 onwards, "before 1980" up to 1979, "since"/"until"
include the year; "early/mid/late 90s" are 1990-93 / 1993-96 / 1996-99; two-digit decades
``00s`` to ``20s`` are 2000-2029, the others 1930-1999; "highly rated", "top rated", "best" mean a
rating of at least 7.5; "rated above 8" means at least 8. A word preceded by ``-`` is left to
full-text search (``-horror`` excludes the word, per ``websearch_to_tsquery``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from mediagw.common.taxonomy import MOODS
from mediagw.discovery.vocabulary import (
    COMBINED,
    CONTENT_TYPES,
    GENRE_SYNONYMS,
    HORROR_BEFORE_TYPE,
    MOOD_SYNONYMS,
    PLATFORM_SYNONYMS,
    TYPE_SYNONYMS,
    TYPE_WORDS,
    canonical_genre,
    canonical_mood,
    canonical_type,
)

MIN_YEAR = 1870
MAX_YEAR = 2200
HIGHLY_RATED = 7.5
_START = r"(?<![\w+\-'])"
_END = r"(?![\w+])"
_SEPARATOR = " | "
_YEAR = r"(1[89]\d\d|20\d\d)"
_DECADE_WORDS = {
    "forties": 1940, "fifties": 1950, "sixties": 1960, "seventies": 1970, "eighties": 1980,
    "nineties": 1990,
}  # fmt: skip
_DECADE = (
    r"(?:(early|mid|late)[\s-]*)?"
    r"(?:(1[89]\d0|20\d0)'?s|'?(\d)0'?s|(?:nineteen[\s-]+)?(forties|fifties|sixties|seventies"
    r"|eighties|nineties))"
)
_FILLER_WORDS = """a an the from in on of with and or for to by some something anything me i i'm
im want wanna watch watching find good great please like that are is was set streaming
available released made about recommend recommendations suggest suggestions stuff any what
whats what's which can could you give get looking look similar ones one really very nice
tonight now"""
FILLER = frozenset(_FILLER_WORDS.split())
_LEADING_FILLER = re.compile(
    _START
    + r"(?:can\s+you\s+|could\s+you\s+|please\s+)?(?:show|give|find|get|recommend)\s+me"
    + _END
)


class InvalidFilter(ValueError):
    """An explicit filter that cannot be applied; ``field`` names the parameter."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = f"{field}: {message}"
        super().__init__(self.message)


class UnknownFilterValue(InvalidFilter):
    """An explicit filter value the catalogue does not know."""

    def __init__(self, field: str, value: str, known: Iterable[str]) -> None:
        self.value = value
        super().__init__(field, f"unknown value {value!r} (known: {', '.join(sorted(known))})")


@dataclass(frozen=True)
class ParsedQuery:
    """What the parser found in one query string."""

    query: str
    """The normalised query (lower case, single spaces)."""
    text: str
    """Free text left after removing filter phrases and filler; may be empty."""
    semantic_text: str
    """What to embed: the free text plus the genre and mood phrases, in query order (the whole
    query when nothing is left)."""
    genres: tuple[str, ...] = ()
    moods: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    year_from: int | None = None
    year_to: int | None = None
    rating_min: float | None = None


@dataclass(frozen=True)
class Filters:
    """Hard filters of a search (every field must match; values within a field are any-of),
    plus the moods to prefer when ranking."""

    genres: tuple[str, ...] = ()
    moods: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    year_from: int | None = None
    year_to: int | None = None
    rating_min: float | None = None
    prefer_moods: tuple[str, ...] = field(default=())

    @property
    def is_empty(self) -> bool:
        return not (
            self.genres
            or self.moods
            or self.platforms
            or self.types
            or self.year_from is not None
            or self.year_to is not None
            or self.rating_min is not None
        )


@dataclass(frozen=True)
class ExplicitFilters:
    """Filters given as parameters; None (or empty) means "not given: use the parsed value"."""

    genres: Sequence[str] = ()
    moods: Sequence[str] = ()
    platforms: Sequence[str] = ()
    types: Sequence[str] = ()
    year_from: int | None = None
    year_to: int | None = None
    rating_min: float | None = None


def normalise(query: str) -> str:
    """Lower case, typographic quotes folded, control characters and runs of spaces collapsed."""
    text = query.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"')
    text = text.replace("\u201d", '"').replace("\u2013", "-").replace("\u2014", "-")
    text = re.sub(r"[\x00-\x1f\x7f]", " ", text)
    return " ".join(text.lower().split())


def _phrase(phrase: str) -> str:
    return r"\s+".join(re.escape(word) for word in phrase.split())


def _words(phrases: Iterable[str]) -> str:
    """An alternation of phrases, longest first so "world war ii" beats "war"."""
    return "|".join(_phrase(p) for p in sorted(set(phrases), key=len, reverse=True))


@dataclass
class _State:
    text: str
    genres: list[str] = field(default_factory=list)
    moods: list[str] = field(default_factory=list)
    platforms: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    year_from: int | None = None
    year_to: int | None = None
    rating_min: float | None = None
    semantic: list[tuple[int, str]] = field(default_factory=list)
    """(position, phrase) of genre and mood phrases, for the text to embed."""

    def bound_years(self, low: int | None, high: int | None) -> None:
        if low is not None:
            self.year_from = low if self.year_from is None else max(self.year_from, low)
        if high is not None:
            self.year_to = high if self.year_to is None else min(self.year_to, high)

    def consume(
        self, pattern: re.Pattern[str], handle: Callable[[re.Match[str]], bool | None]
    ) -> None:
        """Apply ``handle`` to each match; a match it accepts (not False) is cut from the text."""
        pieces, last = [], 0
        for match in pattern.finditer(self.text):
            if handle(match) is False:
                continue
            pieces.append(self.text[last : match.start()])
            pieces.append(_SEPARATOR)
            last = match.end()
        if pieces:
            pieces.append(self.text[last:])
            self.text = "".join(pieces)


def _add(values: list[str], *new: str) -> None:
    for value in new:
        if value not in values:
            values.append(value)


def _adder(values: list[str], value: str) -> Callable[[re.Match[str]], None]:
    def handle(_: re.Match[str]) -> None:
        _add(values, value)

    return handle


def _decade_span(match: re.Match[str], offset: int = 0) -> tuple[int, int] | None:
    """(first, last) year of a decade matched by ``_DECADE`` (groups from ``offset + 1``)."""
    part, full, short, word = (match.group(offset + i) for i in range(1, 5))
    if full:
        start = int(full)
    elif short is not None:
        digit = int(short)
        start = 2000 + digit * 10 if digit <= 2 else 1900 + digit * 10
    elif word:
        start = _DECADE_WORDS[word]
    else:  # pragma: no cover - the pattern always captures one of the three
        return None
    if part == "early":
        return start, start + 3
    if part == "mid":
        return start + 3, start + 6
    if part == "late":
        return start + 6, start + 9
    return start, start + 9


class QueryParser:
    """Parses queries; built once per process with the platforms the catalogue knows."""

    def __init__(self, platforms: Iterable[tuple[str, str]] = ()) -> None:
        """``platforms``: (id, display name) pairs from the database, beyond the built-in ones."""
        self._platform_rules: list[tuple[re.Pattern[str], str]] = []
        extra = {pid: {pid, name.lower()} for pid, name in platforms}
        lead = r"(?:(?:streaming|available|only|exclusively|watch|to\s+watch)\s+)?"
        for platform_id in sorted({*PLATFORM_SYNONYMS, *extra}):
            anywhere, after_on = PLATFORM_SYNONYMS.get(platform_id, ((), ()))
            on_only = {*after_on, *extra.get(platform_id, ())} - set(anywhere)
            alternatives = []
            if anywhere:
                alternatives.append(f"{lead}(?:on\\s+)?(?:{_words(anywhere)})")
            if on_only:
                alternatives.append(f"{lead}on\\s+(?:{_words(on_only)})")
            pattern = re.compile(_START + "(?:" + "|".join(alternatives) + ")" + _END)
            self._platform_rules.append((pattern, platform_id))
        self.known_platforms = frozenset({*PLATFORM_SYNONYMS, *extra})

        words: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {}
        for genre, phrases in GENRE_SYNONYMS.items():
            for phrase in phrases:
                words[phrase] = ((genre,), (), ())
        for mood, phrases in MOOD_SYNONYMS.items():
            for phrase in phrases:
                words.setdefault(phrase, ((), (mood,), ()))
        for content_type, phrases in TYPE_SYNONYMS.items():
            for phrase in phrases:
                words.setdefault(phrase, ((), (), (content_type,)))
        for phrase, (genres, moods) in COMBINED.items():
            words[phrase] = (genres, moods, ())
        self._vocabulary = {" ".join(p.split()): v for p, v in words.items()}
        self._vocabulary_pattern = re.compile(_START + f"(?:{_words(words)})" + _END)
        self._horror_pattern = re.compile(
            _START + f"(?:{_words(HORROR_BEFORE_TYPE)})" + _END + rf"(?=\s+(?:{_words(TYPE_WORDS)})"
            + _END + ")"
        )  # fmt: skip

    def parse(self, query: str) -> ParsedQuery:
        normalised = normalise(query)
        state = _State(normalised)
        state.consume(_LEADING_FILLER, lambda _: True)
        self._ratings(state)
        self._years(state)
        for pattern, platform_id in self._platform_rules:
            state.consume(pattern, _adder(state.platforms, platform_id))

        def horror(match: re.Match[str]) -> None:
            _add(state.genres, "horror")
            state.semantic.append((match.start(), "horror"))

        state.consume(self._horror_pattern, horror)

        def vocabulary(match: re.Match[str]) -> None:
            phrase = " ".join(match.group(0).split())
            genres, moods, types = self._vocabulary[phrase]
            _add(state.genres, *genres)
            _add(state.moods, *moods)
            _add(state.types, *types)
            if genres or moods:
                state.semantic.append((match.start(), phrase))

        state.consume(self._vocabulary_pattern, vocabulary)

        text = _free_text(state.text)
        semantic = " ".join(
            [phrase for _, phrase in sorted(state.semantic)] + ([text] if text else [])
        )
        low, high = state.year_from, state.year_to
        if low is not None and high is not None and low > high:
            # "after 2010 before 1990" asks for nothing; read it as the span between the two
            state.year_from, state.year_to = high, low
        return ParsedQuery(
            query=normalised,
            text=text,
            semantic_text=semantic or normalised,
            genres=tuple(state.genres),
            moods=tuple(state.moods),
            platforms=tuple(state.platforms),
            types=tuple(state.types),
            year_from=state.year_from,
            year_to=state.year_to,
            rating_min=state.rating_min,
        )

    @staticmethod
    def _ratings(state: _State) -> None:
        number = r"(\d{1,2}(?:\.\d+)?)"
        comparison = (
            r"(?:above|over|at\s+least|more\s+than|greater\s+than|higher\s+than|better\s+than"
            r"|>=|>|of)?"
        )
        after = r"(?:\s*\+|\s*/\s*10|\s+stars?|\s+or\s+(?:more|higher|above|better))?"
        rated = re.compile(
            _START + r"(?:with\s+(?:an?\s+)?)?(?:rated|rating|ratings|score|scored|scores)\s+"
            + comparison + r"\s*" + number + after + r"(?![\w.])"
        )  # fmt: skip
        plus = re.compile(
            _START + number + r"\s*(?:\+|or\s+(?:more|higher|above|better))\s*"
            r"(?:rated|rating|stars?)" + _END
        )
        acclaimed = re.compile(
            _START + r"(?:(?:highly|well|top|best|critically|very\s+well)[\s-]+(?:rated|reviewed"
            r"|acclaimed)|acclaimed|top[\s-]+rated|best)" + _END
        )

        def threshold(match: re.Match[str]) -> bool:
            value = float(match.group(1))
            if value > 10:
                return False
            state.rating_min = max(state.rating_min or 0.0, value)
            return True

        state.consume(rated, threshold)
        state.consume(plus, threshold)

        def high(_: re.Match[str]) -> None:
            state.rating_min = max(state.rating_min or 0.0, HIGHLY_RATED)

        state.consume(acclaimed, high)

    @staticmethod
    def _years(state: _State) -> None:
        lead = r"(?:(?:released|made|from|in)\s+)?"
        between = re.compile(
            _START + lead + r"between\s+(?:the\s+years\s+)?" + _YEAR + r"\s+and\s+" + _YEAR + _END
        )
        span = re.compile(
            _START + lead + _YEAR + r"\s*(?:-|to|until|till|through|thru)\s*" + _YEAR + _END
        )

        def year_span(match: re.Match[str]) -> None:
            low, high = sorted((int(match.group(1)), int(match.group(2))))
            state.bound_years(low, high)

        state.consume(between, year_span)
        state.consume(span, year_span)

        bound = re.compile(
            _START + r"(?:(?:released|made)\s+)?(after|since|post|newer\s+than|before|until|till"
            r"|pre|prior\s+to|up\s+to|older\s+than)[\s-]+(?:the\s+(?:year\s+)?)?(?:" + _YEAR
            + "|" + _DECADE + ")" + _END
        )  # fmt: skip

        def year_bound(match: re.Match[str]) -> None:
            word = " ".join(match.group(1).split())
            if match.group(2):
                first = last = int(match.group(2))
            else:
                decade = _decade_span(match, offset=2)
                assert decade is not None
                first, last = decade
            if word in {"after", "post", "newer than"}:
                state.bound_years(last + 1, None)
            elif word == "since":
                state.bound_years(first, None)
            elif word in {"until", "till", "up to"}:
                state.bound_years(None, last)
            else:  # before, pre, prior to, older than
                state.bound_years(None, first - 1)

        state.consume(bound, year_bound)

        decade = re.compile(_START + r"(?:(?:from|in|of|during)\s+)?(?:the\s+)?" + _DECADE + _END)

        def decade_span(match: re.Match[str]) -> None:
            found = _decade_span(match)
            assert found is not None
            state.bound_years(*found)

        state.consume(decade, decade_span)

        single = re.compile(
            _START + r"(?:(?:released|made|from|in|of|year)\s+(?:the\s+year\s+)?" + _YEAR
            + r"|\(" + _YEAR + r"\))" + _END
        )  # fmt: skip

        def one_year(match: re.Match[str]) -> None:
            year = int(match.group(1) or match.group(2))
            state.bound_years(year, year)

        state.consume(single, one_year)


def _free_text(text: str) -> str:
    words = []
    for token in text.split():
        bare = token.strip(".,;:!?")
        if not bare or bare == _SEPARATOR.strip() or bare in FILLER:
            continue
        words.append(token.strip(",;:!?"))
    return " ".join(words)


def _explicit(
    field_name: str,
    values: Sequence[str],
    canonical: Callable[[str], str | None],
    known: Iterable[str],
) -> tuple[str, ...]:
    result: list[str] = []
    for raw in values:
        for value in raw.split(","):
            if not value.strip():
                continue
            found = canonical(value)
            if found is None:
                raise UnknownFilterValue(field_name, value.strip(), known)
            _add(result, found)
    return tuple(result)


@dataclass(frozen=True)
class FieldNames:
    """How the explicit filters are named in the request (query parameter or body path)."""

    genres: str = "genre"
    moods: str = "mood"
    platforms: str = "platform"
    types: str = "type"
    year_to: str = "year_to"


def resolve_filters(
    parsed: ParsedQuery,
    explicit: ExplicitFilters,
    *,
    known_genres: Iterable[str],
    known_platforms: Iterable[str],
    names: FieldNames = FieldNames(),
) -> Filters:
    """Merge parsed and explicit filters; explicit values win field by field.

    Raises :class:`UnknownFilterValue` for an explicit value the catalogue does not know. An
    inverted explicit year range is read with the smaller year first.
    """
    genres_known = frozenset(known_genres)
    platforms_known = frozenset(known_platforms)

    def genre(value: str) -> str | None:
        found = canonical_genre(value)
        lowered = value.strip().lower()
        return found or (lowered if lowered in genres_known else None)

    def platform(value: str) -> str | None:
        lowered = value.strip().lower()
        if lowered in platforms_known:
            return lowered
        return next(
            (
                pid
                for pid, (anywhere, after_on) in PLATFORM_SYNONYMS.items()
                if lowered in anywhere or lowered in after_on
            ),
            None,
        )

    genres = _explicit(names.genres, explicit.genres, genre, genres_known)
    moods = _explicit(names.moods, explicit.moods, canonical_mood, MOODS)
    platforms = _explicit(names.platforms, explicit.platforms, platform, platforms_known)
    types = _explicit(names.types, explicit.types, canonical_type, CONTENT_TYPES)
    if explicit.year_from is not None or explicit.year_to is not None:
        year_from, year_to = explicit.year_from, explicit.year_to
        if year_from is not None and year_to is not None and year_from > year_to:
            # Read in order, as the parser reads "from the 2000s back to the 1990s".
            year_from, year_to = year_to, year_from
    else:
        year_from, year_to = parsed.year_from, parsed.year_to
    return Filters(
        genres=genres or parsed.genres,
        moods=moods,
        platforms=platforms or parsed.platforms,
        types=types or parsed.types,
        year_from=year_from,
        year_to=year_to,
        rating_min=explicit.rating_min if explicit.rating_min is not None else parsed.rating_min,
        prefer_moods=() if moods else parsed.moods,
    )

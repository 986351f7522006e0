"""Platform feed items → one :class:`NormalisedItem`, whatever the feed's format.

Two formats are understood, told apart per item by their id field:

- ``standard`` (``id``): ``title``, ``year``, ``type`` MOVIE/SHOW, ``genres``, ``moods``,
  ``synopsis``, ``cast``, ``directors``, ``runtime_minutes``, ``rating`` (stars out of 5),
  ``votes``, ``popularity``, ``language``, ``imdb_id``, ``availability`` (offers);
- ``catalog-v2`` (``asset_id``): ``name`` (often "Last Orbit, The (1994)"), ``release_date``,
  ``content_type``, ``categories``, ``tags``, ``description``, ``credits`` {actors, directors},
  ``duration_seconds``, ``score`` (out of 100), ``score_count``, ``trending``,
  ``original_language``, ``external_ids`` {imdb}, ``offers``.

A malformed item raises :class:`InvalidItem` with a reason naming the field; the run counts
it as failed and goes on. Unknown genres are not an error: they are dropped and reported in
``NormalisedItem.dropped_genres``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from mediagw.common.taxonomy import GENRES

ContentType = Literal["movie", "series", "episode", "documentary", "special"]
OfferType = Literal["subscription", "rent", "buy", "free"]

"""The canonical genre list (the catalogue generator's, ``harness.catalogue.GENRES``)."""

_GENRE_ALIASES: dict[str, tuple[str, ...]] = {
    "science fiction": ("sci-fi",),
    "scifi": ("sci-fi",),
    "sf": ("sci-fi",),
    "sci fi and fantasy": ("sci-fi",),
    "science fiction and fantasy": ("sci-fi",),
    "animated": ("animation",),
    "anime": ("animation",),
    "cartoons": ("animation",),
    "music and musicals": ("musical",),
    "musicals": ("musical",),
    "music": ("musical",),
    "military and war": ("war",),
    "military": ("war",),
    "war and politics": ("war",),
    "kids and family": ("family",),
    "kids": ("family",),
    "children": ("family",),
    "docuseries": ("documentary",),
    "documentaries": ("documentary",),
    "docs": ("documentary",),
    "romantic": ("romance",),
    "romantic comedy": ("romance", "comedy"),
    "romcom": ("romance", "comedy"),
    "comedies": ("comedy",),
    "sitcom": ("comedy",),
    "dramas": ("drama",),
    "thrillers": ("thriller",),
    "suspense": ("thriller",),
    "mysteries": ("mystery",),
    "horror movies": ("horror",),
    "historical": ("history",),
    "westerns": ("western",),
    "action and adventure": ("action", "adventure"),
    "crime and mystery": ("crime", "mystery"),
}
_ARTICLES = frozenset({"the", "a", "an"})
_SMALL_WORDS = frozenset(
    {"a", "an", "the", "and", "but", "or", "nor", "for", "of", "on", "in", "at", "to", "by",
     "with", "from", "as", "vs", "via", "into", "over"}
)  # fmt: skip
_ROMAN = frozenset(
    {"II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII", "XIV", "XV",
     "XX"}
)  # fmt: skip
_TYPES: dict[str, ContentType] = {
    "movie": "movie",
    "film": "movie",
    "feature": "movie",
    "show": "series",
    "series": "series",
    "tv series": "series",
    "tv show": "series",
    "tvshow": "series",
    "tv": "series",
    "episode": "episode",
    "documentary": "documentary",
    "special": "special",
}
TYPE_FAMILY: dict[str, str] = {
    "movie": "film",
    "documentary": "film",
    "special": "film",
    "series": "series",
    "episode": "episode",
}
"""Types that may be the same work in two feeds (one platform's MOVIE is another's documentary)."""

_TRAILING_YEAR = re.compile(r"\s*\((\d{4})\)\s*$")
_ARTICLE_LAST = re.compile(r"^(?P<rest>.*\S)\s*,\s*(?P<article>the|a|an)$", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_IMDB = re.compile(r"^tt\d{7,10}$")
_REGION = re.compile(r"^[A-Z]{2}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_PLATFORM_ID = re.compile(r"^[^\x00-\x1f\x7f]{1,256}$")
MIN_YEAR, MAX_YEAR = 1870, 2200
MAX_TITLE, MAX_OVERVIEW, MAX_PEOPLE, MAX_NAME = 500, 20_000, 200, 300


class InvalidItem(ValueError):
    """A feed item that cannot be ingested; ``reason`` names the field and the problem."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Offer:
    region: str
    offer_type: OfferType
    price: Decimal | None
    currency: str | None
    deep_link: str | None
    available_from: datetime | None
    available_until: datetime | None

    @property
    def key(self) -> tuple[str, str]:
        return (self.region, self.offer_type)


@dataclass(frozen=True)
class NormalisedItem:
    platform: str
    platform_id: str
    title: str
    normalized_title: str
    type: ContentType
    overview: str | None
    release_year: int | None
    release_date: date | None
    runtime_minutes: int | None
    genres: tuple[str, ...]
    moods: tuple[str, ...]
    cast: tuple[str, ...]
    directors: tuple[str, ...]
    rating: float | None
    """0 to 10, one decimal."""
    rating_count: int
    popularity: float
    language: str | None
    imdb_id: str | None
    offers: tuple[Offer, ...]
    dropped_genres: tuple[str, ...] = field(default=())

    @property
    def external_ids(self) -> dict[str, str]:
        """Every id this item is known by: its platform's, and IMDb's when the feed gives it."""
        ids = {self.platform: self.platform_id}
        if self.imdb_id:
            ids["imdb"] = self.imdb_id
        return ids


# --- text helpers ----------------------------------------------------------------------------


def clean_text(value: str) -> str:
    """NFKC, control characters removed, runs of whitespace collapsed, trimmed."""
    text = unicodedata.normalize("NFKC", value)
    text = _CONTROL.sub(" ", text)
    return " ".join(text.split())


def _is_all_caps(title: str) -> bool:
    cased = [c for c in title if c.isupper() or c.islower()]
    return len(cased) >= 2 and all(c.isupper() for c in cased) and (len(cased) > 4 or " " in title)


def _cap(word: str) -> str:
    """``BLACKSMITH'S`` → ``Blacksmith's``; ``X-MEN`` → ``X-Men``; roman numerals kept."""
    if word.upper() in _ROMAN:
        return word.upper()
    return "-".join(part[:1].upper() + part[1:].lower() for part in word.split("-"))


def title_case(title: str) -> str:
    """Title case for a title shouted in capitals: small words lower except first and last."""
    words = title.split(" ")
    result = []
    for index, word in enumerate(words):
        bare = word.strip("\"'([{").lower()
        if 0 < index < len(words) - 1 and bare in _SMALL_WORDS and word.isalpha():
            result.append(word.lower())
        else:
            prefix_len = len(word) - len(word.lstrip("\"'([{"))
            result.append(word[:prefix_len] + _cap(word[prefix_len:]))
    return " ".join(result)


def clean_title(raw: str) -> tuple[str, int | None]:
    """The display title and the year a trailing "(1994)" carried, if any.

    ``"Last Orbit, The (1994)"`` → ``("The Last Orbit", 1994)``; ``"THE LAST ORBIT"`` →
    ``("The Last Orbit", None)``.
    """
    title = clean_text(raw)
    year = None
    match = _TRAILING_YEAR.search(title)
    if match and MIN_YEAR <= int(match.group(1)) <= MAX_YEAR and match.start() > 0:
        year = int(match.group(1))
        title = title[: match.start()].rstrip()
    shouting = _is_all_caps(title)
    article = _ARTICLE_LAST.match(title)
    if article:
        title = f"{article.group('article').capitalize()} {article.group('rest')}"
    if shouting:
        title = title_case(title)
    return title, year


def title_key(title: str) -> str:
    """The resolution key of a title: accents and case folded, punctuation and articles gone.

    ``"The Last Orbit"``, ``"Last Orbit, The (1994)"`` and ``"LAST ORBIT!"`` share the key
    ``"last orbit"``.
    """
    cleaned, _ = clean_title(title)
    decomposed = unicodedata.normalize("NFKD", cleaned)
    text = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    text = text.replace("&", " and ")
    text = re.sub("['`\u2019]", "", text)
    words = re.sub(r"[\W_]+", " ", text).split()
    kept = [w for w in words if w not in _ARTICLES]
    return " ".join(kept or words)


def _genre_key(name: str) -> str:
    text = clean_text(name).casefold().replace("&", " and ").replace("/", " and ")
    return " ".join(re.sub(r"[-_]+", " ", text).split())


_CANONICAL = {_genre_key(genre): genre for genre in GENRES}


def map_genre(name: str) -> tuple[str, ...]:
    """Canonical genres for one feed genre name; empty when unknown.

    ``"Science Fiction"``, ``"Sci-Fi"``, ``"Sci-Fi & Fantasy"`` → ``("sci-fi",)``;
    ``"Action & Adventure"`` → ``("action", "adventure")``.
    """
    key = _genre_key(name)
    if key in _CANONICAL:
        return (_CANONICAL[key],)
    if key in _GENRE_ALIASES:
        return _GENRE_ALIASES[key]
    parts = [p.strip() for p in re.split(r"\band\b|,", key) if p.strip()]
    if len(parts) > 1:
        mapped = [g for part in parts for g in map_genre(part)]
        return tuple(dict.fromkeys(mapped))
    return ()


def map_genres(names: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(canonical genres in feed order without repeats, names that map to nothing)."""
    genres: list[str] = []
    dropped: list[str] = []
    for name in names:
        mapped = map_genre(name)
        if mapped:
            genres.extend(mapped)
        elif clean_text(name):
            dropped.append(clean_text(name))
    return tuple(dict.fromkeys(genres)), tuple(dict.fromkeys(dropped))


def map_type(value: str) -> ContentType:
    key = " ".join(re.sub(r"[-_]+", " ", clean_text(value).casefold()).split())
    if key not in _TYPES:
        raise InvalidItem(f"type: unknown content type {value!r}")
    return _TYPES[key]


# --- field readers ---------------------------------------------------------------------------


def _string(item: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = item.get(name)
    if value is None:
        if required:
            raise InvalidItem(f"{name}: missing")
        return None
    if not isinstance(value, str):
        raise InvalidItem(f"{name}: expected a string, got {type(value).__name__}")
    text = clean_text(value)
    if not text:
        if required:
            raise InvalidItem(f"{name}: empty")
        return None
    return text


def _number(item: Mapping[str, Any], name: str) -> float | None:
    value = item.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidItem(f"{name}: expected a number, got {value!r}")
    return float(value)


def _bounded(item: Mapping[str, Any], name: str, low: float, high: float) -> float | None:
    value = _number(item, name)
    if value is not None and not low <= value <= high:
        raise InvalidItem(f"{name}: {value:g} is outside {low:g}..{high:g}")
    return value


def _count(item: Mapping[str, Any], name: str) -> int:
    value = _number(item, name)
    if value is None:
        return 0
    if value < 0 or value != int(value):
        raise InvalidItem(f"{name}: expected a whole number ≥ 0, got {value:g}")
    return int(value)


def _strings(item: Mapping[str, Any], name: str, value: Any = None) -> tuple[str, ...]:
    value = item.get(name) if value is None else value
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidItem(f"{name}: expected a list of strings")
    result: list[str] = []
    for index, entry in enumerate(value):
        if not isinstance(entry, str):
            raise InvalidItem(f"{name}[{index}]: expected a string")
        text = clean_text(entry)
        if len(text) > MAX_NAME:
            raise InvalidItem(f"{name}[{index}]: longer than {MAX_NAME} characters")
        if text:
            result.append(text)
    if len(result) > MAX_PEOPLE:
        raise InvalidItem(f"{name}: more than {MAX_PEOPLE} entries")
    return tuple(dict.fromkeys(result))


def _timestamp(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidItem(f"{name}: expected an ISO 8601 timestamp")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidItem(f"{name}: {value!r} is not an ISO 8601 timestamp") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _price(raw: Mapping[str, Any], where: str) -> Decimal | None:
    value = raw.get("price")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidItem(f"{where}.price: expected a number")
    try:
        price = Decimal(str(value)).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise InvalidItem(f"{where}.price: {value!r} is not a number") from None
    if not price.is_finite() or price < 0 or price >= Decimal("1e8"):
        raise InvalidItem(f"{where}.price: {value!r} is out of range")
    return price


def _offer(raw: Any, where: str) -> Offer:
    if not isinstance(raw, dict):
        raise InvalidItem(f"{where}: expected an object")
    region = str(_string(raw, "region", required=True)).upper()
    if not _REGION.match(region):
        raise InvalidItem(f"{where}.region: {region!r} is not a two-letter region code")
    offer_type = (_string(raw, "offer_type") or _string(raw, "type") or "").lower()
    if offer_type not in ("subscription", "rent", "buy", "free"):
        raise InvalidItem(f"{where}.offer_type: unknown offer type {offer_type!r}")
    price = _price(raw, where)
    currency = _string(raw, "currency")
    currency = currency.upper() if currency else None
    if currency is not None and not _CURRENCY.match(currency):
        raise InvalidItem(f"{where}.currency: {currency!r} is not an ISO 4217 code")
    if price is not None and currency is None:
        raise InvalidItem(f"{where}.currency: required with a price")
    deep_link = _string(raw, "deep_link")
    if deep_link is not None and len(deep_link) > 2048:
        raise InvalidItem(f"{where}.deep_link: longer than 2048 characters")
    start = _timestamp(raw.get("available_from"), f"{where}.available_from")
    until = _timestamp(raw.get("available_until"), f"{where}.available_until")
    if start and until and until <= start:
        raise InvalidItem(f"{where}.available_until: not after available_from")
    return Offer(region, offer_type, price, currency, deep_link, start, until)  # type: ignore[arg-type]  # checked against the literals above


def _offers(value: Any, name: str) -> tuple[Offer, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidItem(f"{name}: expected a list of offers")
    offers: dict[tuple[str, str], Offer] = {}
    for index, raw in enumerate(value):
        offer = _offer(raw, f"{name}[{index}]")
        offers[offer.key] = offer  # a repeated region and offer type: the last one wins
    return tuple(offers.values())


# --- the two formats -------------------------------------------------------------------------


@dataclass
class _Fields:
    """What both formats carry, before the checks common to both."""

    platform_id: str
    title: str
    type: str
    overview: str | None = None
    year: int | None = None
    release_date: date | None = None
    runtime_minutes: int | None = None
    genres: tuple[str, ...] = ()
    moods: tuple[str, ...] = ()
    cast: tuple[str, ...] = ()
    directors: tuple[str, ...] = ()
    rating: float | None = None
    rating_count: int = 0
    popularity: float = 0.0
    language: str | None = None
    imdb_id: str | None = None
    offers: tuple[Offer, ...] = ()


def _year(item: Mapping[str, Any], name: str) -> int | None:
    value = _number(item, name)
    if value is None:
        return None
    if value != int(value) or not MIN_YEAR <= value <= MAX_YEAR:
        raise InvalidItem(f"{name}: {value:g} is not a year between {MIN_YEAR} and {MAX_YEAR}")
    return int(value)


def _standard(item: Mapping[str, Any]) -> _Fields:
    stars = _bounded(item, "rating", 0, 5)
    runtime = _number(item, "runtime_minutes")
    return _Fields(
        platform_id=str(_string(item, "id", required=True)),
        title=str(_string(item, "title", required=True)),
        type=str(_string(item, "type", required=True)),
        overview=_string(item, "synopsis") or _string(item, "overview"),
        year=_year(item, "year"),
        runtime_minutes=None if runtime is None else round(runtime),
        genres=_strings(item, "genres"),
        moods=_strings(item, "moods"),
        cast=_strings(item, "cast"),
        directors=_strings(item, "directors"),
        rating=None if stars is None else round(stars * 2, 1),
        rating_count=_count(item, "votes"),
        popularity=_bounded(item, "popularity", 0, 1e15) or 0.0,
        language=_string(item, "language"),
        imdb_id=_string(item, "imdb_id"),
        offers=_offers(item.get("availability"), "availability"),
    )


def _catalog_v2(item: Mapping[str, Any]) -> _Fields:
    score = _bounded(item, "score", 0, 100)
    seconds = _number(item, "duration_seconds")
    released = _string(item, "release_date")
    release_date = None
    if released is not None:
        try:
            release_date = date.fromisoformat(released[:10])
        except ValueError:
            raise InvalidItem(f"release_date: {released!r} is not a YYYY-MM-DD date") from None
        if not MIN_YEAR <= release_date.year <= MAX_YEAR:
            raise InvalidItem(f"release_date: year {release_date.year} is out of range")
    credits = item.get("credits") or {}
    if not isinstance(credits, dict):
        raise InvalidItem("credits: expected an object")
    external = item.get("external_ids") or {}
    if not isinstance(external, dict):
        raise InvalidItem("external_ids: expected an object")
    imdb = external.get("imdb")
    if imdb is not None and not isinstance(imdb, str):
        raise InvalidItem("external_ids.imdb: expected a string")
    return _Fields(
        platform_id=str(_string(item, "asset_id", required=True)),
        title=str(_string(item, "name", required=True)),
        type=str(_string(item, "content_type", required=True)),
        overview=_string(item, "description"),
        release_date=release_date,
        year=release_date.year if release_date else None,
        runtime_minutes=None if seconds is None else round(seconds / 60),
        genres=_strings(item, "categories"),
        moods=_strings(item, "tags"),
        cast=_strings(credits, "credits.actors", credits.get("actors")),
        directors=_strings(credits, "credits.directors", credits.get("directors")),
        rating=None if score is None else round(score / 10, 1),
        rating_count=_count(item, "score_count"),
        popularity=_bounded(item, "trending", 0, 1e15) or 0.0,
        language=_string(item, "original_language"),
        imdb_id=clean_text(imdb) if imdb else None,
        offers=_offers(item.get("offers"), "offers"),
    )


def feed_format(item: Mapping[str, Any]) -> Literal["standard", "catalog-v2"]:
    if "asset_id" in item:
        return "catalog-v2"
    if "id" in item:
        return "standard"
    raise InvalidItem("id: the item has neither 'id' (standard) nor 'asset_id' (catalog-v2)")


def normalise_item(raw: Any, platform: str) -> NormalisedItem:
    """One feed item of ``platform`` in either format → a NormalisedItem; or InvalidItem."""
    if not isinstance(raw, dict):
        raise InvalidItem(f"item: expected an object, got {type(raw).__name__}")
    fields = _standard(raw) if feed_format(raw) == "standard" else _catalog_v2(raw)
    if not _PLATFORM_ID.match(fields.platform_id):
        raise InvalidItem("id: longer than 256 characters or has control characters")
    title, title_year = clean_title(fields.title)
    if not title:
        raise InvalidItem("title: empty after clean-up")
    if len(title) > MAX_TITLE:
        raise InvalidItem(f"title: longer than {MAX_TITLE} characters")
    if fields.overview is not None and len(fields.overview) > MAX_OVERVIEW:
        raise InvalidItem(f"overview: longer than {MAX_OVERVIEW} characters")
    if fields.runtime_minutes is not None and not 1 <= fields.runtime_minutes <= 10_000:
        raise InvalidItem(f"runtime: {fields.runtime_minutes} minutes is outside 1..10000")
    language = fields.language.lower() if fields.language else None
    if language is not None and not _LANGUAGE.match(language):
        raise InvalidItem(f"language: {fields.language!r} is not a language code")
    if fields.imdb_id is not None and not _IMDB.match(fields.imdb_id):
        raise InvalidItem(f"imdb: {fields.imdb_id!r} is not an IMDb title id")
    genres, dropped = map_genres(fields.genres)
    moods = tuple(dict.fromkeys(m.casefold() for m in fields.moods))
    year = fields.year or title_year
    return NormalisedItem(
        platform=platform,
        platform_id=fields.platform_id,
        title=title,
        normalized_title=title_key(title),
        type=map_type(fields.type),
        overview=fields.overview,
        release_year=year,
        release_date=fields.release_date,
        runtime_minutes=fields.runtime_minutes,
        genres=genres,
        moods=moods,
        cast=fields.cast,
        directors=fields.directors,
        rating=fields.rating,
        rating_count=fields.rating_count,
        popularity=fields.popularity,
        language=language,
        imdb_id=fields.imdb_id,
        offers=fields.offers,
        dropped_genres=dropped,
    )


def parse_feed(document: Any) -> tuple[str | None, Sequence[Any], Any]:
    """A feed document → (its platform if named, its items, the next page marker if any).

    Accepts ``{"platform": …, "items": […], "next_page": …}`` or a bare list of items.
    """
    if isinstance(document, list):
        return None, document, None
    if not isinstance(document, dict):
        raise ValueError("the feed is neither an object with 'items' nor a list of items")
    items = document.get("items")
    if not isinstance(items, list):
        raise ValueError("the feed has no 'items' list")
    platform = document.get("platform")
    return (str(platform) if platform is not None else None), items, document.get("next_page")

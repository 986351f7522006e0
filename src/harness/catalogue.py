"""A realistic, reproducible catalogue: works spread over platforms, as their feeds deliver them.

Search and recommendations need real work to do, so the generator writes what streaming
platforms actually send: the same film on several services under different ids, in two feed
formats (field names, rating scales and title spellings differ — "The Last Orbit" on one,
"Last Orbit, The (1994)" on another), availability per region and offer type, and overviews
whose words follow the genre and mood (a funny sci-fi film reads like one). ``truth.json``
records which feed entries are the same work, so entity resolution can be checked.

``mgh catalogue generate`` rewrites ``data/catalogue/``; the same seed gives the same files.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

GENRES = (
    "action", "adventure", "animation", "comedy", "crime", "documentary", "drama", "family",
    "fantasy", "history", "horror", "musical", "mystery", "romance", "sci-fi", "thriller",
    "war", "western",
)  # fmt: skip
MOODS = (
    "funny", "dark", "uplifting", "tense", "romantic", "thoughtful", "scary", "quirky",
    "heartwarming", "epic",
)  # fmt: skip
MOOD_AFFINITY: dict[str, tuple[str, ...]] = {
    "action": ("tense", "epic"), "adventure": ("epic", "uplifting", "funny"),
    "animation": ("funny", "heartwarming", "quirky"), "comedy": ("funny", "quirky", "uplifting"),
    "crime": ("dark", "tense"), "documentary": ("thoughtful", "uplifting"),
    "drama": ("thoughtful", "dark", "heartwarming"), "family": ("heartwarming", "funny"),
    "fantasy": ("epic", "quirky"), "history": ("thoughtful", "epic"),
    "horror": ("scary", "dark", "tense"), "musical": ("uplifting", "romantic", "funny"),
    "mystery": ("tense", "dark"), "romance": ("romantic", "heartwarming", "funny"),
    "sci-fi": ("thoughtful", "epic", "tense", "funny"), "thriller": ("tense", "dark"),
    "war": ("dark", "epic"), "western": ("epic", "dark"),
}  # fmt: skip
TITLE_WORDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # genre: (adjectives, nouns)
    "action": (("Final", "Iron", "Rogue", "Deadly", "Burning"), ("Strike", "Protocol", "Pursuit", "Target", "Fury")),
    "adventure": (("Lost", "Golden", "Wild", "Hidden", "Forgotten"), ("Expedition", "Island", "Map", "Jungle", "Voyage")),
    "animation": (("Little", "Brave", "Magic", "Tiny", "Happy"), ("Fox", "Dragon", "Robot", "Penguin", "Kingdom")),
    "comedy": (("Accidental", "Awkward", "Totally", "Big", "Crazy"), ("Wedding", "Roommates", "Vacation", "Office", "Neighbours")),
    "crime": (("Dirty", "Cold", "Silent", "Crooked", "Blind"), ("Heist", "Alibi", "Verdict", "Syndicate", "Precinct")),
    "documentary": (("Inside", "Beyond", "Saving", "Chasing", "Becoming"), ("Oceans", "Glaciers", "Bees", "Legends", "Cities")),
    "drama": (("Quiet", "Broken", "Long", "Second", "Distant"), ("Summer", "Promise", "River", "Letters", "Homecoming")),
    "family": (("Merry", "Big", "Little", "Lucky", "Sunny"), ("Puppy", "Farm", "Christmas", "Treehouse", "Holiday")),
    "fantasy": (("Enchanted", "Shadow", "Crystal", "Ancient", "Emerald"), ("Crown", "Sorcerer", "Realm", "Sword", "Prophecy")),
    "history": (("Last", "Great", "Iron", "Imperial", "Fallen"), ("Empire", "Dynasty", "Revolution", "Queen", "Charter")),
    "horror": (("Haunted", "Cursed", "Hollow", "Bleeding", "Crawling"), ("House", "Ritual", "Whisper", "Cellar", "Doll")),
    "musical": (("Singing", "Broadway", "Midnight", "Starlit", "Dancing"), ("Serenade", "Melody", "Stage", "Rhythm", "Ballroom")),
    "mystery": (("Vanishing", "Locked", "Secret", "Missing", "Crimson"), ("Key", "Manor", "Clue", "Passenger", "Diary")),
    "romance": (("Sweet", "Endless", "Paris", "Autumn", "Accidental"), ("Kiss", "Love Letter", "Rendezvous", "Heart", "Proposal")),
    "sci-fi": (("Last", "Silent", "Infinite", "Quantum", "Distant"), ("Starship", "Orbit", "Android", "Colony", "Nebula")),
    "thriller": (("Dead", "Blind", "Hidden", "Midnight", "Perfect"), ("Witness", "Signal", "Stranger", "Conspiracy", "Hostage")),
    "war": (("Fallen", "Iron", "Winter", "Last", "Brave"), ("Battalion", "Frontline", "Trenches", "Squadron", "Siege")),
    "western": (("Dusty", "Lone", "Red", "Wild", "Outlaw"), ("Canyon", "Ranger", "Frontier", "Saloon", "Bounty")),
}  # fmt: skip
SUBJECTS: dict[str, tuple[str, ...]] = {
    "action": ("an ex-commando", "a rogue agent", "a getaway driver", "a disgraced cop"),
    "adventure": ("a treasure hunter", "two cartographers", "a stranded explorer", "a young sailor"),
    "animation": ("a curious fox", "a tiny robot", "a lonely dragon", "a penguin chef"),
    "comedy": ("two mismatched roommates", "a clumsy best man", "an overworked office temp", "a family on a disastrous road trip"),
    "crime": ("a detective", "a safecracker", "a mob accountant", "a public defender"),
    "documentary": ("scientists", "filmmakers", "divers", "beekeepers"),
    "drama": ("a grieving father", "two estranged sisters", "a small-town teacher", "a retired boxer"),
    "family": ("a runaway puppy", "three siblings", "a grandmother", "a kid inventor"),
    "fantasy": ("an apprentice sorcerer", "an exiled princess", "a talking raven", "a blacksmith's daughter"),
    "history": ("a forgotten queen", "a young revolutionary", "an imperial envoy", "a royal scribe"),
    "horror": ("a grieving widow", "a group of teenagers", "a night-shift nurse", "a paranormal investigator"),
    "musical": ("a struggling singer", "a dance troupe", "a jazz pianist", "a choir teacher"),
    "mystery": ("an amateur sleuth", "a crime novelist", "a night porter", "a country doctor"),
    "romance": ("a florist and a chef", "two pen pals", "a wedding planner", "old flames"),
    "sci-fi": ("the crew of a starship", "an android", "a lone astronaut", "colonists on a distant planet"),
    "thriller": ("a whistleblower", "a hostage negotiator", "a witness", "a hacker"),
    "war": ("a bomber crew", "a field medic", "a battalion", "two brothers at the front"),
    "western": ("a bounty hunter", "a frontier sheriff", "an outlaw", "a rancher's widow"),
}  # fmt: skip
PLOTS: dict[str, tuple[str, ...]] = {
    "action": ("races against the clock to stop an attack", "takes down a criminal empire"),
    "adventure": ("searches for a legendary lost city", "crosses an uncharted jungle"),
    "animation": ("sets out to find a way home", "learns that friendship is the greatest adventure"),
    "comedy": ("tries to save a wedding that keeps going wrong", "fakes a business trip that spirals out of control"),
    "crime": ("unravels a heist gone wrong", "uncovers corruption in the city"),
    "documentary": ("follow the fight to save a fragile ecosystem", "reveal the secret life of the oceans"),
    "drama": ("confronts the past after a family loss", "rebuilds a life in a small town"),
    "family": ("must save the family farm", "goes on a holiday adventure"),
    "fantasy": ("must reclaim a stolen crown", "fulfils an ancient prophecy"),
    "history": ("fights to change the course of an empire", "witnesses the fall of a dynasty"),
    "horror": ("is stalked by something in the old house", "awakens an ancient curse"),
    "musical": ("chases a dream of the big stage", "puts on one last show"),
    "mystery": ("investigates a disappearance in a locked manor", "decodes a dead man's diary"),
    "romance": ("falls in love against all odds", "gets a second chance at love"),
    "sci-fi": ("faces aliens, time travel and the edge of the galaxy", "must decide what it means to be human in the future"),
    "thriller": ("is hunted after witnessing a murder", "exposes a deadly conspiracy"),
    "war": ("survives behind enemy lines", "holds the line in a desperate siege"),
    "western": ("rides into a lawless frontier town", "seeks revenge across the desert"),
}  # fmt: skip
MOOD_WORDS: dict[str, tuple[str, ...]] = {
    "funny": ("hilarious", "laugh-out-loud", "witty", "comic"),
    "dark": ("bleak", "gritty", "brooding", "dark"),
    "uplifting": ("uplifting", "inspiring", "feel-good", "hopeful"),
    "tense": ("tense", "nail-biting", "gripping", "suspenseful"),
    "romantic": ("romantic", "tender", "swoon-worthy", "passionate"),
    "thoughtful": ("thoughtful", "cerebral", "moving", "thought-provoking"),
    "scary": ("terrifying", "chilling", "spine-tingling", "scary"),
    "quirky": ("quirky", "offbeat", "eccentric", "whimsical"),
    "heartwarming": ("heartwarming", "touching", "sweet", "tender-hearted"),
    "epic": ("epic", "sweeping", "grand", "spectacular"),
}  # fmt: skip
FIRST = ("Ava", "Ben", "Chloe", "Daniel", "Elena", "Felix", "Grace", "Hugo", "Iris", "Jonah", "Kira", "Leo", "Maya", "Nate", "Olivia", "Pablo", "Quinn", "Rosa", "Sam", "Tara", "Umar", "Vera", "Will", "Xena", "Yusuf", "Zoe")  # fmt: skip
LAST = ("Archer", "Bishop", "Castillo", "Dubois", "Eriksen", "Fischer", "Garcia", "Hughes", "Ibarra", "Jensen", "Kowalski", "Lindqvist", "Moreau", "Nakamura", "Okafor", "Petrov", "Quint", "Rossi", "Silva", "Tanaka", "Underwood", "Varga", "Walsh", "Yamada", "Zimmer")  # fmt: skip
REGIONS = ("US", "GB", "CA", "DE", "FR", "ES", "IT", "AU", "JP", "BR")
CURRENCY = {"US": "USD", "GB": "GBP", "CA": "CAD", "DE": "EUR", "FR": "EUR", "ES": "EUR", "IT": "EUR", "AU": "AUD", "JP": "JPY", "BR": "BRL"}  # fmt: skip


@dataclass(frozen=True)
class Platform:
    id: str
    name: str
    feed_format: str  # "standard" or "catalog-v2"
    web_url_template: str
    app_url_template: str
    share: float  # fraction of all works the platform carries


PLATFORMS = (
    Platform("netflix", "Netflix", "standard", "https://www.netflix.com/title/{platform_id}", "nflx://www.netflix.com/title/{platform_id}", 0.35),
    Platform("prime", "Prime Video", "catalog-v2", "https://www.primevideo.com/detail/{platform_id}", "aiv://aiv/detail?asin={platform_id}", 0.40),
    Platform("disney", "Disney+", "standard", "https://www.disneyplus.com/video/{platform_id}", "disneyplus://video/{platform_id}", 0.15),
    Platform("hulu", "Hulu", "standard", "https://www.hulu.com/watch/{platform_id}", "hulu://watch/{platform_id}", 0.20),
    Platform("max", "Max", "catalog-v2", "https://play.max.com/movie/{platform_id}", "max://deeplink/{platform_id}", 0.20),
    Platform("appletv", "Apple TV+", "catalog-v2", "https://tv.apple.com/movie/{platform_id}", "videos://tv.apple.com/movie/{platform_id}", 0.10),
)  # fmt: skip
FEED_GENRE_NAMES: dict[str, dict[str, str]] = {
    # How "catalog-v2" feeds spell some genres; ingestion maps them back.
    "catalog-v2": {"sci-fi": "Science Fiction", "animation": "Animated", "musical": "Music & Musicals", "war": "Military & War", "family": "Kids & Family"},
    "standard": {"sci-fi": "Sci-Fi", "documentary": "Docuseries", "romance": "Romantic"},
}  # fmt: skip


@dataclass
class Work:
    work_id: str
    title: str
    type: str
    year: int
    release_date: date
    runtime: int
    genres: list[str]
    moods: list[str]
    cast: list[str]
    directors: list[str]
    overview: str
    rating: float
    rating_count: int
    popularity: float
    language: str
    imdb_id: str | None
    offers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """platform id → that platform's offers of this work."""


def _article_last(title: str) -> str:
    return f"{title[4:]}, The" if title.startswith("The ") else title


def _make_work(rng: random.Random, index: int, used_titles: set[str]) -> Work:
    primary = rng.choice(GENRES)
    genres = [primary]
    if rng.random() < 0.6:
        genres.append(rng.choice([g for g in GENRES if g != primary]))
    moods = list(dict.fromkeys([rng.choice(MOOD_AFFINITY[primary]), *rng.sample(MOODS, 1)]))[:2]
    adjectives, nouns = TITLE_WORDS[primary]
    title = ""
    for attempt in range(50):
        pattern = rng.randrange(4)
        adj, noun = rng.choice(adjectives), rng.choice(nouns)
        title = ("The {a} {n}", "{a} {n}", "{n} of {f}", "The {n}")[pattern].format(
            a=adj, n=noun, f=rng.choice(LAST)
        )
        if attempt > 5:
            title += f" {rng.choice(('II', 'Returns', 'Rising', 'Redux', 'Forever', '2'))}"
        if title not in used_titles:
            break
    used_titles.add(title)
    year = min(2025, max(1950, int(rng.triangular(1950, 2026, 2018))))
    release = date(year, 1, 1) + timedelta(days=rng.randrange(365))
    kind = (
        "series"
        if rng.random() < 0.25
        else ("documentary" if primary == "documentary" else "movie")
    )
    mood_words = [rng.choice(MOOD_WORDS[m]) for m in moods]
    overview = (
        f"A {mood_words[0]} {primary} {'series' if kind == 'series' else 'story'} in which "
        f"{rng.choice(SUBJECTS[primary])} {rng.choice(PLOTS[primary])}."
    )
    if len(genres) > 1:
        overview += f" Part {genres[1]}, {mood_words[-1]} from start to finish."
    popularity = round(rng.lognormvariate(2.0, 1.2), 3)
    return Work(
        work_id=f"w{index:05d}",
        title=title,
        type=kind,
        year=year,
        release_date=release,
        runtime=rng.randint(22, 60) if kind == "series" else rng.randint(78, 175),
        genres=genres,
        moods=moods,
        cast=[f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(rng.randint(3, 6))],
        directors=[f"{rng.choice(FIRST)} {rng.choice(LAST)}"],
        overview=overview,
        rating=round(min(9.8, max(1.5, rng.gauss(6.8, 1.1))), 1),
        rating_count=int(popularity * rng.randint(50, 400)),
        popularity=popularity,
        language=rng.choices(("en", "fr", "de", "es", "ja", "ko"), (70, 6, 6, 8, 6, 4))[0],
        imdb_id=f"tt{9_000_000 + index:07d}" if rng.random() < 0.7 else None,
    )


def _offers(
    rng: random.Random, platform: Platform, work: Work, platform_id: str
) -> list[dict[str, Any]]:
    regions = rng.sample(REGIONS, rng.randint(1, 6))
    if "US" not in regions and rng.random() < 0.7:
        regions.append("US")
    offers = []
    for region in sorted(regions):
        offer_type = rng.choices(("subscription", "rent", "buy", "free"), (70, 12, 10, 8))[0]
        price = (
            None if offer_type in {"subscription", "free"} else round(rng.uniform(2.99, 19.99), 2)
        )
        offers.append(
            {
                "region": region,
                "offer_type": offer_type,
                "price": price,
                "currency": CURRENCY[region] if price is not None else None,
                "deep_link": platform.web_url_template.format(platform_id=platform_id),
                "available_from": f"{max(work.year, 2015)}-01-01T00:00:00Z",
                "available_until": None if rng.random() < 0.85 else "2027-12-31T23:59:59Z",
            }
        )
    return offers


def _feed_entry(
    rng: random.Random, platform: Platform, work: Work, platform_id: str
) -> dict[str, Any]:
    names = FEED_GENRE_NAMES[platform.feed_format]
    genres = [names.get(g, g.title()) for g in work.genres]
    offers = work.offers[platform.id]
    if platform.feed_format == "standard":
        title = work.title if rng.random() < 0.8 else work.title.upper()
        entry: dict[str, Any] = {
            "id": platform_id,
            "title": title,
            "year": work.year,
            "type": "SHOW" if work.type == "series" else "MOVIE",
            "genres": genres,
            "moods": [m.title() for m in work.moods],
            "synopsis": work.overview,
            "cast": work.cast,
            "directors": work.directors,
            "runtime_minutes": work.runtime,
            "rating": round(work.rating / 2, 1),  # stars out of 5
            "votes": work.rating_count,
            "popularity": work.popularity,
            "language": work.language,
            "availability": offers,
        }
        if work.imdb_id:
            entry["imdb_id"] = work.imdb_id
        return entry
    title = _article_last(work.title) if rng.random() < 0.5 else work.title
    if rng.random() < 0.3:
        title = f"{title} ({work.year})"
    entry = {
        "asset_id": platform_id,
        "name": title,
        "release_date": work.release_date.isoformat(),
        "content_type": "tv_series" if work.type == "series" else work.type,
        "categories": genres,
        "tags": list(work.moods),
        "description": work.overview,
        "credits": {"actors": work.cast, "directors": work.directors},
        "duration_seconds": work.runtime * 60,
        "score": round(work.rating * 10),  # out of 100
        "score_count": work.rating_count,
        "trending": work.popularity,
        "original_language": work.language,
        "offers": offers,
    }
    if work.imdb_id:
        entry["external_ids"] = {"imdb": work.imdb_id}
    return entry


def generate(works: int = 3000, seed: int = 20251207) -> dict[str, Any]:
    """Build the catalogue in memory: platforms, per-platform feeds and the truth table."""
    rng = random.Random(seed)
    used: set[str] = set()
    catalogue = [_make_work(rng, i, used) for i in range(works)]
    truth: list[dict[str, Any]] = []
    feeds: dict[str, list[dict[str, Any]]] = {p.id: [] for p in PLATFORMS}
    for work in catalogue:
        carriers = [p for p in PLATFORMS if rng.random() < p.share] or [rng.choice(PLATFORMS)]
        ids = {}
        for platform in carriers:
            platform_id = f"{platform.id[:2]}-{rng.getrandbits(40):010x}"
            ids[platform.id] = platform_id
            work.offers[platform.id] = _offers(rng, platform, work, platform_id)
            feeds[platform.id].append(_feed_entry(rng, platform, work, platform_id))
        truth.append(
            {
                "work_id": work.work_id,
                "title": work.title,
                "year": work.year,
                "type": work.type,
                "genres": work.genres,
                "moods": work.moods,
                "platform_ids": ids,
            }
        )
    platforms = [
        {
            "id": p.id,
            "name": p.name,
            "feed_format": p.feed_format,
            "web_url_template": p.web_url_template,
            "app_url_template": p.app_url_template,
        }
        for p in PLATFORMS
    ]
    return {"platforms": platforms, "feeds": feeds, "truth": truth}


def write(directory: Path, works: int = 3000, seed: int = 20251207) -> dict[str, int]:
    """Write ``platforms.json``, ``feeds/<platform>.json`` and ``truth.json``; returns counts."""
    data = generate(works, seed)
    (directory / "feeds").mkdir(parents=True, exist_ok=True)
    (directory / "platforms.json").write_text(json.dumps(data["platforms"], indent=1) + "\n")
    for platform_id, entries in data["feeds"].items():
        feed = {"platform": platform_id, "generated_by": "mgh catalogue generate", "seed": seed,
                "items": entries}  # fmt: skip
        (directory / "feeds" / f"{platform_id}.json").write_text(
            json.dumps(feed, indent=None, separators=(",", ":")) + "\n"
        )
    (directory / "truth.json").write_text(json.dumps(data["truth"], separators=(",", ":")) + "\n")
    return {"works": works, **{p: len(e) for p, e in data["feeds"].items()}}


def default_directory() -> Path:
    return Path(__file__).resolve().parents[2] / "data" / "catalogue"

"""SONA's scoring and ranking engine as pure functions on small numpy data."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from mediagw.sona import engine
from mediagw.sona.blas import blas_threads, limit_blas_threads
from mediagw.sona.catalogue import Catalogue, CatalogueItem, percentile
from mediagw.sona.cooccurrence import cooccurrence_similarity
from mediagw.sona.engine import Preferences, Profile
from mediagw.sona.profiles import dumps, loads
from mediagw.sona.schemas import InteractionIn
from mediagw.sona.settings import SonaSettings, Weights

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DIM = 16
AXES = {"sci-fi": 0, "comedy": 1, "drama": 2, "horror": 3}
POPULARITY = {"sci-fi": 10.0, "comedy": 1000.0, "drama": 100.0, "horror": 50.0}
WEIGHTS = Weights()
NO_NEIGHBOURS: dict[str, dict[str, float]] = {}


def item(content_id: str, genre: str, *, noise: np.ndarray, popularity: float, year: int = 2010):
    vector = noise.astype(np.float32).copy()
    vector[AXES[genre]] += 1.0
    return CatalogueItem(
        content_id=content_id,
        vector=vector,
        title=f"{genre.title()} {content_id.rsplit('-', 1)[1]}",
        type="movie",
        genres=(genre,),
        moods=("tense",) if genre == "horror" else ("funny",) if genre == "comedy" else (),
        popularity=popularity,
        release_year=year,
    )


def make_catalogue(per_genre: int = 8, seed: int = 7) -> Catalogue:
    """Four genres, each clustered on its own axis; comedy is by far the most popular."""
    rng = np.random.default_rng(seed)
    items = [
        item(
            f"{genre}-{i}", genre, noise=rng.normal(0, 0.15, DIM), popularity=POPULARITY[genre] + i
        )
        for genre in AXES
        for i in range(per_genre)
    ]
    return Catalogue.build(items, dim=DIM, year=2024)


def profile_with(catalogue: Catalogue, *events: tuple[str, str, float | None]) -> Profile:
    profile = Profile(user_id="u1")
    for at, (content_id, kind, value) in enumerate(events):
        row = catalogue.index[content_id]
        profile.apply(
            content_id, kind, value, float(at), catalogue.matrix[row], decay=0.97, history_limit=50
        )
    return profile


def genre_of(content_id: str) -> str:
    return content_id.rsplit("-", 1)[0]


def interleaved(catalogue: Catalogue) -> list[str]:
    """Every title, genres interleaved, comedy first: a given order with no genre bias."""
    by_genre = [[cid for cid in catalogue.ids if genre_of(cid) == g] for g in reversed(AXES)]
    return [cid for group in zip(*by_genre, strict=True) for cid in group]


# --- signals and the profile vector ---------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "sign"),
    [
        ("complete", None, 1),
        ("rate", 5.0, 1),
        ("rate", 3.5, 1),
        ("rate", 3.0, 0),
        ("rate", 1.0, -1),
        ("view", 0.8, 1),
        ("view", 0.2, 0),
        ("view", None, 0),
        ("watchlist_add", None, 1),
        ("watchlist_remove", None, -1),
        ("skip", 0.1, -1),
    ],
)
def test_signal_weight_sign_per_kind(kind: str, value: float | None, sign: int) -> None:
    assert np.sign(engine.signal_weight(kind, value)) == sign


def test_signal_weight_refuses_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown interaction kind"):
        engine.signal_weight("like", None)


def test_every_interaction_kind_has_a_signal_weight() -> None:
    assert set(engine.INTERACTION_KINDS) == set(engine.FIXED_WEIGHTS) | {"rate", "view"}
    for kind in engine.INTERACTION_KINDS:
        engine.signal_weight(kind, 1.0)


def test_interaction_kinds_are_one_list_for_api_and_database() -> None:
    """The API schema is built from the same type; the SQL CHECK restates the names."""
    kind_schema = InteractionIn.model_json_schema()["properties"]["kind"]
    assert tuple(kind_schema["enum"]) == engine.INTERACTION_KINDS
    migration = (ROOT / "migrations" / "006_sona.up.sql").read_text()
    check = re.search(r"interactions_kind_check CHECK \(kind IN \(([^)]*)\)\)", migration)
    assert check is not None
    assert tuple(re.findall(r"'([a-z_]+)'", check.group(1))) == engine.INTERACTION_KINDS


def test_positive_signal_pulls_the_profile_towards_the_item() -> None:
    catalogue = make_catalogue()
    profile = profile_with(catalogue, ("comedy-0", "complete", None))
    before = float(catalogue.matrix[catalogue.index["sci-fi-1"]] @ _unit(profile))
    profile.apply(
        "sci-fi-0", "complete", None, 9.0, _row(catalogue, "sci-fi-0"), decay=0.97, history_limit=50
    )
    after = float(catalogue.matrix[catalogue.index["sci-fi-1"]] @ _unit(profile))
    assert after > before + 0.2


def test_skip_pushes_the_profile_away_from_the_item() -> None:
    catalogue = make_catalogue()
    profile = profile_with(catalogue, ("sci-fi-0", "complete", None), ("drama-0", "complete", None))
    target = catalogue.matrix[catalogue.index["drama-3"]]
    before = float(target @ _unit(profile))
    weight = profile.apply(
        "drama-1", "skip", None, 9.0, _row(catalogue, "drama-1"), decay=0.97, history_limit=50
    )
    assert weight < 0
    assert float(target @ _unit(profile)) < before - 0.1
    assert "drama-1" in profile.excluded()


def test_low_rating_pushes_away_and_high_rating_pulls() -> None:
    catalogue = make_catalogue()
    low = profile_with(catalogue, ("horror-0", "rate", 0.5))
    high = profile_with(catalogue, ("horror-0", "rate", 5.0))
    horror = catalogue.matrix[catalogue.index["horror-4"]]
    assert float(horror @ _unit(low)) < -0.5
    assert float(horror @ _unit(high)) > 0.5


def test_a_skipped_genre_sinks_in_a_rerank() -> None:
    catalogue = make_catalogue()
    profile = profile_with(catalogue, ("comedy-0", "skip", None), ("comedy-1", "skip", None))
    derived = engine.derive(profile, catalogue, NO_NEIGHBOURS, 0)
    candidates = interleaved(catalogue)
    ranked = [cid for cid, _ in engine.rerank(catalogue, derived, candidates, WEIGHTS)]
    comedy_positions = [i for i, cid in enumerate(ranked) if genre_of(cid) == "comedy"]
    assert min(comedy_positions) >= len(candidates) // 2, ranked


def _unit(profile: Profile) -> np.ndarray:
    assert profile.vector is not None
    return profile.vector / np.linalg.norm(profile.vector)


def _row(catalogue: Catalogue, content_id: str) -> np.ndarray:
    return catalogue.matrix[catalogue.index[content_id]]


# --- re-ranking --------------------------------------------------------------------------------


def test_a_user_who_loved_scifi_gets_scifi_ranked_first() -> None:
    catalogue = make_catalogue()
    profile = profile_with(
        catalogue,
        ("sci-fi-0", "complete", None),
        ("sci-fi-1", "rate", 5.0),
        ("sci-fi-2", "watchlist_add", None),
    )
    derived = engine.derive(profile, catalogue, NO_NEIGHBOURS, 0)
    candidates = [cid for cid in interleaved(catalogue) if cid not in {"sci-fi-0", "sci-fi-1"}]
    ranked = engine.rerank(catalogue, derived, candidates, WEIGHTS, limit=5)
    assert [genre_of(cid) for cid, _ in ranked[:3]] == ["sci-fi"] * 3, ranked
    assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)
    undiversified = engine.rerank(catalogue, derived, candidates, Weights(diversity=0), limit=6)
    assert [genre_of(cid) for cid, _ in undiversified] == ["sci-fi"] * 6, undiversified


def test_rerank_keeps_the_given_order_when_nothing_personal_differs() -> None:
    """Ties are stable: identical titles come back in the given order."""
    same = np.ones(DIM, dtype=np.float32)
    items = [
        CatalogueItem(f"t-{i}", same, f"T{i}", "movie", ("drama",), (), 5.0, 2000) for i in range(6)
    ]
    catalogue = Catalogue.build(items, dim=DIM, year=2024)
    profile = profile_with(catalogue, ("t-0", "complete", None))
    derived = engine.derive(profile, catalogue, NO_NEIGHBOURS, 0)
    weights = Weights(given_rank=0.0, diversity=0.0)
    given = ["t-3", "t-1", "t-5", "t-0", "t-4", "t-2"]
    assert [cid for cid, _ in engine.rerank(catalogue, derived, given, weights)] == given


def test_given_order_is_the_unpersonalised_answer() -> None:
    given = ["c", "a", "b"]
    result = engine.given_order(given, limit=2)
    assert [cid for cid, _ in result] == ["c", "a"]
    assert result[0][1] > result[1][1]


def test_rerank_keeps_candidates_unknown_to_the_catalogue() -> None:
    catalogue = make_catalogue()
    profile = profile_with(catalogue, ("sci-fi-0", "complete", None))
    derived = engine.derive(profile, catalogue, NO_NEIGHBOURS, 0)
    ranked = engine.rerank(catalogue, derived, ["unknown-1", "comedy-2", "sci-fi-3"], WEIGHTS)
    assert {cid for cid, _ in ranked} == {"unknown-1", "comedy-2", "sci-fi-3"}
    assert ranked[0][0] == "sci-fi-3"


def test_unique_drops_repeated_candidates_keeping_the_first() -> None:
    assert engine.unique(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]


def test_rerank_diversity_penalises_a_run_of_one_genre() -> None:
    catalogue = make_catalogue()
    profile = profile_with(catalogue, ("sci-fi-0", "complete", None))
    derived = engine.derive(profile, catalogue, NO_NEIGHBOURS, 0)
    candidates = interleaved(catalogue)
    plain = engine.rerank(catalogue, derived, candidates, Weights(diversity=0.0), limit=8)
    diverse = engine.rerank(catalogue, derived, candidates, Weights(diversity=0.3), limit=8)
    plain_genres = {genre_of(cid) for cid, _ in plain}
    diverse_genres = {genre_of(cid) for cid, _ in diverse}
    assert plain_genres == {"sci-fi"}
    assert len(diverse_genres) >= 3
    assert genre_of(diverse[0][0]) == "sci-fi"


def test_rank_within_group_counts_better_members_of_the_same_group() -> None:
    score = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    group = np.array([1, 1, 2, 1, -1])
    assert engine.rank_within_group(score, group).tolist() == [0, 1, 0, 2, 0]


def test_collaborative_neighbours_lift_cooccurring_titles() -> None:
    """Content-identical candidates: the one co-liked with the user's title wins."""
    catalogue = make_catalogue()
    profile = profile_with(catalogue, ("drama-0", "complete", None))
    neighbours = {"drama-0": {"horror-5": 0.9}}
    derived = engine.derive(profile, catalogue, neighbours, 1)
    weights = Weights(content=0.0, popularity=0.0, recency=0.0, given_rank=0.1, diversity=0.0)
    ranked = engine.rerank(catalogue, derived, ["horror-4", "horror-6", "horror-5"], weights)
    assert ranked[0][0] == "horror-5"


def test_collaborative_scores_sum_like_times_similarity() -> None:
    scores = engine.collaborative_scores(
        {"a": 1.0, "b": 0.5}, {"a": {"x": 0.4, "y": 0.2}, "b": {"x": 0.2}}
    )
    assert scores == pytest.approx({"x": 0.5, "y": 0.2})


def test_settings_defaults_are_the_weights_defaults() -> None:
    """``SonaSettings.weights`` maps MG_* settings onto ``Weights``: same defaults either way."""
    fields = SonaSettings.model_fields
    defaults = Weights()
    setting_of = {
        "content": "weight_content",
        "collaborative": "weight_collaborative",
        "popularity": "weight_popularity",
        "recency": "weight_recency",
        "preference": "weight_preference",
        "given_rank": "weight_given_rank",
        "diversity": "diversity_penalty",
        "mmr_lambda": "mmr_lambda",
        "max_genre_share": "max_genre_share",
    }
    for weight, setting in setting_of.items():
        assert fields[setting].default == getattr(defaults, weight), weight


# --- recommendations -------------------------------------------------------------------------


def test_recommendations_for_a_scifi_fan_start_with_scifi_and_skip_completed() -> None:
    catalogue = make_catalogue()
    profile = profile_with(
        catalogue, ("sci-fi-0", "complete", None), ("sci-fi-1", "complete", None)
    )
    derived = engine.derive(profile, catalogue, NO_NEIGHBOURS, 0)
    recs = engine.recommend(catalogue, profile, derived, NO_NEIGHBOURS, WEIGHTS, limit=8)
    ids = [r.content_id for r in recs]
    assert genre_of(ids[0]) == "sci-fi"
    assert {"sci-fi-0", "sci-fi-1"}.isdisjoint(ids)
    assert recs[0].reason.startswith("because you watched Sci-Fi ")


def test_recommendations_cap_one_genres_share() -> None:
    catalogue = make_catalogue()
    profile = profile_with(catalogue, *((f"sci-fi-{i}", "complete", None) for i in range(2)))
    derived = engine.derive(profile, catalogue, NO_NEIGHBOURS, 0)
    capped = Weights(max_genre_share=0.5)
    recs = engine.recommend(catalogue, profile, derived, NO_NEIGHBOURS, capped, limit=10)
    genres = [genre_of(r.content_id) for r in recs]
    assert len(recs) == 10
    assert genres.count("sci-fi") == 5
    assert len(set(genres)) >= 3
    for rec, genre in zip(recs, genres, strict=True):  # reasons explain, not flatter
        personal = rec.reason.startswith("because you watched")
        assert personal == (genre == "sci-fi"), (rec.reason, genre)


def test_mmr_without_a_cap_still_mixes_genres_for_low_lambda() -> None:
    catalogue = make_catalogue()
    score = np.where(np.array([genre_of(c) == "sci-fi" for c in catalogue.ids]), 1.0, 0.9)
    pool = np.argsort(-score, kind="stable")
    uncapped = Weights(mmr_lambda=1.0, max_genre_share=1.0)
    relevant_only = engine.mmr_select(catalogue, pool, score, 6, uncapped)
    mixed = engine.mmr_select(
        catalogue, pool, score, 6, Weights(mmr_lambda=0.3, max_genre_share=1.0)
    )
    assert {genre_of(catalogue.ids[r]) for r in relevant_only} == {"sci-fi"}
    assert len({genre_of(catalogue.ids[r]) for r in mixed}) >= 3


def test_cold_start_follows_stated_preferences() -> None:
    catalogue = make_catalogue()
    profile = Profile(user_id="new", preferences=Preferences(genres=("horror",)))
    recs = engine.recommend(catalogue, profile, None, NO_NEIGHBOURS, WEIGHTS, limit=4)
    assert [genre_of(r.content_id) for r in recs[:2]] == ["horror", "horror"]
    assert recs[0].reason == "matches your interest in horror"


def test_cold_start_without_preferences_is_popularity() -> None:
    catalogue = make_catalogue()
    recs = engine.recommend(
        catalogue, Profile(user_id="new"), None, NO_NEIGHBOURS, WEIGHTS, limit=3
    )
    assert recs[0].content_id == "comedy-7"  # the most popular title
    assert recs[0].reason == "popular in comedy"


def test_similar_items_are_the_nearest_titles() -> None:
    catalogue = make_catalogue()
    recs = engine.similar_items(catalogue, "drama-0", NO_NEIGHBOURS, WEIGHTS, limit=3)
    assert [genre_of(r.content_id) for r in recs] == ["drama"] * 3
    assert "drama-0" not in {r.content_id for r in recs}
    assert recs[0].reason.startswith("similar to Drama 0")


# --- item-item similarity ------------------------------------------------------------------


def test_cooccurrence_similarity_is_cosine_of_counts() -> None:
    # items: 0=A, 1=B, 2=C; users liked {A,B}, {A,B}, {A,C}
    table = cooccurrence_similarity([[0, 1], [0, 1], [0, 2]], 3, top_k=5)
    pairs = {
        (int(s), int(t)): float(v)
        for s, t, v in zip(table.source, table.target, table.score, strict=True)
    }
    assert pairs[(0, 1)] == pytest.approx(2 / np.sqrt(3 * 2))
    assert pairs[(0, 2)] == pytest.approx(1 / np.sqrt(3 * 1))
    assert pairs[(1, 0)] == pairs[(0, 1)]
    assert (1, 2) not in pairs


def test_cooccurrence_similarity_keeps_top_k_and_min_support() -> None:
    users = [[0, 1], [0, 1], [0, 2]]
    top1 = cooccurrence_similarity(users, 3, top_k=1)
    assert [(int(s), int(t)) for s, t in zip(top1.source, top1.target, strict=True)] == [
        (0, 1),
        (1, 0),
        (2, 0),
    ]
    supported = cooccurrence_similarity(users, 3, top_k=5, min_support=2)
    assert {(int(s), int(t)) for s, t in zip(supported.source, supported.target, strict=True)} == {
        (0, 1),
        (1, 0),
    }


def test_cooccurrence_similarity_of_nothing_is_empty() -> None:
    assert len(cooccurrence_similarity([[3]], 5, top_k=5).source) == 0


# --- catalogue snapshots and profile serialisation ------------------------------------------


def test_percentile_gives_ties_one_value() -> None:
    assert percentile(np.array([5.0, 1.0, 5.0, 3.0])).tolist() == pytest.approx(
        [5 / 6, 0.0, 5 / 6, 1 / 3]
    )


def test_catalogue_update_keeps_rows_and_appends_new_titles() -> None:
    catalogue = make_catalogue(per_genre=2)
    rng = np.random.default_rng(3)
    changed = item("comedy-0", "horror", noise=rng.normal(0, 0.1, DIM), popularity=1.0)
    added = item("drama-9", "drama", noise=rng.normal(0, 0.1, DIM), popularity=5000.0)
    updated = catalogue.updated([changed, added])
    assert updated.version == catalogue.version + 1
    assert updated.index["comedy-0"] == catalogue.index["comedy-0"]
    assert updated.index["drama-9"] == len(catalogue)
    assert updated.items[updated.index["comedy-0"]].genres == ("horror",)
    assert updated.popularity[updated.index["drama-9"]] == 1.0
    assert np.allclose(np.linalg.norm(updated.matrix, axis=1), 1.0, atol=1e-5)
    assert len(catalogue) == 8  # the old snapshot is untouched
    assert catalogue.updated([]) is catalogue


def test_profile_round_trips_through_its_cache_form() -> None:
    catalogue = make_catalogue()
    profile = profile_with(catalogue, ("sci-fi-0", "view", 0.4), ("drama-2", "rate", 1.0))
    profile.preferences = Preferences(("drama",), ("tense",), ("netflix",))
    copy = loads("u1", dumps(profile))
    assert copy.vector is not None
    assert profile.vector is not None
    assert np.array_equal(copy.vector, profile.vector)
    assert copy.items == profile.items
    assert copy.preferences == profile.preferences
    assert copy.interaction_count == 2


def test_blas_can_be_limited_to_one_thread() -> None:
    before = blas_threads()
    assert before, "numpy's OpenBLAS is found among the loaded libraries"
    try:
        assert set(limit_blas_threads(1)) == set(before)
        assert set(blas_threads().values()) == {1}
    finally:
        for count in set(before.values()):
            limit_blas_threads(count)

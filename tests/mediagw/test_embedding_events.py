"""Embedders (the real MiniLM model and the hashing one), events and peer clients."""

from __future__ import annotations

import numpy as np
import pytest

from mediagw.common import peers
from mediagw.common.embedding import Embedder, HashingEmbedder, content_text, get_embedder
from mediagw.common.events import (
    CONTENT_INGESTED,
    AvailabilityChanged,
    ContentIngested,
    Event,
)

pytestmark = pytest.mark.unit


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


def test_hashing_embedder_is_deterministic_and_unit_length() -> None:
    embedder = HashingEmbedder()
    first, second = embedder.embed(["funny sci-fi", "funny sci-fi"])
    assert first.shape == (384,)
    assert first.dtype == np.float32
    assert np.allclose(first, second)
    assert np.isclose(np.linalg.norm(first), 1.0)


def test_hashing_embedder_puts_shared_words_closer() -> None:
    near, far, probe = HashingEmbedder().embed(
        ["a hilarious starship comedy", "a bleak war drama", "starship comedy"]
    )
    assert cosine(probe, near) > cosine(probe, far)


def test_empty_text_embeds_to_zero_not_nan() -> None:
    (vector,) = HashingEmbedder().embed([""])
    assert not np.isnan(vector).any()


@pytest.fixture(scope="module")
def minilm() -> Embedder:
    return get_embedder("minilm")


def test_minilm_understands_meaning_not_just_spelling(minilm: Embedder) -> None:
    space, romance, query = minilm.embed(
        [
            "A spaceship crew explores a distant galaxy and meets aliens.",
            "Two old friends fall in love during a summer in Paris.",
            "science fiction in outer space",
        ]
    )
    assert space.shape == (384,)
    assert np.isclose(np.linalg.norm(space), 1.0, atol=1e-4)
    assert cosine(query, space) > cosine(query, romance) + 0.1


def test_the_embedder_is_shared_per_process(minilm: Embedder) -> None:
    assert get_embedder("minilm") is minilm


def test_content_text_recipe() -> None:
    text = content_text("The Last Orbit", "Astronauts drift.", ["sci-fi"], ["tense"])
    assert text == "The Last Orbit. sci-fi. tense. Astronauts drift."


def test_event_envelope_from_payload() -> None:
    payload = ContentIngested(
        content_id="c1", title="T", type="movie", release_year=1994, genres=["sci-fi"],
        platforms=["netflix"], source_platform="netflix",
    )  # fmt: skip
    event = Event.of(payload, key="c1")
    assert event.type == CONTENT_INGESTED
    assert event.schema_version == 1
    assert event.validate_payload() == payload
    assert Event.model_validate_json(event.model_dump_json()) == event


def test_event_payloads_are_strict() -> None:
    with pytest.raises(ValueError, match="region"):
        AvailabilityChanged(
            content_id="c", platform="p", region="usa", offer_type="free", change="added"
        )
    with pytest.raises(ValueError, match="extra"):
        Event.model_validate({"type": "content.updated", "key": "k", "payload": {}, "x": 1})


def test_peer_client_needs_a_url_or_a_mounted_app() -> None:
    with pytest.raises(LookupError, match="MG_NOBODY_URL"):
        peers.peer_client("nobody", None)

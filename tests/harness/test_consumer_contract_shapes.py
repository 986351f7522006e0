"""The consumer-contract shape language: what matches, what does not, and what it reports."""

from __future__ import annotations

import pytest

from harness.contracts.consumers import fill, mismatches, shape_of

pytestmark = pytest.mark.unit

SHAPE = {"items": [{"content_id": "string", "score": "number"}], "personalised": "boolean"}


def test_a_value_with_extra_fields_matches() -> None:
    value = {"items": [{"content_id": "a", "score": 1, "why": "x"}], "personalised": False, "n": 1}
    assert mismatches(SHAPE, value) == []


def test_a_missing_field_and_a_wrong_type_are_named() -> None:
    value = {"items": [{"content_id": 7, "score": 0.5}, {"score": True}], "personalised": True}
    assert mismatches(SHAPE, value) == [
        "$.items[0].content_id: expected string, got int 7",
        "$.items[1].content_id: missing",
        "$.items[1].score: expected number, got bool True",
    ]


def test_optional_keys_and_literals() -> None:
    shape = {"type": {"$equals": "content.ingested"}, "year?": "integer"}
    assert mismatches(shape, {"type": "content.ingested", "year": None}) == []
    assert mismatches(shape, {"type": "content.updated"}) == ["$.type: expected 'content.ingested'"]


def test_shape_of_and_fill() -> None:
    assert shape_of({"a": [1], "b": None, "c": 1.5, "d": "x"}) == {
        "a": ["integer"], "b": "null", "c": "number", "d": "string"
    }  # fmt: skip
    values = {"titles": ["a", "b"], "user_id": 3}
    assert fill({"k": "progress/{titles:1}", "u": "{user_id}"}, values) == {
        "k": "progress/b", "u": "3"
    }  # fmt: skip
    with pytest.raises(KeyError, match="api_key"):
        fill("{api_key}", {})

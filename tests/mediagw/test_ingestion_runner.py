"""The run's counters and the failure summary an operator reads in GET /ingestion/runs/{id}."""

from __future__ import annotations

import pytest

from mediagw.ingestion.runner import MAX_FAILURES_KEPT, RunStats

pytestmark = pytest.mark.unit


def test_a_run_without_failures_has_no_summary() -> None:
    stats = RunStats(fetched=3, new=2, unchanged=1)
    assert stats.summary() is None


def test_the_first_failures_are_kept_with_their_place_and_reason() -> None:
    stats = RunStats()
    stats.fail("#0 nf-1", "title: missing")
    stats.fail("#4 nf-9", "database refused: value too long")
    assert stats.failed == 2
    assert stats.summary() == (
        "2 item(s) failed: #0 nf-1: title: missing; #4 nf-9: database refused: value too long"
    )


def test_only_a_few_failures_are_kept_and_the_rest_are_counted() -> None:
    stats = RunStats()
    for index in range(MAX_FAILURES_KEPT + 7):
        stats.fail(f"#{index}", "bad")
    assert stats.failed == MAX_FAILURES_KEPT + 7
    assert len(stats.failures) == MAX_FAILURES_KEPT
    summary = stats.summary()
    assert summary is not None
    assert summary.startswith(f"{MAX_FAILURES_KEPT + 7} item(s) failed: #0: bad")
    assert summary.endswith("; and 7 more")


def test_the_summary_is_capped_at_2000_characters_however_long_the_reasons() -> None:
    stats = RunStats()
    for index in range(MAX_FAILURES_KEPT):
        stats.fail(f"#{index}", "x" * 1_000)
    summary = stats.summary()
    assert summary is not None
    assert len(summary) == 2_000

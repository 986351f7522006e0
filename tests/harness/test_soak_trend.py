"""The soak's leak test: a slope with a confidence bound (unit tests on made-up series)."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest

from harness.soak.trend import Allowance, judge

pytestmark = pytest.mark.unit

EVERY = 5.0
SAMPLES = 240
"""20 minutes at one sample every 5 s, like the local soak."""


def _times(n: int = SAMPLES) -> list[float]:
    return [i * EVERY for i in range(n)]


def test_a_flat_noisy_level_is_not_growing() -> None:
    rng = random.Random(1)
    values = [150.0 + rng.gauss(0, 3) for _ in range(SAMPLES)]
    trend = judge("rss", "MB", _times(), values)
    assert not trend.growing, trend.describe()


def test_a_steady_leak_is_growing() -> None:
    rng = random.Random(2)
    # 1 MB a minute on 150 MB: 60 MB/h, against 15 MB/h allowed
    values = [150.0 + i * EVERY / 60 + rng.gauss(0, 3) for i in range(SAMPLES)]
    trend = judge("rss", "MB", _times(), values)
    assert trend.growing, trend.describe()
    assert trend.slope_per_hour == pytest.approx(60, rel=0.15)


def test_growth_during_the_warm_up_alone_is_not_a_leak() -> None:
    rng = random.Random(3)
    values = [100.0 + min(i, 40) + rng.gauss(0, 1) for i in range(SAMPLES)]
    trend = judge("rss", "MB", _times(), values)
    assert not trend.growing, trend.describe()


def test_a_wandering_but_level_series_is_not_a_leak() -> None:
    """Samples close to their neighbours (a slow wander around the level): the bound is widened
    for the autocorrelation instead of calling the wander a trend."""
    flagged = 0
    for seed in range(20):
        rng = random.Random(seed)
        level, values = 0.0, []
        for _ in range(SAMPLES):
            level = 0.95 * level + rng.gauss(0, 1.5)
            values.append(150.0 + level)
        flagged += judge("rss", "MB", _times(), values).growing
    assert flagged <= 1, f"{flagged} of 20 level series called growing"


def test_the_floor_keeps_an_idle_counter_from_growing_by_one() -> None:
    values = [0.0] * 200 + [1.0] * 40
    trend = judge("outbox", "events", _times(), values, Allowance(relative=0.1, floor=50))
    assert not trend.growing, trend.describe()


def test_a_constant_series_has_no_slope() -> None:
    trend = judge("fds", "fds", _times(), [42.0] * SAMPLES)
    assert (trend.slope_per_hour, trend.growing) == (0.0, False)


def test_too_few_samples_after_the_warm_up_is_an_error() -> None:
    with pytest.raises(ValueError, match="samples after the warm-up"):
        judge("rss", "MB", _times(10), [1.0] * 10)


def test_a_trend_is_plain_json() -> None:
    rng = random.Random(4)
    trend = judge("rss", "MB", _times(), [150 + rng.gauss(0, 1) for _ in range(SAMPLES)])
    document = json.loads(json.dumps({**dataclasses.asdict(trend), "growing": trend.growing}))
    assert document["growing"] is False

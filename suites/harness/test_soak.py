"""The 20-minute soak (``make test-slow``; about 22 minutes with its start-up).

``mgh soak run --preset local`` as a suite: the soak profile (18 iterations/s, 180 users)
against a per-service stack while each service's memory and file descriptors, the stack's
PostgreSQL connections, Redis memory and Kafka outbox are sampled every 5 s. No series may show
sustained growth (a slope whose 95 % lower bound exceeds its allowance), and the curves are
drawn as PNG beside ``soak.md``.
"""

from __future__ import annotations

import pytest

from harness.soak import runner
from harness.soak.runner import SoakRun

pytestmark = [pytest.mark.integration, pytest.mark.long, pytest.mark.timeout(2700)]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def soak() -> SoakRun:
    outcome = runner.run(preset="local", progress=print)
    print("\n" + "\n".join(j.trend.describe() for j in outcome.judged))
    return outcome


def test_the_run_was_long_enough_to_judge_and_every_process_lived(soak: SoakRun) -> None:
    assert soak.judgeable
    assert soak.sampler_errors == []
    subjects = {j.series.subject for j in soak.judged if j.series.metric.name == "rss"}
    assert subjects == {"gateway", "auth", "sona", "sync", "discovery", "playback", "ingestion"}
    assert min(len(j.series.values) for j in soak.judged) >= 200, "every 5 s for 20 minutes"


def test_no_resource_grows(soak: SoakRun) -> None:
    growing = [j.trend.describe() for j in soak.judged if j.trend.growing]
    assert growing == [], "\n".join(growing)


def test_the_curves_are_drawn(soak: SoakRun) -> None:
    names = {path.name for path in soak.charts}
    assert names == {
        "soak-rss.png",
        "soak-open_fds.png",
        "soak-db_connections.png",
        "soak-redis_memory.png",
        "soak-outbox_pending.png",
    }
    for path in soak.charts:
        assert path.read_bytes().startswith(PNG_SIGNATURE)
        assert path.stat().st_size > 10_000

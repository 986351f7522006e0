"""How fast are the fixtures? Prints figures and never fails on speed (measured, not asserted).

- cold start of each backend (time from "start" to "healthy"), a few times each;
- per-test isolation: a fresh PostgreSQL database cloned from the migrated template (target:
  median < 150 ms), a Redis DB index, a Kafka topic, a Qdrant collection.

Run with ``make bench-fixtures``; ``--rounds`` and ``--clones`` size it.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from qdrant_client import models

from harness.backends import SPECS, Backend, resolve
from harness.backends.qdrant import client_for
from harness.isolation import KafkaTopics, QdrantCollections, RedisDatabases, TemplateDatabases

CLONE_TARGET_MS = 150.0


def timed(action: Callable[[], object]) -> float:
    began = time.perf_counter()
    action()
    return (time.perf_counter() - began) * 1000


def summary(label: str, samples_ms: list[float], target_ms: float | None = None) -> None:
    ordered = sorted(samples_ms)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    median = statistics.median(ordered)
    verdict = ""
    if target_ms is not None:
        verdict = f"  target < {target_ms:.0f} ms: {'met' if median < target_ms else 'MISSED'}"
    print(
        f"  {label:<34} n={len(ordered):<4} median {median:8.1f} ms   p95 {p95:8.1f} ms"
        f"   max {ordered[-1]:8.1f} ms{verdict}"
    )


def cold_starts(rounds: int) -> None:
    print(f"cold start to healthy ({rounds} rounds each):")
    for name, spec in SPECS.items():
        samples, mode = [], None
        for _ in range(rounds):
            began = time.perf_counter()
            backend = resolve(spec)
            samples.append((time.perf_counter() - began) * 1000)
            mode = backend.mode
            backend.stop()
        summary(f"{name} ({mode})", samples)


def isolation(clones: int) -> None:
    backends: dict[str, Backend] = {name: resolve(spec) for name, spec in SPECS.items()}
    try:
        print(f"\nper-test isolation ({clones} rounds each):")
        templates = TemplateDatabases(backends["postgres"].url)
        summary("postgres: migrate the template", [timed(templates.prepare)])
        clone_ms, drop_ms = [], []
        for _ in range(clones):
            began = time.perf_counter()
            name = templates.clone().name
            clone_ms.append((time.perf_counter() - began) * 1000)
            drop_ms.append(timed(lambda name=name: templates.drop(name)))
        summary("postgres: fresh database (clone)", clone_ms, CLONE_TARGET_MS)
        summary("postgres: drop it again", drop_ms)
        templates.close()

        pool = RedisDatabases(backends["redis"].url)
        summary(
            "redis: acquire + release a DB",
            [timed(lambda: pool.release(pool.acquire())) for _ in range(clones)],
        )
        pool.close()

        topics = KafkaTopics(backends["kafka"].url)
        summary("kafka: create a topic", [timed(topics.create) for _ in range(clones)])
        summary("kafka: delete them all", [timed(topics.cleanup)])

        client = client_for(backends["qdrant"])
        collections = QdrantCollections(client)

        def create_collection() -> None:
            client.create_collection(
                collections.name(),
                vectors_config=models.VectorParams(size=384, distance=models.Distance.COSINE),
            )

        summary("qdrant: create a collection", [timed(create_collection) for _ in range(clones)])
        summary("qdrant: delete them all", [timed(collections.cleanup)])
    finally:
        for backend in backends.values():
            backend.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="cold starts per backend")
    parser.add_argument("--clones", type=int, default=50, help="isolated resources per kind")
    args = parser.parse_args()
    cold_starts(args.rounds)
    isolation(args.clones)


if __name__ == "__main__":
    main()

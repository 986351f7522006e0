"""Search and SONA at local load, and ingestion throughput, on the seed catalogue.

Starts the stack, ingests every platform feed (timed: titles/s and events/s), gives a set of
users a viewing history, then runs concurrent searches — half anonymous, half signed in (so
SONA re-ranks them) — from a list of natural-language queries. Prints search p50/p95/p99
(client-observed and server-side at the gateway) against the 500 ms SLO, and SONA's re-rank
p95 from its own histogram against the 5 ms SLO.

Run: ``make bench-search`` (``BENCH_ARGS="--clients 20 --seconds 30"``).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import time

import httpx

from harness.accounts import Account, expect, login, register_verified
from harness.latency import Recorder, timed
from harness.scrape import quantile_between, scrape
from harness.stack import Stack, launch

SEARCH_SLO_MS = 500.0
SONA_SLO_MS = 5.0
QUERIES = (
    "funny sci-fi from the 90s", "scary horror movies", "romantic comedy", "epic fantasy",
    "documentary about oceans", "tense thriller from the 2010s", "westerns before 1980",
    "heartwarming family films", "crime series", "space adventure", "war movies rated above 8",
    "quirky animation", "mystery in a locked manor", "uplifting drama", "musicals on prime",
    "dark crime from the 80s", "robots and androids", "time travel", "heist", "haunted house",
)  # fmt: skip


def ingestion_report(stack: Stack) -> None:
    print("\ningestion of the seed catalogue (through the API, the runs overlapping):")
    items, seconds = 0.0, stack.seeding_seconds
    for run in stack.seeded:
        fetched = run.counts.get("fetched", 0)
        items += fetched
        print(
            f"  {run.platform:<8} fetched {fetched:5d}  new {run.counts.get('new', 0):5d}  "
            f"merged {run.counts.get('merged', 0):5d}  failed {run.counts.get('failed', 0):3d}  "
            f"{run.seconds:6.1f} s  {fetched / run.seconds if run.seconds else math.nan:7.1f} titles/s"
        )
    metrics = scrape(stack.base_url)
    delivered = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("kafka_events_delivered_total{")
    )
    print(f"  total    {items:5.0f} feed items in {seconds:.1f} s (wall time): {items / seconds:.1f} titles/s; "
          f"{delivered:.0f} events delivered to Kafka ({delivered / seconds:.1f} events/s)")  # fmt: skip


def give_history(client: httpx.Client, stack: Stack, users: int) -> list[Account]:
    assert stack.mailbox is not None
    rng = random.Random(7)
    accounts = []
    for _ in range(users):
        account = login(client, register_verified(client, stack.mailbox))
        taste = rng.choice(QUERIES)
        hits = expect(client.get("/api/v1/search", params={"q": taste}), 200).json()["items"]
        for item in hits[:6]:
            expect(
                client.post(
                    "/api/v1/interactions",
                    json={"content_id": item["id"], "kind": "complete"},
                    headers=account.headers,
                ),
                202,
            )
        accounts.append(account)
    return accounts


async def searcher(
    client: httpx.AsyncClient, account: Account | None, recorder: Recorder, stop_at: float
) -> None:
    rng = random.Random(id(account))
    headers = account.headers if account else {}
    name = "search (signed in)" if account else "search (anonymous)"
    while time.monotonic() < stop_at:
        query = rng.choice(QUERIES)
        await timed(
            recorder, name, client.get("/api/v1/search", params={"q": query}, headers=headers)
        )
        await asyncio.sleep(rng.uniform(0.05, 0.15))


async def run_load(base_url: str, accounts: list[Account], clients: int, seconds: float) -> None:
    recorder = Recorder()
    limits = httpx.Limits(max_connections=clients + 5, max_keepalive_connections=clients + 5)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:
        for round_, query in enumerate(QUERIES * 3):  # each key once: never served from cache
            params = {"q": query, "page_size": 10 + round_ % 40, "page": 1 + round_ // 40}
            await timed(
                recorder, "search (uncached, serial)", client.get("/api/v1/search", params=params)
            )
        before = scrape(base_url)
        began = time.monotonic()
        users = [accounts[i % len(accounts)] if i % 2 else None for i in range(clients)]
        await asyncio.gather(*(searcher(client, u, recorder, began + seconds) for u in users))
        elapsed = time.monotonic() - began
    after = scrape(base_url)
    print(
        f"\n{len(QUERIES) * 3} uncached searches one at a time, then {clients} concurrent "
        f"clients for {seconds:.0f} s over {len(QUERIES)} queries (client-observed):"
    )
    for summary in recorder.summary(elapsed):
        print(summary.line())
    search_p50, search_p95 = (
        1000 * quantile_between(before, after, "http_request_duration_seconds", q,
                                service="discovery", route="/api/v1/search")
        for q in (0.5, 0.95)
    )  # fmt: skip
    sona_p95 = 1000 * quantile_between(before, after, "sona_rerank_duration_seconds", 0.95)
    sona_p50 = 1000 * quantile_between(before, after, "sona_rerank_duration_seconds", 0.5)
    print("\nserver-side during the concurrent phase (histogram_quantile, services' histograms):")
    print(f"  search (discovery)      p50 {search_p50:7.1f} ms  p95 {search_p95:7.1f} ms  "
          f"SLO p95 < {SEARCH_SLO_MS:.0f} ms: {'met' if search_p95 < SEARCH_SLO_MS else 'MISSED'}")  # fmt: skip
    print(f"  SONA re-rank            p50 {sona_p50:7.2f} ms  p95 {sona_p95:7.2f} ms  "
          f"SLO p95 < {SONA_SLO_MS:.0f} ms: {'met' if sona_p95 < SONA_SLO_MS else 'MISSED'}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--users", type=int, default=20, help="signed-in users with a history")
    parser.add_argument("--embedder", choices=("minilm", "hashing"), default="minilm")
    args = parser.parse_args()
    print(f"starting the stack (embedder {args.embedder}) and ingesting the seed catalogue …")
    with launch(seed=True, embedder=args.embedder) as stack:
        ingestion_report(stack)
        with httpx.Client(base_url=stack.base_url, timeout=30) as client:
            accounts = give_history(client, stack, args.users)
        print(f"\n{len(accounts)} users given a viewing history (6 completed titles each)")
        asyncio.run(run_load(stack.base_url, accounts, args.clients, args.seconds))


if __name__ == "__main__":
    main()

"""Auth under load through the gateway: login, refresh and a protected route.

50 virtual users (by default) each sign in, then loop: call a protected route (GET /api/v1/me)
four times and refresh their token once, with a short think time between requests, re-logging
in every 20 loops — a person's pattern, like a Locust user. Prints p50/p95/p99 per endpoint
against the SLO (auth p95 < 50 ms). ``--think 0`` removes the think time to show the ceiling
(closed loop: latency then measures queueing, not the service).

Run: ``make bench-auth`` (or ``.venv/bin/python benchmarks/bench_auth.py --help``).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import time

import httpx

from harness.accounts import Account, login, register_verified
from harness.cpuwatch import CpuWatch
from harness.latency import Recorder, timed
from harness.scrape import quantile_between, scrape
from harness.stack import launch

SLO_P95_MS = 50.0
ME = "GET /api/v1/me"
REFRESH = "POST /auth/token (refresh)"
LOGIN = "POST /auth/login"


async def virtual_user(
    client: httpx.AsyncClient, account: Account, recorder: Recorder, stop_at: float, think: float
) -> None:
    rng = random.Random(account.email)
    headers = {"Authorization": f"Bearer {account.access_token}"}
    refresh_token = account.refresh_token
    loops = 0
    while time.monotonic() < stop_at:
        loops += 1
        for _ in range(4):
            await timed(recorder, ME, client.get("/api/v1/me", headers=headers))
            await asyncio.sleep(think * rng.uniform(0.5, 1.5))
        response = await timed(
            recorder,
            REFRESH,
            client.post(
                "/api/v1/auth/token",
                data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            ),
        )
        if response is not None and response.status_code == 200:
            tokens = response.json()
            refresh_token = tokens["refresh_token"]
            headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        if loops % 20 == 0:
            response = await timed(
                recorder,
                LOGIN,
                client.post(
                    "/api/v1/auth/login",
                    json={"email": account.email, "password": account.password},
                ),
            )
            if response is not None and response.status_code == 200:
                tokens = response.json()
                refresh_token = tokens["refresh_token"]
                headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        await asyncio.sleep(think * rng.uniform(0.5, 1.5))


async def login_burst(
    client: httpx.AsyncClient, accounts: list[Account], recorder: Recorder
) -> None:
    """Every user signs in at once: the argon2 cost under contention, reported separately."""
    await asyncio.gather(
        *(
            timed(
                recorder,
                LOGIN + " (all at once)",
                client.post("/api/v1/auth/login", json={"email": a.email, "password": a.password}),
            )
            for a in accounts
        )
    )


async def run_load(base_url: str, accounts: list[Account], seconds: float, think: float) -> None:
    recorder = Recorder()
    limits = httpx.Limits(
        max_connections=len(accounts) + 10, max_keepalive_connections=len(accounts) + 10
    )
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:
        await login_burst(client, accounts, recorder)
        baseline = scrape(base_url)  # the server-side figures below cover the steady phase only
        began = time.monotonic()
        stop_at = began + seconds
        with CpuWatch() as cpu:
            await asyncio.gather(
                *(virtual_user(client, a, recorder, stop_at, think) for a in accounts)
            )
        elapsed = time.monotonic() - began
    print(f"\n{len(accounts)} concurrent users, {seconds:.0f} s, think time {think * 1000:.0f} ms:")
    verdicts = []
    for summary in recorder.summary(elapsed):
        print(summary.line())
        if "all at once" not in summary.name:
            verdicts.append((summary.name, summary.p95_ms))
    server = server_side_p95(baseline, scrape(base_url))
    print(f"\nSLO auth p95 < {SLO_P95_MS:.0f} ms (client-observed | server-side in the service):")
    for name, p95 in verdicts:
        at_gateway = server.get(name, math.nan)
        print(
            f"  {name:<28} p95 {p95:7.1f} ms  {'met' if p95 < SLO_P95_MS else 'MISSED':<6} | "
            f"{at_gateway:7.1f} ms  {'met' if at_gateway < SLO_P95_MS else 'MISSED'}"
        )
    print(
        "  (client-observed includes this box's load generator sharing the 2 cores; the\n"
        "   server-side figure is histogram_quantile over the auth service's own histogram)"
    )
    print(f"  {cpu.line()}")


def server_side_p95(before: str, after: str) -> dict[str, float]:
    """p95 per endpoint from the auth service's own latency histogram, steady phase only."""
    routes = {ME: "/api/v1/me", REFRESH: "/api/v1/auth/token", LOGIN: "/api/v1/auth/login"}
    return {
        name: 1000
        * quantile_between(
            before, after, "http_request_duration_seconds", 0.95, service="auth", route=route
        )
        for name, route in routes.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--think", type=float, default=0.1, help="mean think time, seconds")
    parser.add_argument("--workers", type=int, default=2, help="gateway worker processes")
    args = parser.parse_args()
    print(f"starting the stack ({args.workers} gateway workers) …")
    with launch(workers=args.workers) as stack:
        assert stack.mailbox is not None
        print(f"stack at {stack.base_url}; creating {args.users} users …")
        with httpx.Client(base_url=stack.base_url, timeout=30) as client:
            accounts = [
                login(client, register_verified(client, stack.mailbox)) for _ in range(args.users)
            ]
        print(
            f"argon2id: m={stack.env.get('MG_ARGON2_MEMORY_KIB', '19456')} KiB, "
            f"t={stack.env.get('MG_ARGON2_TIME_COST', '2')}, "
            f"p={stack.env.get('MG_ARGON2_PARALLELISM', '1')} (OWASP minimum profile)"
        )
        asyncio.run(run_load(stack.base_url, accounts, args.seconds, args.think))


if __name__ == "__main__":
    main()

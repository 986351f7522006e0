"""What the gateway's own layers cost a request, in process (``make bench-edge``).

Calls the gateway app's ASGI entry point directly — no server, no socket, no load generator —
for ``/health/live`` (the edge layer, the dispatcher's fall-through, the router and a constant
answer) and, in the same run, the trivial reference app's ``/ping``. What is left between the
two is the price of the gateway's edge and routing on every request. Prints microseconds per
request (the best of several rounds) and the ratio; nothing is asserted. No backend is needed:
the gateway's lifespan is not started, so only routes that need none are measured.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import secrets
import time
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message

from mediagw.gateway.app import create_app
from mediagw.gateway.settings import GatewaySettings

TRIVIAL_APP = Path(__file__).resolve().parent / "loadgen" / "trivial_app.py"


def _trivial_app() -> ASGIApp:
    spec = importlib.util.spec_from_file_location("trivial_app", TRIVIAL_APP)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app: ASGIApp = module.app
    return app


def _gateway_app() -> ASGIApp:
    values = {  # by alias, as the environment would give them
        "JWT_SECRET": secrets.token_urlsafe(48),
        "env": "test",
        # Never connected to: the lifespan, which would open it, is not run.
        "redis_url": "redis://127.0.0.1:1/0",
    }
    settings = GatewaySettings(**values)  # type: ignore[arg-type]  # values by alias, checked by pydantic at run time
    return create_app(settings)


def _scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"user-agent", b"bench-edge"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }


async def microseconds_per_request(app: ASGIApp, path: str, requests: int, rounds: int) -> float:
    """The best round's mean: a round disturbed by anything else only ever gets slower."""
    statuses: list[int] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(int(message["status"]))

    for _ in range(requests // 10):  # warm-up: caches, lazily built routes
        await app(_scope(path), receive, send)
    if set(statuses) != {200}:
        raise SystemExit(f"{path} answered {sorted(set(statuses))}, not 200")
    best = float("inf")
    for _ in range(rounds):
        began = time.perf_counter()
        for _ in range(requests):
            await app(_scope(path), receive, send)
        best = min(best, (time.perf_counter() - began) / requests)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000, help="per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    trivial, gateway = _trivial_app(), _gateway_app()

    async def measure() -> tuple[float, float]:
        reference = await microseconds_per_request(trivial, "/ping", args.requests, args.rounds)
        health = await microseconds_per_request(gateway, "/health/live", args.requests, args.rounds)
        return reference, health

    reference, health = asyncio.run(measure())
    print(f"trivial app /ping:          {reference:6.1f} µs per request (the reference)")
    print(f"gateway /health/live:       {health:6.1f} µs per request")
    print(f"ratio (reference ÷ gateway): {reference / health:.2f}")
    print(f"the gateway's own layers:   {health - reference:6.1f} µs per request")


if __name__ == "__main__":
    main()

"""The closed-loop probe of ``make bench-gateway`` against a real server: it counts what it
sends, fills templates, follows a rotating token chain, and reports failures as failures.

The server is a small Starlette app under uvicorn in a thread of this process: it keeps what
it received, so each test checks the probe's requests from the server's side.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harness.backends.process import free_port
from harness.load.closed import Call, Plan, _shares, probe

pytestmark = pytest.mark.integration


@dataclass
class Seen:
    bodies: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    spent: set[str] = field(default_factory=set)
    reused: int = 0


def app(seen: Seen) -> Starlette:
    async def ok(request: Request) -> Response:
        seen.paths.append(request.url.path)
        return JSONResponse({"ok": True})

    async def echo(request: Request) -> Response:
        seen.bodies.append((await request.body()).decode())
        return JSONResponse({"ok": True})

    async def rotate(request: Request) -> Response:
        """A refresh grant: a token works once and buys the next."""
        token = (await request.body()).decode().removeprefix("token=")
        if token in seen.spent:
            seen.reused += 1
            return JSONResponse({"error": "reused"}, status_code=401)
        seen.spent.add(token)
        return JSONResponse({"next": f"{token}+"})

    async def teapot(request: Request) -> Response:
        return JSONResponse({"error": "no"}, status_code=418)

    return Starlette(
        routes=[
            Route("/ok/{n}", ok),
            Route("/echo", echo, methods=["POST"]),
            Route("/rotate", rotate, methods=["POST"]),
            Route("/teapot", teapot),
        ]
    )


@pytest.fixture
def server() -> Iterator[tuple[str, Seen]]:
    seen = Seen()
    port = free_port()
    config = uvicorn.Config(app(seen), port=port, log_level="warning", lifespan="off")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not running.started:
        assert time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        running.should_exit = True
        thread.join(10)


def test_each_connection_takes_its_share_of_the_calls() -> None:
    calls = [Call("GET", f"/{i}") for i in range(5)]
    assert [[c.path for c in share] for share in _shares(calls, 2)] == [
        ["/0", "/2", "/4"],
        ["/1", "/3"],
    ]
    assert [[c.path for c in share] for share in _shares(calls[:2], 3)] == [["/0"], ["/1"], ["/0"]]


def test_the_probe_counts_every_measured_request_the_server_answered(
    server: tuple[str, Seen],
) -> None:
    url, seen = server
    calls = [Call("GET", f"/ok/{i}") for i in range(3)]
    result = probe(Plan(url, calls, concurrency=3, seconds=1.0, warmup=0.3))
    assert result.requests > 50
    assert result.failed == 0
    assert result.statuses == {"200": result.requests}
    assert result.series.count == result.requests
    # warm-up requests reached the server but are not counted
    assert len(seen.paths) >= result.requests
    assert set(seen.paths) == {"/ok/0", "/ok/1", "/ok/2"}
    assert 0 < result.quantile_ms(0.5) <= result.quantile_ms(0.99)
    assert result.rps == pytest.approx(result.requests / 1.0)
    assert result.cpu_percent > 0


def test_the_counter_fills_the_body_template(server: tuple[str, Seen]) -> None:
    url, seen = server
    call = Call("POST", "/echo", {"Content-Type": "application/json"}, '{"position": {n}}')
    probe(Plan(url, [call], concurrency=1, seconds=0.5, warmup=0.0))
    positions = [json.loads(body)["position"] for body in seen.bodies]
    assert positions[:5] == [1, 2, 3, 4, 5]


def test_a_rotating_chain_never_spends_a_token_twice(server: tuple[str, Seen]) -> None:
    url, seen = server
    calls = [Call("POST", "/rotate", body="token={token}", token=f"t{i}") for i in range(4)]
    result = probe(Plan(url, calls, concurrency=4, seconds=0.8, warmup=0.2, rotate="next"))
    assert seen.reused == 0
    assert result.failed == 0
    assert result.requests > 20
    assert {"t0", "t1+", "t2++"} <= seen.spent


def test_error_answers_are_counted_as_failures_with_their_status(
    server: tuple[str, Seen],
) -> None:
    url, _ = server
    result = probe(Plan(url, [Call("GET", "/teapot")], concurrency=2, seconds=0.5, warmup=0.1))
    assert result.requests > 0
    assert result.failed == result.requests
    assert result.statuses == {"418": result.requests}


def test_an_unreachable_server_is_a_failure_not_a_crash() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = probe(Plan(url, [Call("GET", "/")], concurrency=1, seconds=0.3, warmup=0.0))
    assert result.failed == result.requests > 0
    assert set(result.statuses) <= {"ConnectionRefusedError", "OSError"}, result.statuses

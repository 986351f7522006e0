"""The gateway's hot paths at a fixed concurrency, each as a ratio of this box's ceiling.

Machines differ from session to session (the same trivial endpoint measured 5,390 and 3,260
req/s a week apart), so no figure here stands alone: every path's throughput is divided by the
*ceiling* — a trivial FastAPI endpoint (``benchmarks/loadgen/trivial_app.py``) under the same
uvicorn, the same number of workers and the same probe, measured in the same run, before and
after the paths (the two must agree, or the run says the machine moved).

Each path is probed closed-loop (:mod:`harness.load.closed`, ``wrk -c N`` style) through a
stack this bench launches (all-in-one, seeded), and its server-side latency is read from the
gateway's own histogram between two scrapes, beside the client's HDR percentiles. A probe whose
process used ≥ 90 % of a core is flagged: its latencies are then its own queueing.

Login's cost is argon2id by design, so its reference is not the trivial endpoint but its own
ceiling: the argon2id verifies per second this box does with as many threads hashing at once
as the stack runs (a thread per core), measured here with the stack's parameters. One verify
alone is faster than one of several at once (19 MiB each: they share the memory bus and the
cache), so ``cores ÷ one verify's time`` overstates the box; both figures are printed. It is
measured before and after the paths, and the better of the two counts: anything else running
can only slow a measurement down, never speed it up.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from harness.backends.process import free_port
from harness.load.closed import Call, Plan, ProbeResult, probe
from harness.load.cpu_split import describe, snapshot, split, stack_groups
from harness.load.pool import QUERIES, LoadAccount, Pool, prepare
from harness.scrape import quantile_between, scrape
from harness.stack import Stack, attach, launch

REPOSITORY = Path(__file__).resolve().parents[3]
TRIVIAL_APP_DIR = REPOSITORY / "benchmarks" / "loadgen"
ARGON2 = {"time_cost": 2, "memory_cost": 19_456, "parallelism": 1}
"""OWASP's first argon2id profile: the stack is started with it, the ceiling measured with it."""
MOVED_TOO_MUCH = 0.15
"""Ceilings before and after the paths further apart than this: the machine moved mid-run."""
SEARCH = "GET /api/v1/search"


@dataclass(frozen=True)
class Goal:
    """What the issue asks of a path on this box (ratios in the same run)."""

    ratio: float | None = None
    p95_ms: float | None = None
    of_login_ceiling: float | None = None

    def describe(self) -> str:
        parts = []
        if self.ratio is not None:
            parts.append(f"≥ {self.ratio:g}")
        if self.of_login_ceiling is not None:
            parts.append(f"≥ {self.of_login_ceiling:.0%} of argon2 ceiling")
        if self.p95_ms is not None:
            parts.append(f"p95 < {self.p95_ms:g} ms")
        return ", ".join(parts) or "—"


@dataclass
class PathResult:
    name: str
    route: str
    result: ProbeResult
    server: dict[str, float]
    goal: Goal
    cpu_ms: dict[str, float] = field(default_factory=dict)
    """CPU milliseconds per request by process group (gateway, postgres, redis, probe);
    empty when the stack is not this box's."""
    ratio: float = 0.0
    met: bool | None = None


@dataclass
class BenchReport:
    workers: int
    concurrency: int
    seconds: float
    ceilings: list[float]
    argon2s: list[Argon2Reference]
    """Measured before and after the paths."""
    paths: list[PathResult] = field(default_factory=list)

    @property
    def ceiling(self) -> float:
        return statistics.fmean(self.ceilings)

    @property
    def machine_moved(self) -> bool:
        low, high = min(self.ceilings), max(self.ceilings)
        return high > 0 and (high - low) / high > MOVED_TOO_MUCH

    @property
    def argon2(self) -> Argon2Reference:
        """The faster of the measurements (a disturbed one is only ever slower)."""
        return max(self.argon2s, key=lambda a: a.verifies_per_second)

    @property
    def login_ceiling(self) -> float:
        return self.argon2.verifies_per_second


# --- the reference: the cheapest answer this framework gives --------------------------------


@contextmanager
def trivial_app(workers: int) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "trivial_app:app", "--port", str(port),
         "--workers", str(workers), "--log-level", "warning", "--no-access-log"],
        cwd=TRIVIAL_APP_DIR,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ping(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ping(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the trivial app exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/ping", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("the trivial app did not answer /ping within 30 s")


@dataclass(frozen=True)
class Argon2Reference:
    """argon2id verifies at :data:`ARGON2` on this box, now: alone and all threads at once."""

    alone_seconds: float
    """Median time of one verify with nothing else hashing."""
    threads: int
    verifies_per_second: float
    """Throughput with ``threads`` verifying at once: the login ceiling."""

    @property
    def naive_rate(self) -> float:
        """``threads ÷ alone_seconds``: what the box would do if verifies did not contend."""
        return self.threads / self.alone_seconds if self.alone_seconds else 0.0


def argon2_reference(threads: int, rounds: int = 15, rounds_at_once: int = 40) -> Argon2Reference:
    """Measure one verify alone (median of ``rounds``), then ``threads`` threads verifying
    ``rounds_at_once`` times each at once (argon2-cffi releases the GIL, as in the service's
    pool; about a second, so one slow verify does not move the rate much)."""
    from argon2 import PasswordHasher  # noqa: PLC0415 — only this measurement needs it

    hasher = PasswordHasher(
        time_cost=ARGON2["time_cost"],
        memory_cost=ARGON2["memory_cost"],
        parallelism=ARGON2["parallelism"],
    )
    encoded = hasher.hash("bench-password")
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        hasher.verify(encoded, "bench-password")
        times.append(time.perf_counter() - began)

    def verify_rounds() -> None:
        for _ in range(rounds_at_once):
            hasher.verify(encoded, "bench-password")

    pool = [threading.Thread(target=verify_rounds) for _ in range(threads)]
    began = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - began
    return Argon2Reference(statistics.median(times), threads, threads * rounds_at_once / elapsed)


def hashing_threads_of(workers: int) -> int:
    """The stack's hashing threads in all: ``mediagw.auth.passwords.hashing_threads`` per
    worker, times the workers."""
    return workers * max(1, (os.cpu_count() or 1) // workers)


# --- the paths --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PathSpec:
    name: str
    service: str
    """The service that answers it (its own histogram gives the server-side figures)."""
    route: str
    """The route template that service's histogram labels it with."""
    method: str
    calls: Callable[[Pool], list[Call]]
    goal: Goal = Goal()
    rotate: str | None = None
    concurrency: int | None = None
    """Connections for this path when not the run's (a latency goal below saturation)."""


def _bearer(account: LoadAccount) -> dict[str, str]:
    return {"Authorization": f"Bearer {account.access_token}"}


def _uncached_searches(region: str) -> Callable[[Pool], list[Call]]:
    """A (query, page, page size) in ``region`` never asked before in this run, each time:
    the search cache misses (the query's embedding may be memoised: the texts repeat)."""

    def calls(_: Pool) -> list[Call]:
        found = []
        for page_size in range(10, 50):
            for page in (1, 2, 3):
                for query in QUERIES:
                    params = {"q": query, "page": page, "page_size": page_size, "region": region}
                    found.append(Call("GET", f"/api/v1/search?{urlencode(params)}"))
        return found

    return calls


FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}

PATHS: tuple[PathSpec, ...] = (
    PathSpec(
        "health",
        "gateway",
        "/health/live",
        "GET",
        lambda _: [Call("GET", "/health/live")],
        Goal(0.8),
    ),
    PathSpec(
        "genres",
        "discovery",
        "/api/v1/genres",
        "GET",
        lambda _: [Call("GET", "/api/v1/genres")],
        Goal(0.6),
    ),
    PathSpec(
        "content details",
        "discovery",
        "/api/v1/content/{content_id}",
        "GET",
        lambda pool: [Call("GET", f"/api/v1/content/{t}") for t in pool.titles],
        Goal(0.4, p95_ms=50),
    ),
    PathSpec(
        "search (cached)",
        "discovery",
        "/api/v1/search",
        "GET",
        lambda _: [Call("GET", "/api/v1/search?" + urlencode({"q": QUERIES[1]}))],
        Goal(0.25),
    ),
    PathSpec(
        "search (uncached)",
        "discovery",
        "/api/v1/search",
        "GET",
        _uncached_searches("US"),
        Goal(p95_ms=100),
    ),
    PathSpec(
        "search (uncached, 4 clients)",
        "discovery",
        "/api/v1/search",
        "GET",
        _uncached_searches("GB"),
        Goal(p95_ms=100),
        concurrency=4,
    ),
    PathSpec(
        "recommendations",
        "sona",
        "/api/v1/recommendations",
        "GET",
        lambda pool: [Call("GET", "/api/v1/recommendations", _bearer(a)) for a in pool.accounts],
    ),
    PathSpec(
        "playback heartbeat",
        "playback",
        "/api/v1/playback/sessions/{session_id}/heartbeat",
        "POST",
        lambda pool: [
            Call(
                "POST",
                f"/api/v1/playback/sessions/{a.playback_session}/heartbeat",
                {**_bearer(a), **JSON},
                '{"position_seconds": {n}, "state": "playing"}',
            )
            for a in pool.accounts
            if a.playback_session
        ],
    ),
    PathSpec(
        "login",
        "auth",
        "/api/v1/auth/login",
        "POST",
        lambda pool: [
            Call(
                "POST",
                "/api/v1/auth/login",
                JSON,
                json.dumps({"email": a.email, "password": a.password}),
            )
            for a in pool.accounts
        ],
        Goal(of_login_ceiling=0.8),
    ),
    PathSpec(
        "refresh",
        "auth",
        "/api/v1/auth/token",
        "POST",
        lambda pool: [
            Call(
                "POST",
                "/api/v1/auth/token",
                FORM,
                "grant_type=refresh_token&refresh_token={token}",
                token=a.refresh_token,
            )
            for a in pool.accounts
        ],
        Goal(0.3),
        rotate="refresh_token",
    ),
)
"""In the order they run: refresh last, since it spends every account's refresh token."""


def stack_env() -> dict[str, str]:
    """Every bench request comes from 127.0.0.1, so the per-address auth limits are lifted (the
    limiter still runs: its Redis calls are part of each login's cost)."""
    return {
        "MG_RATE_LIMIT_LOGIN": "100000000/60",
        "MG_RATE_LIMIT_TOKEN": "100000000/60",
        "MG_ARGON2_TIME_COST": str(ARGON2["time_cost"]),
        "MG_ARGON2_MEMORY_KIB": str(ARGON2["memory_cost"]),
        "MG_ARGON2_PARALLELISM": str(ARGON2["parallelism"]),
    }


def start_sessions(base_url: str, pool: Pool) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for index, account in enumerate(pool.accounts):
            response = client.post(
                "/api/v1/playback/sessions",
                json={"content_id": pool.titles[index % len(pool.titles)], "device_id": "bench"},
                headers=_bearer(account),
            )
            if response.status_code == 201:
                account.playback_session = str(response.json()["session_id"])


def server_quantiles(
    before: str, after: str, service: str, route: str, method: str
) -> dict[str, float]:
    """The answering service's own latency over the probe (its histogram between two scrapes
    of the gateway's /metrics, which in all-in-one mode carries every mounted service's)."""
    labels = {"service": service, "route": route, "method": method}
    return {
        f"p{round(q * 100)}": 1000
        * quantile_between(before, after, "http_request_duration_seconds", q, **labels)
        for q in (0.5, 0.95, 0.99)
    }


def judge(path: PathResult, report: BenchReport) -> None:
    goal = path.goal
    path.ratio = path.result.rps / report.ceiling if report.ceiling else 0.0
    checks = []
    if goal.ratio is not None:
        checks.append(path.ratio >= goal.ratio)
    if goal.p95_ms is not None:
        checks.append(path.result.quantile_ms(0.95) < goal.p95_ms)
    if goal.of_login_ceiling is not None:
        checks.append(path.result.rps >= goal.of_login_ceiling * report.login_ceiling)
    path.met = all(checks) if checks else None


@dataclass(frozen=True)
class BenchOptions:
    workers: int = os.cpu_count() or 1
    concurrency: int = 32
    seconds: float = 8.0
    warmup: float = 2.0
    only: tuple[str, ...] = ()
    target: str | None = None
    """A running stack's URL (its mailbox in ``mailbox``) instead of launching one: for
    profiling between runs. Its workers are its own; ``workers`` then only sizes the ceiling."""
    mailbox: str | None = None


def run(options: BenchOptions, say: Callable[[str], None] = print) -> BenchReport:
    def plan(
        base_url: str, calls: list[Call], rotate: str | None = None, clients: int | None = None
    ) -> Plan:
        concurrency = clients or options.concurrency
        return Plan(base_url, calls, concurrency, options.seconds, options.warmup, rotate)

    def ceiling() -> float:
        with trivial_app(options.workers) as reference:
            return probe(plan(reference, [Call("GET", "/ping")])).rps

    say(f"ceiling: trivial endpoint, {options.workers} worker(s) …")
    first = ceiling()
    say(f"  {first:,.0f} req/s")

    def argon2() -> Argon2Reference:
        measured = argon2_reference(hashing_threads_of(options.workers))
        say(
            f"argon2id verify: {measured.alone_seconds * 1000:.1f} ms alone; "
            f"{measured.verifies_per_second:,.0f}/s with {measured.threads} thread(s) at once"
        )
        return measured

    report = BenchReport(options.workers, options.concurrency, options.seconds, [first], [argon2()])
    say(f"stack: {options.target or 'launching (all-in-one, seeded)'} …")
    with _stack(options) as stack:
        assert stack.mailbox is not None  # a launched stack has one
        pool = prepare(
            stack.base_url, options.concurrency, mailbox_dir=str(stack.mailbox.directory)
        )
        start_sessions(stack.base_url, pool)
        gateway = stack.processes.get("gateway")
        groups = stack_groups(gateway.pid if gateway else None, "harness.load.closed")
        for spec in PATHS:
            if options.only and spec.name not in options.only:
                continue
            say(f"{spec.name} …")
            before = scrape(stack.base_url)
            result = probe(
                plan(stack.base_url, spec.calls(pool), spec.rotate, spec.concurrency),
                sample=lambda: snapshot(groups),
            )
            after = scrape(stack.base_url)
            path = PathResult(
                spec.name,
                spec.route,
                result,
                server_quantiles(before, after, spec.service, spec.route, spec.method),
                spec.goal,
                split(*result.window, result.requests) if result.window else {},
            )
            report.paths.append(path)
            say(f"  {result.rps:,.0f} req/s, p95 {result.quantile_ms(0.95):.1f} ms")
    say("ceiling again …")
    report.ceilings.append(ceiling())
    report.argon2s.append(argon2())
    for path in report.paths:
        judge(path, report)
    return report


@contextmanager
def _stack(options: BenchOptions) -> Iterator[Stack]:
    if options.target:
        yield attach(options.target, options.mailbox)
        return
    with launch(workers=options.workers, seed=True, extra_env=stack_env(), timeout=180) as stack:
        yield stack


# --- the table ----------------------------------------------------------------------------------


def table(report: BenchReport) -> str:
    ceiling = report.ceiling
    lines = [
        f"Ceiling (trivial FastAPI endpoint, {report.workers} worker(s), {report.concurrency} "
        f"connections): {' / '.join(f'{c:,.0f}' for c in report.ceilings)} req/s before / "
        f"after the paths"
        + ("  — MACHINE MOVED: ratios are not comparable" if report.machine_moved else ""),
        f"Login ceiling: {report.login_ceiling:,.0f} argon2id verifies/s with "
        f"{report.argon2.threads} thread(s) hashing at once (the better of "
        f"{' / '.join(f'{a.verifies_per_second:,.0f}' for a in report.argon2s)} before / after "
        f"the paths; one alone: "
        f"{report.argon2.alone_seconds * 1000:.1f} ms, so {report.argon2.threads} ÷ that = "
        f"{report.argon2.naive_rate:,.0f}/s if they did not contend)",
        "",
        "| path | req/s | ratio | client p50 / p95 / p99 ms | service p50 / p95 / p99 ms "
        "| failed | probe CPU | CPU ms per request | goal | met |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for path in report.paths:
        result = path.result
        client = " / ".join(f"{result.quantile_ms(q):.1f}" for q in (0.5, 0.95, 0.99))
        server = " / ".join(f"{path.server[k]:.1f}" for k in ("p50", "p95", "p99"))
        ratio = (
            f"{result.rps / report.login_ceiling:.2f} of login ceiling"
            if path.goal.of_login_ceiling is not None and report.login_ceiling
            else f"{path.ratio:.3f}"
        )
        cpu = f"{result.cpu_percent:.0f} %" + (" SATURATED" if result.saturated else "")
        met = {True: "yes", False: "NO", None: "—"}[path.met]
        lines.append(
            f"| {path.name} | {result.rps:,.0f} | {ratio} | {client} | {server} | "
            f"{result.failed} | {cpu} | {describe(path.cpu_ms)} | {path.goal.describe()} | "
            f"{met} |"
        )
    lines.append("")
    lines.append(f"ceiling used for the ratios: {ceiling:,.0f} req/s (mean of the two)")
    return "\n".join(lines)


def to_json(report: BenchReport) -> dict[str, Any]:
    return {
        "workers": report.workers,
        "concurrency": report.concurrency,
        "seconds": report.seconds,
        "ceilings": report.ceilings,
        "machine_moved": report.machine_moved,
        "argon2_rates": [a.verifies_per_second for a in report.argon2s],
        "argon2_alone_ms": report.argon2.alone_seconds * 1000,
        "argon2_threads": report.argon2.threads,
        "login_ceiling": report.login_ceiling,
        "login_ceiling_if_no_contention": report.argon2.naive_rate,
        "paths": [
            {
                "name": p.name,
                "route": p.route,
                "rps": p.result.rps,
                "ratio": p.ratio,
                "client_ms": p.result.series.summary(),
                "server_ms": p.server,
                "requests": p.result.requests,
                "failed": p.result.failed,
                "statuses": p.result.statuses,
                "probe_cpu_percent": p.result.cpu_percent,
                "probe_saturated": p.result.saturated,
                "cpu_ms_per_request": p.cpu_ms,
                "goal": p.goal.describe(),
                "met": p.met,
            }
            for p in report.paths
        ],
    }

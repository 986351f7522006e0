"""Cross-device sync propagation: N devices over real WebSockets, latency p50/p95/p99 and msg/s.

Starts ``python -m mediagw serve sync`` against a fresh migrated database and Redis DB (or uses
``--url`` of a running service/gateway, with ``JWT_SECRET`` and ``MG_POSTGRES_URL`` in the
environment to create users and tokens). Half of each user's devices write ``lww_set`` ops at
``--rate`` per second; latency is from just before the sending device's ``send`` to the other
device receiving the fan-out (same clock). Target: p95 < 100 ms. Measured, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import time
import uuid

import httpx
import psycopg
from websockets.asyncio.client import ClientConnection, connect

from harness.backends import SPECS, resolve
from harness.cpuwatch import CpuWatch
from harness.isolation import RedisDatabases, TemplateDatabases
from harness.scrape import quantile_between
from mediagw.common.tokens import TokenCodec
from mediagw.sync.settings import SyncSettings

TARGET_P95_MS = 100.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_users(db_url: str, count: int) -> list[str]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        rows = conn.execute(
            "INSERT INTO auth.users (email, email_verified_at) "
            "SELECT 'bench-' || gen_random_uuid() || '@example.test', now() "
            "FROM generate_series(1, %s) RETURNING id::text",
            (count,),
        ).fetchall()
    return [str(r[0]) for r in rows]


def quantile(ordered: list[float], q: float) -> float:
    return (
        ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")
    )


async def bench(args: argparse.Namespace, ws_url: str, http_url: str, tokens: list[str]) -> None:
    per_user = max(2, args.devices // len(tokens))
    sent: dict[str, float] = {}
    latencies: list[float] = []
    received = 0
    stop = asyncio.Event()

    async def open_device(token: str, name: str) -> ClientConnection:
        ws = await connect(f"{ws_url}?access_token={token}", open_timeout=30, max_size=2**24)
        await ws.send(json.dumps({"v": 1, "type": "hello", "device_id": name}))
        return ws

    async def reader(ws: ClientConnection) -> None:
        nonlocal received
        async for raw in ws:
            now = time.perf_counter()
            message = json.loads(raw)
            if message["type"] == "op":
                received += 1
                began = sent.get(message["op"]["op_id"])
                if began is not None:
                    latencies.append((now - began) * 1000)

    async def writer(ws: ClientConnection, name: str) -> None:
        rng = random.Random(name)
        logical, last = 0, 0
        await asyncio.sleep(rng.random() / args.rate)
        while not stop.is_set():
            physical = int(time.time() * 1000)
            logical = logical + 1 if physical <= last else 0
            last = max(last, physical)
            op_id = str(uuid.uuid4())
            frame = {
                "v": 1, "type": "op", "op_id": op_id, "kind": "lww_set",
                "key": f"progress/{rng.randrange(20)}", "value": {"pos": rng.random()},
                "hlc": {"p": last, "l": logical, "n": name},
            }  # fmt: skip
            sent[op_id] = time.perf_counter()
            await ws.send(json.dumps(frame))
            await asyncio.sleep(1 / args.rate)

    started = time.perf_counter()
    devices: list[tuple[ClientConnection, str, bool]] = []
    for u, token in enumerate(tokens):
        for d in range(per_user):
            devices.append((token, f"u{u}-d{d}", d == 0))  # type: ignore[arg-type]
    opened: list[tuple[ClientConnection, str, bool]] = []
    for i in range(0, len(devices), 100):
        chunk = devices[i : i + 100]
        sockets = await asyncio.gather(*(open_device(str(t), n) for t, n, _ in chunk))
        opened.extend((ws, n, w) for ws, (_, n, w) in zip(sockets, chunk, strict=True))
    print(
        f"  connected {len(opened)} devices for {len(tokens)} users in {time.perf_counter() - started:.1f} s"
    )
    readers = [asyncio.create_task(reader(ws)) for ws, _, _ in opened]
    await asyncio.sleep(0.5)  # hello snapshots arrive
    async with httpx.AsyncClient() as http:
        before = (await http.get(f"{http_url}/metrics")).text
    began = time.perf_counter()
    with CpuWatch() as cpu:
        writers = [asyncio.create_task(writer(ws, n)) for ws, n, w in opened if w]
        await asyncio.sleep(args.seconds)
        stop.set()
        await asyncio.gather(*writers)
        await asyncio.sleep(1.0)  # in-flight deliveries
    elapsed = time.perf_counter() - began
    for ws, _, _ in opened:
        await ws.close()
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)

    ordered = sorted(latencies)
    p50, p95, p99 = (quantile(ordered, q) for q in (0.5, 0.95, 0.99))
    verdict = "met" if p95 < TARGET_P95_MS else "MISSED"
    print(f"  ops sent {len(sent)}  fan-out messages received {received}  in {elapsed:.1f} s")
    print(f"  throughput: {len(sent) / elapsed:.0f} ops/s in, {received / elapsed:.0f} msgs/s out")
    print(
        f"  propagation (client clock) n={len(ordered)}  p50 {p50:.1f} ms  p95 {p95:.1f} ms  "
        f"p99 {p99:.1f} ms  (target p95 < {TARGET_P95_MS:.0f} ms: {verdict})"
    )
    async with httpx.AsyncClient() as http:
        metrics = (await http.get(f"{http_url}/metrics")).text
    server = [
        1000 * quantile_between(before, metrics, "sync_propagation_seconds", q)
        for q in (0.5, 0.95, 0.99)
    ]
    print(
        f"  propagation (server: receive → write to the other device, its own histogram)  "
        f"p50 {server[0]:.1f} ms  p95 {server[1]:.1f} ms  p99 {server[2]:.1f} ms"
    )
    lines = [m for m in metrics.splitlines() if m.startswith("sync_slow_consumers_dropped_total ")]
    print(f"  server: {lines[0] if lines else 'no slow-consumer metric'}")
    print(f"  {cpu.line()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--users", type=int, default=250)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=2.0, help="ops/s per writing device")
    parser.add_argument("--url", help="ws(s)://host:port of a running service or gateway")
    args = parser.parse_args()
    if args.url:
        settings = SyncSettings()  # type: ignore[call-arg]
        tokens = [
            TokenCodec(settings).issue(u, {"read", "write"})[0]
            for u in make_users(settings.postgres_url, args.users)
        ]
        http = args.url.replace("ws", "http", 1)
        asyncio.run(bench(args, f"{args.url}/api/v1/sync/ws", http, tokens))
        return
    postgres, redis_backend = resolve(SPECS["postgres"]), resolve(SPECS["redis"])
    templates, redis_pool = TemplateDatabases(postgres.url), RedisDatabases(redis_backend.url)
    database, redis_db = templates.clone(), redis_pool.acquire()
    secret = secrets.token_urlsafe(48)
    port = free_port()
    env = {**os.environ, "MG_POSTGRES_URL": database.url, "MG_REDIS_URL": redis_db.url,
           "JWT_SECRET": secret, "MG_ENV": "test"}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "mediagw", "serve", "sync", "--port", str(port), "--workers", "1"],
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("sync service did not start")
            time.sleep(0.1)
        settings = SyncSettings(
            JWT_SECRET=secret, env="test", postgres_url=database.url, redis_url=redis_db.url
        )
        codec = TokenCodec(settings)
        tokens = [
            codec.issue(u, {"read", "write"})[0] for u in make_users(database.url, args.users)
        ]
        print(
            f"sync propagation: {args.devices} devices, {args.users} users, {args.seconds:.0f} s at {args.rate}/s per writer"
        )
        asyncio.run(
            bench(args, f"ws://127.0.0.1:{port}/api/v1/sync/ws", f"http://127.0.0.1:{port}", tokens)
        )
    finally:
        process.terminate()
        process.wait(10)
        redis_pool.release(redis_db)
        redis_pool.close()
        templates.drop(database.name)
        templates.close()
        postgres.stop()
        redis_backend.stop()


if __name__ == "__main__":
    main()

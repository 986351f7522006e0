"""Load generator capacity, measured against the cheapest endpoint there is, as ratios.

One run, same machine, same minute:
1. ``wrk`` (Debian) against a trivial FastAPI endpoint (``benchmarks/loadgen/trivial_app.py``,
   one uvicorn worker): the *server's* ceiling, the reference of every ratio;
2. Locust (one process, closed loop, FastHttpUser) on the same endpoint, plain;
3. the same with what a load run adds per request: HDR recording of both latencies and the
   per-second InfluxDB writer (a throwaway ``influxd``).

For each Locust run: requests/s, its own CPU, and requests/s per core of generator CPU (the
generator's capacity; on two shared cores it is the generator, not the server, that runs out
first). The overhead of recording is the drop in per-core capacity (target < 3 %).

Run: ``make bench-loadgen`` (``--seconds``, ``--users``). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil

from harness.backends import SPECS, resolve
from harness.load.gateway_bench import trivial_app

HERE = Path(__file__).resolve().parent / "loadgen"
BIN = Path(sys.executable).parent


def wrk(url: str, seconds: int) -> float | None:
    binary = shutil.which("wrk")
    if binary is None:
        print("  wrk: not installed (Debian package 'wrk'); skipping the server ceiling")
        return None
    out = subprocess.run(
        [binary, "-t2", "-c32", f"-d{seconds}s", f"{url}/ping"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(match.group(1)) if match else None


def locust(url: str, seconds: int, users: int, record: bool, influx: str) -> tuple[float, float]:
    """(requests/s, generator CPU in cores) of one closed-loop Locust run."""
    env = {**os.environ, "MG_LOADGEN_RECORD": "1" if record else "0", "MG_INFLUX_URL": influx}
    argv = [
        str(BIN / "locust"), "-f", str(HERE / "locustfile.py"), "--headless", "--host", url,
        "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--only-summary",
        "--loglevel", "WARNING", "--csv", str(HERE / ".last"),
    ]  # fmt: skip
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sampler = psutil.Process(process.pid)
    sampler.cpu_percent(None)
    samples = []
    while process.poll() is None:
        time.sleep(1.0)
        try:
            samples.append(sampler.cpu_percent(None))
        except psutil.NoSuchProcess:
            break
    stats = (HERE / ".last_stats.csv").read_text().splitlines()
    header = stats[0].split(",")
    total = dict(zip(header, stats[-1].split(","), strict=False))
    for leftover in HERE.glob(".last_*.csv"):
        leftover.unlink()
    busy = sorted(samples)[len(samples) // 4 :] or [0.0]  # past the start-up second
    return float(total["Requests/s"]), sum(busy) / len(busy) / 100


def _compare(url: str, seconds: int, users: int, rounds: int, influx_url: str) -> None:
    """wrk's ceiling, then Locust plain and recording, interleaved; prints the figures."""
    print(f"machine: {os.cpu_count()} cores; trivial endpoint {url}/ping (1 uvicorn worker)")
    ceiling = wrk(url, seconds)
    if ceiling:
        print(f"  wrk -t2 -c32                       {ceiling:9.0f} req/s   (the reference)")
    runs: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    for round_ in range(rounds):  # interleaved, so drift hits both variants alike
        for record in (False, True) if round_ % 2 == 0 else (True, False):
            runs[record].append(locust(url, seconds, users, record, influx_url))
    rows = []
    for label, record in (("locust, plain", False), ("locust + HDR + InfluxDB", True)):
        per_core = statistics.median(r / c for r, c in runs[record] if c)
        rate = statistics.median(r for r, _ in runs[record])
        cores = statistics.median(c for _, c in runs[record])
        ratio = f"{rate / ceiling:5.2f} of wrk" if ceiling else ""
        rows.append((label, rate, cores, per_core))
        spread = [round(r / c) for r, c in runs[record] if c]
        print(
            f"  {label:<26} {rate:7.0f} req/s  CPU {cores:4.2f} cores  "
            f"{per_core:6.0f} req/s per core (runs {spread})  {ratio}"
        )
    overhead = 1 - rows[1][3] / rows[0][3]
    print(
        f"recording overhead: {100 * overhead:+.1f} % of per-core capacity, medians of "
        f"{rounds} interleaved runs (target < 3 %; compare with the runs' own spread)"
    )
    saturated = rows[0][2] > 0.9
    if saturated:
        print(
            "note: the plain Locust run used ≥ 0.9 core: the generator, not the server, is"
            " the limit of its req/s; per-core capacity is the figure to compare"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each variant (median)")
    args = parser.parse_args()
    influx = resolve(SPECS["influxdb"])
    try:
        with trivial_app(1) as url:
            _compare(url, args.seconds, args.users, args.rounds, influx.url)
    finally:
        influx.stop()


if __name__ == "__main__":
    main()

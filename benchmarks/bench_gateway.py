"""The gateway's hot paths as ratios of this box's ceiling (``make bench-gateway``).

Launches a seeded all-in-one stack with ``--workers`` uvicorn workers (default: one per core),
measures a trivial FastAPI endpoint under the same workers and probe (the ceiling), then each
path closed-loop at ``--concurrency`` connections: req/s, the ratio to the ceiling, the
client's HDR percentiles beside the gateway's own histogram, the probe's CPU, and the goal.
Prints the table; writes ``reports/out/bench-gateway/<time>.{json,md}``. Figures are printed,
never asserted. See :mod:`harness.load.gateway_bench`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from harness.load.gateway_bench import PATHS, BenchOptions, run, table, to_json

OUT = Path(__file__).resolve().parents[1] / "reports" / "out" / "bench-gateway"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=8.0, help="measured, per path")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured, per path")
    parser.add_argument(
        "--only", action="append", default=[], choices=[p.name for p in PATHS], metavar="PATH"
    )
    parser.add_argument("--target", help="a running stack's URL instead of launching one")
    parser.add_argument("--mailbox", help="with --target: its mailbox directory")
    args = parser.parse_args()
    if args.target and not args.mailbox:
        parser.error("--target needs --mailbox (the bench registers its test accounts)")
    options = BenchOptions(
        args.workers,
        args.concurrency,
        args.seconds,
        args.warmup,
        tuple(args.only),
        args.target,
        args.mailbox,
    )
    report = run(options)
    text = table(report)
    print()
    print(text)
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (OUT / f"{stamp}.json").write_text(json.dumps(to_json(report), indent=2))
    (OUT / f"{stamp}.md").write_text(text + "\n")
    print(f"\nwritten: {OUT / stamp}.{{json,md}}")


if __name__ == "__main__":
    main()

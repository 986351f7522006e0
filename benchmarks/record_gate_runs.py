"""Record the load runs the regression gate's acceptance is judged on.

Each run is what CI does once per build: a fresh stack (seeded catalogue, default embedder),
the ``baseline`` profile at its ``ci`` preset, results into a run directory. The A/A runs are
the same build again and again; the fault runs add a fault to one endpoint with the services'
experiment settings (``MG_INJECT_*``):

- ``slow20``: search slowed by 20 % of its median latency as the A/A runs measured it (the
  setting adds milliseconds, so the script converts the percentage from the recorded median);
- ``slow1``:  the same at 1 % — below the measured noise, the gate must pass it;
- ``errors2``: 2 % of searches answered 500.

    .venv/bin/python benchmarks/record_gate_runs.py --aa 10 --faults --out reports/recorded/baseline-ci

Each run takes ≈ 4 minutes here (one minute of stack start-up, three of load). The recorded
directories are committed so the gate's acceptance tests judge real runs without re-running them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

from harness.load.runner import LoadRequest, run

ENDPOINT = "GET /api/v1/search"
ROUTE = r"^/api/v1/search$"
KEEP = ("results.json", "histograms.json")


def _record(kind: str, out: Path, extra_env: dict[str, str]) -> Path:
    scratch = out / ".scratch"
    began = time.monotonic()
    request = LoadRequest(profile="baseline", preset="ci", results_dir=scratch, extra_env=extra_env)
    code, results = run(request, progress=lambda line: print(f"  [{kind}] {line}", flush=True))
    if not results.exists():
        raise SystemExit(f"{kind}: no results file (locust exit {code})")
    target = out / kind / results.parent.name
    target.mkdir(parents=True, exist_ok=True)
    for name in KEEP:  # compact JSON: the recordings are committed
        data = json.loads((results.parent / name).read_text())
        (target / name).write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
    shutil.rmtree(results.parent, ignore_errors=True)
    report = json.loads((target / "results.json").read_text())
    search = report["endpoints"].get(ENDPOINT, {})
    print(
        f"{kind}: {target.name} exit {code} in {time.monotonic() - began:.0f} s — "
        f"search p50 {search.get('p50')} ms, p95 {search.get('p95')} ms, "
        f"{search.get('count')} requests, saturated={report['generator_saturated']}",
        flush=True,
    )
    return target


def _search_median(directories: list[Path]) -> float:
    medians = [
        json.loads((d / "results.json").read_text())["endpoints"][ENDPOINT]["p50_actual"]
        for d in directories
    ]
    return statistics.median(medians)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--aa", type=int, default=0, help="A/A runs to record")
    parser.add_argument("--faults", action="store_true", help="record the three fault runs")
    parser.add_argument(
        "--fault", action="append", default=[], help="record only this fault run (repeatable)"
    )
    parser.add_argument("--out", type=Path, default=Path("reports/recorded"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for _ in range(args.aa):
        _record("aa", args.out, {})
    if args.faults or args.fault:
        aa = sorted((args.out / "aa").iterdir())
        if not aa:
            parser.error("the fault runs need recorded A/A runs (--aa N) to size the slowdown")
        median = _search_median(aa)
        print(f"search median (as sent) over {len(aa)} A/A runs: {median:.2f} ms", flush=True)
        for kind, env in (
            ("slow20", {"MG_INJECT_LATENCY_MS": f"{0.20 * median:.2f}"}),
            ("slow1", {"MG_INJECT_LATENCY_MS": f"{0.01 * median:.2f}"}),
            ("errors2", {"MG_INJECT_ERROR_RATE": "0.02"}),
        ):
            if args.faults or kind in args.fault:
                _record(kind, args.out, {**env, "MG_INJECT_ROUTES": ROUTE})
    shutil.rmtree(args.out / ".scratch", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The A/B story end to end: a baseline run, a candidate with search 20 % slower, the gate.

Both runs are what CI does for a build — a fresh stack, the ``baseline`` profile (``smoke``
preset by default: a minute of load each), results into ``reports/out/runs/`` — the candidate
with the services' experiment setting adding 20 % of search's median (as the baseline measured
it) to every search. Then ``mgh gate`` judges the pair with the floors of ``load/slo.yaml`` (no
A/A calibration here: that is ``mgh baseline calibrate``'s job) and writes the reports.

    make demo-regression            # ≈ 4 minutes here
    .venv/bin/python scripts/demo_regression.py --preset ci --slowdown 0.2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from harness.load.runner import RESULTS_DIR, LoadRequest, run

ENDPOINT = "GET /api/v1/search"
ROUTE = r"^/api/v1/search$"
REPOSITORY = Path(__file__).resolve().parents[1]


def _run(label: str, preset: str, extra_env: dict[str, str]) -> Path:
    print(f"── {label} run", flush=True)
    request = LoadRequest(profile="baseline", preset=preset, extra_env=extra_env)
    code, results = run(request, progress=lambda line: print(f"   {line}", flush=True))
    if not results.exists():
        raise SystemExit(f"{label}: the load run wrote no results (exit {code})")
    return results.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="smoke", help="load preset of both runs")
    parser.add_argument("--slowdown", type=float, default=0.2, help="share of search's median")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR.parent / "demo-regression")
    args = parser.parse_args(argv)

    baseline = _run("baseline", args.preset, {})
    report = json.loads((baseline / "results.json").read_text())
    median = float(report["endpoints"][ENDPOINT]["p50_actual"])
    added = round(args.slowdown * median, 2)
    print(f"   search median {median:.2f} ms: the candidate adds {added} ms to every search")
    candidate = _run(
        "candidate",
        args.preset,
        {"MG_INJECT_LATENCY_MS": str(added), "MG_INJECT_ROUTES": ROUTE},
    )
    print("── mgh gate", flush=True)
    mgh = str(Path(sys.executable).with_name("mgh"))
    argv_gate = [mgh, "gate", "--baseline", str(baseline), "--candidate", str(candidate)]
    gate = subprocess.run([*argv_gate, "--out", str(args.out)], cwd=REPOSITORY, check=False)
    print(f"\ngate exit code {gate.returncode} (0 pass, 1 regression, 2 could not judge)")
    print(f"reports: {args.out}")
    return 0 if gate.returncode == 1 else 1  # the demo succeeds when the gate catches it


if __name__ == "__main__":
    sys.exit(main())

"""How often the gate cries wolf on runs of one build: A/A comparisons over recorded runs.

The recorded A/A runs (``reports/recorded/baseline-ci/aa``, see record_gate_runs.py) are split
into a calibration half and a judged half in several ways; for each split the noise is
calibrated on one half and every pair of the other half is judged. A false alarm is a pair
judged REGRESSION; "could not judge" (exit 2: a run-wide shift beyond the noise, a disturbed
run) is counted apart. Prints, per split, the calibrated minimum effect of search's p50/p95 and the
false alarms with what they flagged; then the verdicts on the ten pairs of the held-out runs
recorded a day later (``aa-holdout``), judged with the noise of all ten.

    .venv/bin/python benchmarks/gate_aa.py
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

from harness.gate import judge as gate
from harness.gate import noise as gate_noise
from harness.gate.model import Run, Verdict
from harness.gate.runs import load_run

RECORDED = Path(__file__).resolve().parents[1] / "reports" / "recorded" / "baseline-ci" / "aa"
HOLDOUT = RECORDED.with_name("aa-holdout")
SEARCH = "GET /api/v1/search"


def main() -> int:
    runs = [load_run(path) for path in sorted(RECORDED.iterdir())]
    half = len(runs) // 2
    splits = {
        "first half": list(range(half)),
        "second half": list(range(half, len(runs))),
        "even": list(range(0, len(runs), 2)),
        "odd": list(range(1, len(runs), 2)),
    }
    settings = gate.settings()
    total_alarms = total_pairs = 0
    print(f"{len(runs)} recorded A/A runs; calibrate on one half, judge every pair of the other")
    for name, calibration in splits.items():
        noise = gate_noise.calibrate([runs[i] for i in calibration])
        judged = [i for i in range(len(runs)) if i not in calibration]
        alarms, unjudged = [], []
        for a, b in itertools.combinations(judged, 2):
            result = gate.judge(runs[a], runs[b], noise=noise, settings=settings)
            if result.verdict is Verdict.REGRESSION:
                flagged = sorted({f"{c.endpoint} {c.metric}" for c in result.regressions})
                alarms.append(f"    runs {a}-{b}: {', '.join(flagged[:4])}")
            elif result.verdict is Verdict.CANNOT_JUDGE:
                unjudged.append(f"    runs {a}-{b}: {result.reason[:140]}")
        pairs = len(judged) * (len(judged) - 1) // 2
        total_alarms, total_pairs = total_alarms + len(alarms), total_pairs + pairs
        search = noise.min_effects.get(SEARCH, {})
        print(
            f"  {name:<12} search min effect p50 {search.get('p50', 0):6.1%} "
            f"p95 {search.get('p95', 0):6.1%} — false alarms {len(alarms)} of {pairs}, "
            f"could not judge {len(unjudged)}"
        )
        for line in alarms + unjudged:
            print(line)
    print(f"false alarms: {total_alarms} of {total_pairs} A/A comparisons")
    held_out(runs, settings)
    return 0


def held_out(runs: list[Run], settings: gate.Settings) -> None:
    """The runs recorded a day later, after the method was chosen: noise of all ten, every
    pair judged."""
    later = [load_run(path) for path in sorted(HOLDOUT.iterdir())]
    noise = gate_noise.calibrate(runs)
    tally: dict[str, int] = {}
    print(f"\n{len(later)} held-out A/A runs, judged with the noise of the {len(runs)} above")
    for a, b in itertools.combinations(range(len(later)), 2):
        result = gate.judge(later[a], later[b], noise=noise, settings=settings)
        tally[result.verdict.value] = tally.get(result.verdict.value, 0) + 1
        print(f"  runs {a}-{b}: {result.reason[:150]}")
    print("held-out verdicts: " + ", ".join(f"{n} {v}" for v, n in sorted(tally.items())))


if __name__ == "__main__":
    sys.exit(main())

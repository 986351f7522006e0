"""The gate on real load runs: no false alarm between runs of one build, real regressions
caught, a change below the noise passed.

``reports/recorded/baseline-ci/`` holds load runs recorded on this machine by
``benchmarks/record_gate_runs.py`` — each one a fresh stack and the ``baseline`` profile at its
``ci`` preset, as CI runs a build: ten A/A runs of the same build (``aa``), five more recorded a
day later after the gate's method was settled (``aa-holdout``: never used to choose it), and
three with a fault on search (its median +20 %, +1 %, and 2 % errors). The first five A/A runs
calibrate the noise the fault runs are judged with; all ten calibrate the noise the held-out
pairs are judged with.

``benchmarks/gate_aa.py`` (``make bench-gate-aa``) prints the false alarms over 40 more
comparisons within the ten.
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.gate import judge as gate
from harness.gate import noise as gate_noise
from harness.gate.model import Change, Verdict
from harness.gate.runs import load_run

pytestmark = pytest.mark.unit

RECORDED = Path(__file__).resolve().parents[2] / "reports" / "recorded" / "baseline-ci"
AA = sorted((RECORDED / "aa").iterdir())
HOLDOUT = sorted((RECORDED / "aa-holdout").iterdir())
CALIBRATION, JUDGED = AA[:5], AA[5:]
SEARCH = "GET /api/v1/search"
MGH = str(Path(sys.executable).with_name("mgh"))


def _only(kind: str) -> Path:
    (found,) = sorted((RECORDED / kind).iterdir())
    return found


@pytest.fixture(scope="module")
def noise() -> gate_noise.Noise:
    return gate_noise.calibrate([load_run(path) for path in CALIBRATION])


@pytest.fixture(scope="module")
def settings() -> gate.Settings:
    return gate.settings()


def test_the_recordings_are_ten_aa_runs_and_three_faults() -> None:
    assert len(CALIBRATION) == 5
    assert len(JUDGED) == 5
    for kind in ("slow20", "slow1", "errors2"):
        assert (_only(kind) / "histograms.json").is_file()


def test_ten_aa_comparisons_judged_with_the_noise_of_five_others_all_pass(
    noise: gate_noise.Noise, settings: gate.Settings
) -> None:
    """The issue's "10 A/A comparisons all pass": every pair of the five A/A runs that did not
    calibrate the noise."""
    judged = [load_run(path) for path in JUDGED]
    verdicts = {
        (a, b): gate.judge(judged[a], judged[b], noise=noise, settings=settings)
        for a, b in itertools.combinations(range(len(judged)), 2)
    }
    assert len(verdicts) == 10
    assert {p: r.reason for p, r in verdicts.items() if r.verdict is not Verdict.PASS} == {}


def test_ten_aa_comparisons_of_held_out_runs_raise_no_false_alarm(
    settings: gate.Settings,
) -> None:
    """Every pair of five A/A runs recorded after the method was chosen, judged with the noise
    of the ten earlier ones: none is called a regression. The pairs with the fourth run are
    refused instead — exit 2, "re-run it": for its first 90 s every median doubled (search 25 ms,
    then 10.7 ms; its p95s +90 … 150 %), a disturbance of the machine the gate would otherwise
    have charged to the build — and the rest pass."""
    noise = gate_noise.calibrate([load_run(path) for path in AA])
    held_out = [load_run(path) for path in HOLDOUT]
    assert len(held_out) == 5
    verdicts = {
        (a, b): gate.judge(held_out[a], held_out[b], noise=noise, settings=settings)
        for a, b in itertools.combinations(range(len(held_out)), 2)
    }
    assert len(verdicts) == 10
    assert [p for p, r in verdicts.items() if r.verdict is Verdict.REGRESSION] == []
    refused = {p: r for p, r in verdicts.items() if r.verdict is Verdict.CANNOT_JUDGE}
    assert set(refused) == {(0, 3), (1, 3), (2, 3), (3, 4)}, {
        p: r.reason for p, r in refused.items()
    }
    disturbed = held_out[3].run_id
    for result in refused.values():
        assert any(f"run {disturbed} was unsteady" in r for r in result.refusals), result.refusals


def test_search_20_percent_slower_fails_naming_search_and_only_search(
    noise: gate_noise.Noise, settings: gate.Settings
) -> None:
    result = gate.judge(
        load_run(CALIBRATION[0]), load_run(_only("slow20")), noise=noise, settings=settings
    )
    assert result.verdict is Verdict.REGRESSION, result.reason
    assert {c.endpoint for c in result.regressions} == {SEARCH}, [
        (c.endpoint, c.metric, c.evidence) for c in result.regressions
    ]
    assert SEARCH in result.reason


def test_two_percent_errors_on_search_fail_on_its_error_rate(
    noise: gate_noise.Noise, settings: gate.Settings
) -> None:
    result = gate.judge(
        load_run(CALIBRATION[0]), load_run(_only("errors2")), noise=noise, settings=settings
    )
    assert result.verdict is Verdict.REGRESSION, result.reason
    flagged = {(c.endpoint, c.metric) for c in result.regressions}
    assert (SEARCH, "error_rate") in flagged, flagged
    assert {endpoint for endpoint, _ in flagged} == {SEARCH}


def test_one_percent_slower_is_below_the_noise_and_passes(
    noise: gate_noise.Noise, settings: gate.Settings
) -> None:
    result = gate.judge(
        load_run(CALIBRATION[0]), load_run(_only("slow1")), noise=noise, settings=settings
    )
    assert result.verdict is Verdict.PASS, (result.reason, result.regressions)
    search = [c for c in result.comparisons if c.endpoint == SEARCH]
    assert all(c.change is not Change.REGRESSION for c in search)


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda r: r.update(generator_saturated=True), "saturated"),
        (lambda r: r.update(aborted="stopped by Ctrl-C"), "aborted"),
        (lambda r: r["profile"].update(preset="smoke"), "preset"),
        (lambda r: r["environment"].update(fingerprint="another-machine"), "fingerprint"),
    ],
)
def test_a_saturated_aborted_or_unlike_run_cannot_be_judged(
    edit: object, reason: str, tmp_path: Path
) -> None:
    candidate = tmp_path / JUDGED[0].name
    shutil.copytree(JUDGED[0], candidate)
    results = json.loads((candidate / "results.json").read_text())
    assert callable(edit)
    edit(results)
    (candidate / "results.json").write_text(json.dumps(results))
    argv = [MGH, "gate", "--baseline", str(JUDGED[1]), "--candidate", str(candidate)]
    done = subprocess.run(
        [*argv, "--no-reports"], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 2, done.stdout + done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert reason in last, last


def test_mgh_gate_exits_1_on_the_slow_run_and_writes_the_reports(tmp_path: Path) -> None:
    noise_file = tmp_path / "noise.json"
    gate_noise.write(gate_noise.calibrate([load_run(p) for p in CALIBRATION]), noise_file)
    out = tmp_path / "report"
    argv = [MGH, "gate", "--baseline", str(CALIBRATION[0]), "--candidate", str(_only("slow20"))]
    done = subprocess.run(
        [*argv, "--noise", str(noise_file), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert SEARCH in done.stdout.strip().splitlines()[-1]
    comment = (out / "pr-comment.md").read_text()
    assert "REGRESSION" in comment.split("\n", 3)[1] or "REGRESSION" in comment[:400]
    for name in ("report.html", "junit.xml", "summary.json", "latency-over-time.png"):
        assert (out / name).is_file(), name

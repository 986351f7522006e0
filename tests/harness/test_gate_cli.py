"""``mgh gate`` and ``mgh baseline`` as CI runs them: exit 0 / 1 / 2 with the reason on the
last line, run ids resolved under the runs directory, the promoted baseline and its noise used
when ``--baseline`` is omitted, calibration into the store, the history with its change points,
and P0/P1 alerts read from a real Prometheus (that one test is ``integration``: it starts the
Debian ``prometheus`` binary; the others are ``unit``)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from test_gate_judge import FINGERPRINT, slower, write_run

import harness.cli.gate  # noqa: F401 — registers `mgh gate` and `mgh baseline` on the group
from harness.cli import main
from harness.obs.prometheus import PrometheusServer
from harness.obs.servers import wait_until

SEARCH = "GET /api/v1/search"


def _gate(*args: str) -> Result:
    return CliRunner().invoke(main, ["gate", *args])


def _last(result: Result) -> str:
    return result.output.rstrip("\n").splitlines()[-1]


@pytest.mark.unit
def test_the_same_build_passes_with_exit_0_and_a_table(tmp_path: Path) -> None:
    base = write_run(tmp_path, "base", seed=1)
    cand = write_run(tmp_path, "cand", seed=2)
    result = _gate("--baseline", str(base), "--candidate", str(cand), "--no-reports")
    assert result.exit_code == 0, result.output
    assert _last(result).startswith("pass: 3 endpoint(s) judged")
    header = next(line for line in result.output.splitlines() if line.startswith("endpoint"))
    titles = ["endpoint", "requests", "p50", "p95", "p99", "p95", "sent", "errors", "rps"]
    assert header.split() == titles
    assert any(
        line.startswith(f"{SEARCH} ") and "3000→3000" in line for line in result.output.splitlines()
    )
    assert "noise: none (floors only)" in result.output


@pytest.mark.unit
def test_a_slowdown_exits_1_naming_the_endpoint_and_writes_reports(tmp_path: Path) -> None:
    base = write_run(tmp_path, "base", seed=1)
    cand = write_run(tmp_path, "cand", seed=2, endpoints=slower(SEARCH, 1.2))
    out = tmp_path / "out"
    result = _gate("--baseline", str(base), "--candidate", str(cand), "--out", str(out))
    assert result.exit_code == 1, result.output
    assert _last(result).startswith(f"regression: {SEARCH} (p50 +")
    assert "▲" in result.output
    assert (out / "pr-comment.md").is_file()
    assert f"  {out / 'pr-comment.md'}" in result.output.splitlines()


@pytest.mark.unit
@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"preset": "smoke"}, "could not judge: different preset: baseline ci, candidate smoke"),
        (
            {"fingerprint": "fedcba987654"},
            "could not judge: different environment fingerprint: baseline 0123456789ab, "
            "candidate fedcba987654",
        ),
        (
            {"saturated": True},
            "could not judge: the candidate run cand saturated its load generator",
        ),
    ],
)
def test_unlike_runs_exit_2_with_the_reason_on_one_line(
    tmp_path: Path, override: dict[str, Any], reason: str
) -> None:
    base = write_run(tmp_path, "base", seed=1)
    cand = write_run(tmp_path, "cand", seed=2, **override)
    result = _gate("--baseline", str(base), "--candidate", str(cand), "--no-reports")
    assert result.exit_code == 2, result.output
    assert _last(result) == reason


@pytest.mark.unit
def test_a_missing_file_exits_2_naming_it(tmp_path: Path) -> None:
    base = write_run(tmp_path, "base", seed=1)
    cand = write_run(tmp_path, "cand", seed=2)
    (cand / "histograms.json").unlink()
    result = _gate("--baseline", str(base), "--candidate", str(cand))
    assert result.exit_code == 2
    assert _last(result) == f"could not judge: {cand / 'histograms.json'}: missing"


@pytest.mark.unit
def test_run_ids_resolve_under_the_runs_directory(tmp_path: Path) -> None:
    write_run(tmp_path, "20261202T101500Z-baseline-ci-aaaa", seed=1)
    write_run(tmp_path, "20261202T111500Z-baseline-ci-bbbb", seed=2)
    result = _gate(
        "--baseline",
        "20261202T101500Z-baseline-ci-aaaa",
        "--candidate",
        "20261202T111500Z-baseline-ci-bbbb",
        "--runs-dir",
        str(tmp_path),
        "--no-reports",
    )
    assert result.exit_code == 0, result.output
    assert "candidate 20261202T111500Z-baseline-ci-bbbb" in result.output


@pytest.mark.unit
def test_the_promoted_baseline_and_its_noise_are_used_when_none_is_given(tmp_path: Path) -> None:
    runs, store = tmp_path / "runs", tmp_path / "baselines"
    for index in range(3):
        write_run(runs, f"aa-{index}", seed=10 + index)
    cand = write_run(runs, "cand", seed=2)
    common = ["--runs-dir", str(runs), "--baselines", str(store)]

    missing = _gate("--candidate", "cand", "--no-reports", *common)
    assert missing.exit_code == 2
    assert _last(missing).startswith("could not judge: no --baseline given and none promoted")

    calibrated = CliRunner().invoke(
        main, ["baseline", "calibrate", "aa-0", "aa-1", "aa-2", *common]
    )
    assert calibrated.exit_code == 0, calibrated.output
    noise_path = store / FINGERPRINT / "baseline-ci" / "noise.json"
    assert f"written to {noise_path}" in calibrated.output
    assert json.loads(noise_path.read_text(encoding="utf-8"))["runs"] == ["aa-0", "aa-1", "aa-2"]
    assert any(line.startswith(SEARCH) for line in calibrated.output.splitlines())

    promoted = CliRunner().invoke(main, ["baseline", "update", "aa-0", *common])
    assert promoted.exit_code == 0, promoted.output
    assert "promoted aa-0" in promoted.output

    result = _gate("--candidate", str(cand), "--no-reports", *common)
    assert result.exit_code == 0, result.output
    assert (
        f"baseline: promoted ({store / FINGERPRINT / 'baseline-ci' / 'baseline'})" in result.output
    )
    assert "noise: calibrated from 3 A/A runs" in result.output

    circular = _gate("--candidate", "aa-1", "--no-reports", *common)
    assert circular.exit_code == 2
    assert "aa-1 is one of the noise calibration runs" in _last(circular)


@pytest.mark.unit
def test_calibration_needs_three_runs(tmp_path: Path) -> None:
    for index in range(2):
        write_run(tmp_path, f"aa-{index}", seed=index)
    result = CliRunner().invoke(
        main,
        [
            "baseline",
            "calibrate",
            "aa-0",
            "aa-1",
            "--runs-dir",
            str(tmp_path),
            "--baselines",
            str(tmp_path / "b"),
        ],
    )
    assert result.exit_code == 1
    assert "noise calibration needs at least 3 A/A runs, got 2" in result.output


@pytest.mark.unit
def test_history_prints_the_change_point(tmp_path: Path) -> None:
    directory = tmp_path / FINGERPRINT / "baseline-ci"
    directory.mkdir(parents=True)
    lines = []
    for index in range(16):
        level = 100.0 if index < 9 else 125.0
        wobble = 1 + 0.01 * ((index * 7) % 5 - 2)
        lines.append(
            json.dumps(
                {
                    "run_id": f"run-{index:02d}",
                    "started_at": 1_767_000_000 + 86_400 * index,
                    "code": {"git_sha": f"{index:040x}", "branch": "main"},
                    "endpoints": {SEARCH: {"p95": level * wobble, "p50": 40.0 * wobble}},
                    "dropped_rate": 0.0,
                }
            )
        )
    (directory / "history.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = ["baseline", "history", "--baselines", str(tmp_path)]
    summary = CliRunner().invoke(main, args)
    assert summary.exit_code == 0, summary.output
    assert f"{SEARCH} p95 latest" in summary.output
    assert "change points: #9 run-09" in summary.output
    detail = CliRunner().invoke(main, [*args, "--endpoint", SEARCH, "--metric", "p95"])
    assert detail.exit_code == 0, detail.output
    marked = [line for line in detail.output.splitlines() if "← change point" in line]
    assert len(marked) == 1
    assert marked[0].startswith("#9 ")
    assert "change point at #9 (run-09" in detail.output
    flat = CliRunner().invoke(main, [*args, "--endpoint", SEARCH, "--metric", "p50"])
    assert "change point" not in flat.output


RULES = """
groups:
  - name: gate-test
    rules:
      - alert: GateTestPageworthy
        expr: vector(1)
        labels: {severity: P1, service: discovery}
      - alert: GateTestDigestOnly
        expr: vector(1)
        labels: {severity: P3, service: discovery}
      - alert: GateTestQuiet
        expr: vector(1) < 0
        labels: {severity: P0, service: auth}
"""


@pytest.mark.integration
def test_a_p1_alert_that_fired_during_the_candidate_fails_the_gate(tmp_path: Path) -> None:
    """Against a real Prometheus evaluating the rules every second: the P1 that fired fails
    the gate and is listed; the P3 that fired and the P0 that did not are not."""
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES, encoding="utf-8")
    started = time.time()
    server = PrometheusServer(interval=1.0, rule_files=[rules]).start()
    try:

        def fired() -> bool:
            return any(s["metric"]["alertstate"] == "firing" for s in server.query("ALERTS"))

        wait_until(fired, 20, "the test rule's ALERTS series")
        base = write_run(tmp_path, "base", seed=1, started_at=started - 400)
        cand = write_run(tmp_path, "cand", seed=2, started_at=time.time() - 180)
        result = _gate(
            "--baseline",
            str(base),
            "--candidate",
            str(cand),
            "--prometheus",
            server.url,
            "--rules",
            str(rules),
            "--no-reports",
        )
    finally:
        server.stop()
    assert result.exit_code == 1, result.output
    assert _last(result) == "regression: alert GateTestPageworthy (P1, discovery) fired"
    assert "alert fired: GateTestPageworthy (P1, discovery)" in result.output
    assert "GateTestDigestOnly" not in result.output
    assert "GateTestQuiet" not in result.output


@pytest.mark.unit
def test_an_unreachable_prometheus_cannot_judge(tmp_path: Path) -> None:
    base = write_run(tmp_path, "base", seed=1)
    cand = write_run(tmp_path, "cand", seed=2)
    result = _gate(
        "--baseline",
        str(base),
        "--candidate",
        str(cand),
        "--prometheus",
        "http://127.0.0.1:9",
        "--no-reports",
    )
    assert result.exit_code == 2
    assert _last(result).startswith("could not judge: Prometheus at http://127.0.0.1:9: ")

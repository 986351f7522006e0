"""``mgh obs`` as a user runs it: the offline checks, and the servers brought up on a stack."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from harness.obs import catalogue, checks
from harness.stack import Stack

pytestmark = pytest.mark.integration

MGH = str(Path(sys.executable).with_name("mgh"))
STOP_SECONDS = 60
"""Ctrl-C stops Prometheus, Alertmanager and InfluxDB one after another, each given 10 s to
shut down cleanly before it is killed."""


def test_obs_check_passes_on_the_committed_files() -> None:
    argv = [MGH, "obs", "check"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"all {len(checks.CHECKS)} checks passed" in done.stdout
    for name, _ in checks.CHECKS:
        assert re.search(rf"^ok\s+{re.escape(name)}\s", done.stdout, re.MULTILINE), name


def test_a_drifted_catalogue_fails_its_check_and_names_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = tmp_path / "metrics.md"
    stale.write_text(catalogue.CATALOGUE_FILE.read_text().replace("http_requests_total", "x"))
    monkeypatch.setattr(catalogue, "CATALOGUE_FILE", stale)
    result = next(r for r in checks.run_all() if r.name == "metrics catalogue drift")
    assert not result.ok
    assert result.summary == "alerting/metrics.md drifted"
    assert "mgh obs generate" in result.detail


def _read_until(process: subprocess.Popen[str], pattern: str, timeout: float) -> re.Match[str]:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if match := re.search(pattern, line):
            return match
    raise AssertionError(f"no line matching {pattern!r}:\n{''.join(seen)}")


def test_obs_up_scrapes_the_target_reports_coverage_and_stops_on_ctrl_c(
    stack: Stack, tmp_path: Path
) -> None:
    argv = [MGH, "obs", "up", "--target", stack.base_url, "--interval", "1"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    ) as process:
        try:
            prometheus = _read_until(process, r"^prometheus\s+(http://\S+)", 60).group(1)
            alertmanager = _read_until(process, r"^alertmanager\s+(http://\S+)", 5).group(1)
            _read_until(process, r"^export MGH_PROMETHEUS_URL=", 5)
            # From here on the output is drained in the background: a pipe left unread fills
            # with notifications and blocks the command, and then Ctrl-C cannot stop it.
            stdout = process.stdout
            assert stdout is not None
            drainer = threading.Thread(target=stdout.read, daemon=True)
            drainer.start()
            deadline = time.monotonic() + 30
            while True:
                result = httpx.get(
                    f"{prometheus}/api/v1/query", params={"query": 'up{job="mediagw"}'}
                ).json()["data"]["result"]
                if result and result[0]["value"][1] == "1":
                    break
                assert time.monotonic() < deadline, f"the stack was never scraped: {result}"
                time.sleep(0.5)
            assert result[0]["metric"]["component"] == "all-in-one"
            rules = httpx.get(f"{prometheus}/api/v1/rules").json()["data"]["groups"]
            assert rules, "no rule group loaded"
            assert httpx.get(f"{alertmanager}/-/ready").status_code == 200
            report = subprocess.run(
                [MGH, "obs", "coverage", "--prometheus", prometheus, "--since", "60s",
                 "--out", str(tmp_path)],
                capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            assert report.returncode == 0, report.stdout + report.stderr
            assert re.search(r"\d+ fired, \d+ pending-only, \d+ quiet", report.stdout)
            assert (tmp_path / "alert-coverage.md").is_file()
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                pytest.fail(f"mgh obs up did not stop within {STOP_SECONDS} s of Ctrl-C")
    assert process.returncode == 0
    for url in (prometheus, alertmanager):
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/-/ready", timeout=2)

"""The offline checks of the observability layer, as one list ``mgh obs check`` runs in seconds.

Each check uses the tool its users would (``promtool``, ``amtool``) or the generator that owns
the file; none needs a running stack. The test suites run the same checks in more detail; this
is the quick answer before a commit.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.obs import alertmanager, catalogue, slo_rules, slo_spec
from harness.obs import dashboards as dashboard_package
from harness.obs.dashboards import FIXED_WINDOWS
from harness.obs.dashboards import build as dashboard_build
from harness.obs.dashboards import lint as dashboard_lint
from harness.obs.dashboards.known_metrics import known_metrics
from harness.obs.servers import find_binary

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "alerting" / "rules"
RULE_TESTS = ROOT / "alerting" / "tests"
RUNBOOKS = ROOT / "alerting" / "runbooks"
CATALOGUE_COMMAND = (sys.executable, "-m", "mediagw", "metrics", "catalogue")


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    seconds: float
    summary: str
    detail: str = ""


class CheckFailed(Exception):
    def __init__(self, summary: str, detail: str = "") -> None:
        super().__init__(summary)
        self.summary, self.detail = summary, detail


def _run(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, cwd=ROOT)
    output = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        raise CheckFailed(f"{Path(argv[0]).name} exited {done.returncode}", output[-3000:])
    return output


def _catalogue() -> str:
    # The services' code is the source; the harness asks their CLI rather than importing it.
    expected = _run([*CATALOGUE_COMMAND])
    committed = catalogue.CATALOGUE_FILE.read_text(encoding="utf-8").strip()
    if committed != expected.strip():
        raise CheckFailed("alerting/metrics.md drifted", "run `mgh obs generate`")
    return f"{len(catalogue.parse(committed))} metrics"


def _rule_files() -> list[str]:
    return [str(p) for p in sorted(RULES.glob("*.yml"))]


def _promtool_check() -> str:
    output = _run([find_binary(("promtool",), "prometheus"), "check", "rules", *_rule_files()])
    if "WARNING" in output.upper():
        raise CheckFailed("promtool warned", output)
    found = sum(int(n) for n in re.findall(r"SUCCESS: (\d+) rules found", output))
    return f"{found} rules in {len(_rule_files())} files"


def _promtool_test() -> str:
    tests = [str(p) for p in sorted(RULE_TESTS.glob("*.yml"))]
    _run([find_binary(("promtool",), "prometheus"), "test", "rules", *tests])
    return f"{len(tests)} test files"


def _slo_drift() -> str:
    files = slo_rules.rendered(slo_spec.load())
    stale = [p for p, text in files.items() if not p.is_file() or p.read_text("utf-8") != text]
    if stale:
        names = ", ".join(str(p.relative_to(ROOT)) for p in stale)
        raise CheckFailed(f"stale: {names}", "run `mgh obs generate`")
    return f"{len(files)} generated files"


def _runbooks() -> str:
    rules = slo_rules.alert_rules([Path(p) for p in _rule_files()])
    names = {rule.name for rule in rules}
    problems = []
    for rule in {rule.name: rule for rule in rules}.values():
        url = rule.annotations.get("runbook_url", "")
        page = RUNBOOKS / url.rsplit("/", 1)[-1]
        if not url.endswith(f"/{rule.name}.md") or not page.is_file():
            problems.append(f"{rule.name}: runbook_url {url!r} has no page {page.name}")
    orphans = [p.name for p in RUNBOOKS.glob("*.md") if p.stem not in names | {"README"}]
    problems += [f"{name}: a runbook for no alert" for name in orphans]
    if problems:
        raise CheckFailed(f"{len(problems)} runbook problems", "\n".join(problems))
    return f"{len(names)} alerts, each with its page"


def _amtool() -> str:
    output = alertmanager.check_config()
    return output.strip().splitlines()[-1] if output.strip() else "ok"


def _dashboards() -> str:
    problems = dashboard_build.drift(ROOT)
    models = list(dashboard_build.generate().values())
    problems += dashboard_lint.lint(models, known_metrics(), FIXED_WINDOWS)
    if problems:
        raise CheckFailed(f"{len(problems)} dashboard problems", "\n".join(problems[:40]))
    return f"{len(models)} dashboards, {len(dashboard_package.queries())} queries"


CHECKS: tuple[tuple[str, Callable[[], str]], ...] = (
    ("metrics catalogue drift", _catalogue),
    ("promtool check rules", _promtool_check),
    ("promtool test rules", _promtool_test),
    ("SLO rules drift", _slo_drift),
    ("runbooks", _runbooks),
    ("amtool check-config", _amtool),
    ("dashboards drift + lint", _dashboards),
)


def run_all() -> list[CheckResult]:
    results = []
    for name, check in CHECKS:
        started = time.perf_counter()
        try:
            summary, ok, detail = check(), True, ""
        except CheckFailed as failed:
            summary, ok, detail = failed.summary, False, failed.detail
        except Exception as exc:  # noqa: BLE001 — one broken check must not hide the others
            summary, ok, detail = f"{type(exc).__name__}: {exc}", False, ""
        results.append(CheckResult(name, ok, time.perf_counter() - started, summary, detail))
    return results


def generate_all() -> list[Path]:
    """Rewrite every generated file; returns the paths written."""
    written = []
    expected = _run([*CATALOGUE_COMMAND])
    catalogue.CATALOGUE_FILE.write_text(expected.rstrip("\n") + "\n", encoding="utf-8")
    written.append(catalogue.CATALOGUE_FILE)
    written += slo_rules.write(slo_spec.load())
    written += dashboard_build.write(ROOT)
    return written

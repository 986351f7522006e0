"""Prometheus rules generated from the SLO spec (mixin style), and the alert listing.

``alerting/rules/slo.yml`` holds, per objective of ``load/slo.yaml``: the SLI's error ratio
recorded at every standard window, the SRE workbook's multiwindow multi-burn-rate alerts, and an
alert when the SLI's series disappears (a silent SLO is not a healthy one). Its promtool unit
tests (``alerting/tests/slo*_test.yml``) are generated beside it by
:mod:`harness.obs.slo_testgen`. All are committed; ``suites/harness/observability/test_rules.py``
regenerates them and fails on drift.

``window_scale`` shrinks every window and ``for:`` for fire drills (1/60 turns 1h & 5m into
1m & 5s). Rule names keep the nominal window (``slo:sli_error:ratio_rate1h``) so panels and
drills query the same series; labels and annotations state the real windows. A scaled range
shorter than :data:`MIN_WINDOW_SECONDS` is refused: ``rate()`` needs two samples, so a range must
span at least two 1 s scrapes.

Regenerate: ``.venv/bin/python -m harness.obs.slo_rules`` (``--check`` exits 1 on drift;
``--scale 0.0166667 --out FILE`` writes a scaled rule file for a drill).
"""

from __future__ import annotations

import argparse
import os.path
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.load.slo import SloError
from harness.obs import slo_testgen
from harness.obs.slo_spec import (
    ABSENT_HOLD,
    ABSENT_RANGE,
    ABSENT_SEVERITY,
    ALERT_ABSENT,
    BURN_PAIRS,
    REGENERATE,
    ROOT,
    WINDOWS,
    Objective,
    ObjectiveError,
    ObjectiveSpec,
    dump_yaml,
    duration,
    header,
    number,
    runbook_url,
)
from harness.obs.slo_spec import load as load_spec

RULES_DIR = ROOT / "alerting" / "rules"
RULES_FILE = RULES_DIR / "slo.yml"
TESTS_DIR = ROOT / "alerting" / "tests"
MIN_WINDOW_SECONDS = 2
"""The shortest range a scaled render may use: two scrapes at a 1 s interval."""


def _scaled(seconds: int, window_scale: float, what: str, *, floor: int) -> int:
    """``seconds * window_scale`` rounded to whole seconds; refused under ``floor``."""
    exact = seconds * window_scale
    if exact < floor:
        raise ObjectiveError(
            f"window_scale={window_scale:g} turns the {what} {duration(seconds)} into "
            f"{exact:g}s, under the {floor}s floor (two 1 s scrapes); "
            f"the smallest usable scale is {floor / seconds:.6g}"
        )
    return round(exact)


def _window(seconds: int, window_scale: float) -> str:
    return duration(_scaled(seconds, window_scale, "window", floor=MIN_WINDOW_SECONDS))


def _hold(seconds: int, window_scale: float) -> str:
    return duration(_scaled(seconds, window_scale, "for:", floor=0))


def _burn_expr(objective: Objective, long_window: int, short_window: int, factor: float) -> str:
    conditions = [
        f'{objective.record(w)}{{slo="{objective.name}"}} / {number(objective.budget)} '
        f"> {number(factor)}"
        for w in (long_window, short_window)
    ]
    return "\nand\n".join(conditions) + "\n"


def _group(objective: Objective, window_scale: float) -> dict[str, Any]:
    rules: list[dict[str, Any]] = [
        {
            "record": objective.record(w),
            "expr": objective.error_ratio(_window(w, window_scale)),
            "labels": objective.record_labels(),
        }
        for w in WINDOWS
    ]
    for pair in BURN_PAIRS:
        long, short = _window(pair.long, window_scale), _window(pair.short, window_scale)
        rule: dict[str, Any] = {
            "alert": objective.alert,
            "expr": _burn_expr(objective, pair.long, pair.short, pair.factor),
        }
        if (hold := _hold(pair.hold, window_scale)) != "0s":
            rule["for"] = hold
        rule["labels"] = objective.burn_labels(pair, long, short)
        rule["annotations"] = {
            "summary": objective.burn_summary(pair, long, short),
            "description": objective.burn_description(
                pair, long, short, '{{ $value | printf "%.1f" }}'
            ),
            "runbook_url": runbook_url(objective.alert),
        }
        rules.append(rule)
    absent_window = _window(ABSENT_RANGE, window_scale)
    absent: dict[str, Any] = {
        "alert": ALERT_ABSENT,
        "expr": f"absent_over_time({objective.presence()}[{absent_window}])",
    }
    if (hold := _hold(ABSENT_HOLD, window_scale)) != "0s":
        absent["for"] = hold
    absent["labels"] = {
        "severity": ABSENT_SEVERITY,
        "service": objective.service,
        "slo": objective.name,
    }
    absent["annotations"] = {
        "summary": objective.absent_summary(),
        "description": objective.absent_description(absent_window),
        "runbook_url": runbook_url(ALERT_ABSENT),
    }
    rules.append(absent)
    return {"name": f"slo-{objective.name}", "rules": rules}


def render(spec: ObjectiveSpec, window_scale: float = 1.0) -> str:
    """The rule file's text; one group per objective (recordings first, so its alerts read the
    ratios recorded at the same evaluation)."""
    if not 0 < window_scale <= 1:
        raise ObjectiveError(f"window_scale must be in (0, 1], got {window_scale!r}")
    groups = [_group(objective, window_scale) for objective in spec.objectives]
    return header(spec, "rules", window_scale) + dump_yaml({"groups": groups})


def rendered(spec: ObjectiveSpec, rules_path: Path = RULES_FILE) -> dict[Path, str]:
    """Every generated file's path and text: the rules, and their promtool tests beside them in
    ``alerting/tests/`` (naming the rules by relative path)."""
    rule_file = _rule_file_from(TESTS_DIR, rules_path)
    tests = slo_testgen.render_tests(spec, rule_file)
    return {rules_path: render(spec), **{TESTS_DIR / name: text for name, text in tests.items()}}


def write(spec: ObjectiveSpec, rules_path: Path = RULES_FILE) -> list[Path]:
    """Write the rules and their promtool tests; returns the paths written."""
    files = rendered(spec, rules_path)
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(files)


def drift(files: Mapping[Path, str]) -> list[str]:
    """How the committed generated files differ from ``files`` (a fresh :func:`rendered`):
    stale or missing ones, and generated test files no render produces any more."""
    problems = [
        f"{path.relative_to(ROOT)} is stale"
        for path, text in files.items()
        if not path.is_file() or path.read_text(encoding="utf-8") != text
    ]
    for path in sorted(TESTS_DIR.glob("*.yml")):
        if path not in files and path.read_text(encoding="utf-8").startswith("# GENERATED"):
            problems.append(f"{path.relative_to(ROOT)} is generated by nothing now: delete it")
    return problems


def _rule_file_from(tests_dir: Path, rules_path: Path) -> str:
    """``rule_files`` are resolved from the test file's directory."""
    return os.path.relpath(rules_path.resolve(), tests_dir.resolve())


@dataclass(frozen=True)
class AlertRule:
    """An alerting rule as committed, for checks and the alert coverage report."""

    name: str
    expr: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str] = field(default_factory=dict)
    hold: str = "0s"
    group: str = ""
    file: Path = Path()


def alert_rules(paths: Iterable[Path] | None = None) -> list[AlertRule]:
    """Every alerting rule in ``paths`` (default: ``alerting/rules/*.yml``), in file order."""
    found = []
    for path in sorted(RULES_DIR.glob("*.yml")) if paths is None else paths:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for group in data.get("groups", []):
            for rule in group.get("rules", []):
                if "alert" in rule:
                    found.append(
                        AlertRule(
                            name=str(rule["alert"]),
                            expr=str(rule["expr"]),
                            labels={str(k): str(v) for k, v in rule.get("labels", {}).items()},
                            annotations={
                                str(k): str(v) for k, v in rule.get("annotations", {}).items()
                            },
                            hold=str(rule.get("for", "0s")),
                            group=str(group["name"]),
                            file=path,
                        )
                    )
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.obs.slo_rules", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--spec", type=Path, default=None, help="SLO file (load/slo.yaml)")
    parser.add_argument("--check", action="store_true", help="exit 1 if committed files drift")
    parser.add_argument("--scale", type=float, default=None, help="window_scale for a drill")
    parser.add_argument("--out", type=Path, default=None, help="with --scale: the rule file")
    args = parser.parse_args(argv)
    try:
        spec = load_spec(args.spec) if args.spec else load_spec()
        if args.scale is not None:
            if args.out is None:
                parser.error("--scale needs --out")
            args.out.write_text(render(spec, args.scale), encoding="utf-8")
            print(f"wrote {args.out}")
            return 0
        if args.check:
            problems = drift(rendered(spec))
            for problem in problems:
                print(f"{problem}: run {REGENERATE}", file=sys.stderr)
            return 1 if problems else 0
        for path in write(spec):
            print(f"wrote {path.relative_to(ROOT)}")
    except SloError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Schemathesis' own command line, run the way a user runs it from this clone.

``st run <document> --url <address>`` picks up the repository's ``schemathesis.toml`` (every
check on, the stateful phase included, the hooks module that signs the fuzzer in), so what
``make fuzz`` and the contract tests run is exactly the command the README shows. This module
starts those runs, one per document and address, and reads back what each found from its
JUnit report and its closing summary.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

REPOSITORY = Path(__file__).resolve().parents[3]
CONFIG = REPOSITORY / "schemathesis.toml"
DOCUMENTS = REPOSITORY / "contracts" / "openapi"

_GENERATED = re.compile(r"(\d+) generated")


@dataclass(frozen=True)
class Target:
    """One run: a committed document fuzzed at one address."""

    document: str
    """``gateway`` or a service name: ``contracts/openapi/<document>.json``."""
    entry: str
    """``gateway`` (through the public entry) or ``direct`` (the service's own address)."""
    url: str

    @property
    def label(self) -> str:
        return f"{self.document} · {self.entry}"

    @property
    def stem(self) -> str:
        return f"{self.document}-{self.entry}"


@dataclass
class RunResult:
    target: Target
    exit_code: int
    seconds: float
    operations: int = 0
    generated: int = 0
    failed_operations: list[str] = field(default_factory=list)
    failure_codes: dict[str, str] = field(default_factory=dict)
    """Operation label → the failure codes schemathesis gave (``ST202, ST204``)."""
    junit: Path | None = None
    html: Path | None = None
    output: str = ""

    @property
    def passed(self) -> bool:
        return self.exit_code == 0 and not self.failed_operations


def command(
    target: Target, report_dir: Path, *, examples: int | None = None, seed: int | None = None
) -> list[str]:
    """The ``st run`` command line for ``target``: the repository's config does the rest."""
    argv = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(CONFIG),
        "run",
        str(DOCUMENTS / f"{target.document}.json"),
        "--url",
        target.url,
        "--report",
        "junit,html",
        "--report-junit-path",
        str(report_dir / f"{target.stem}-junit.xml"),
        "--report-html-path",
        str(report_dir / f"{target.stem}-html"),
        "--no-color",
    ]
    if examples is not None:
        argv += ["--max-examples", str(examples)]
    if seed is not None:
        argv += ["--seed", str(seed)]
    return argv


def run(
    target: Target,
    report_dir: Path,
    *,
    env: dict[str, str],
    examples: int | None = None,
    seed: int | None = None,
    timeout: float = 1800,
) -> RunResult:
    """Run schemathesis once and read its JUnit report; never raises on failures it found."""
    report_dir.mkdir(parents=True, exist_ok=True)
    argv = command(target, report_dir, examples=examples, seed=seed)
    began = time.monotonic()
    completed = subprocess.run(
        argv,
        cwd=REPOSITORY,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = completed.stdout + completed.stderr
    result = RunResult(
        target,
        completed.returncode,
        time.monotonic() - began,
        output=output,
        junit=report_dir / f"{target.stem}-junit.xml",
        html=report_dir / f"{target.stem}-html" / "index.html",
    )
    if (generated := _GENERATED.search(output)) is not None:
        result.generated = int(generated.group(1))
    if result.junit is not None and result.junit.exists():
        report = ElementTree.parse(result.junit)  # noqa: S314 — the report our own st run wrote
        for case in report.getroot().iter("testcase"):
            result.operations += 1
            failure = case.find("failure")
            if failure is None:
                failure = case.find("error")
            if failure is not None:
                name = case.get("name", "?")
                result.failed_operations.append(name)
                result.failure_codes[name] = failure.get("message", "")
    return result


def summary_table(results: list[RunResult]) -> list[str]:
    """One line per run, then the failing operations with their codes."""
    lines = [f"{'document · entry':<24} {'operations':>10} {'cases':>7} {'failed':>6} {'time':>7}"]
    for result in results:
        lines.append(
            f"{result.target.label:<24} {result.operations:>10} {result.generated:>7} "
            f"{len(result.failed_operations):>6} {result.seconds:>6.1f}s"
        )
    for result in results:
        for name in result.failed_operations:
            lines.append(f"  FAILED {result.target.label}: {name} ({result.failure_codes[name]})")
        if result.exit_code not in (0, 1):
            lines.append(f"  ERROR {result.target.label}: st exited {result.exit_code}")
            lines.extend(f"    {line}" for line in result.output.strip().splitlines()[-15:])
    return lines

"""Generate every dashboard, write them with the provisioning files, and find drift.

The committed files under ``dashboards/`` are output: a test regenerates them and compares, so
a change goes into the generator and ``python -m harness.obs.dashboards`` rewrites the files.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.obs.dashboards import (
    auth,
    discovery,
    gateway,
    ingestion,
    kafka,
    load_results,
    overview,
    playback,
    provisioning,
    slo,
    sona,
    sync,
)

DIRECTORY = "dashboards"
REGENERATE = ".venv/bin/python -m harness.obs.dashboards"
"""The command that rewrites the committed files (``mgh obs generate`` calls ``write``)."""

BUILDERS: tuple[Callable[[], dict[str, Any]], ...] = (
    overview.dashboard,
    gateway.dashboard,
    auth.dashboard,
    discovery.dashboard,
    sona.dashboard,
    sync.dashboard,
    playback.dashboard,
    ingestion.dashboard,
    kafka.dashboard,
    slo.dashboard,
    load_results.dashboard,
)
FIXED_WINDOWS = {slo.UID: slo.FIXED_WINDOWS}
"""Dashboards allowed fixed PromQL ranges instead of ``$__rate_interval``, and which."""


def generate() -> dict[str, dict[str, Any]]:
    """Every dashboard's JSON model by file name (``<uid>.json``)."""
    models = [build() for build in BUILDERS]
    return {f"{model['uid']}.json": model for model in models}


def render(model: dict[str, Any]) -> str:
    """A dashboard as committed: the SDK's key order, two-space indent, final newline."""
    return json.dumps(model, indent=2, ensure_ascii=False) + "\n"


def rendered() -> dict[str, str]:
    """Every generated file's text by path relative to ``dashboards/``."""
    files = {name: render(model) for name, model in generate().items()}
    files.update(provisioning.files())
    return files


def write(root: Path | str) -> list[Path]:
    """Write every file under ``root/dashboards/`` and delete dashboards no longer generated;
    returns the paths written."""
    directory = Path(root) / DIRECTORY
    files = rendered()
    for stale in directory.glob("*.json"):
        if stale.name not in files:
            stale.unlink()
    written = []
    for relative, text in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def drift(root: Path | str) -> list[str]:
    """Files under ``root/dashboards/`` that differ from the generator's output, are missing,
    or are dashboards it no longer generates."""
    directory = Path(root) / DIRECTORY
    files = rendered()
    problems = []
    for relative, text in files.items():
        path = directory / relative
        if not path.is_file():
            problems.append(f"{DIRECTORY}/{relative}: missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{DIRECTORY}/{relative}: differs from the generator")
    problems += [
        f"{DIRECTORY}/{extra.name}: not generated (a removed dashboard?)"
        for extra in sorted(directory.glob("*.json"))
        if extra.name not in files
    ]
    return problems

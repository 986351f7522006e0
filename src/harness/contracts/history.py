"""The committed documents as they were at another revision (``git show REV:path``).

What makes "a breaking change needs a version bump" enforceable: CI compares a pull request's
documents with its base's (``mgh contracts since BASE``), so regenerating the snapshots cannot
hide a break that kept the major version.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any


class RevisionError(RuntimeError):
    """Git could not read the revision (unknown, or not a checkout)."""


def _git(repository: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(repository), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def documents_at(revision: str, directory: Path) -> dict[str, dict[str, Any] | None]:
    """Each ``*.json`` in ``directory`` (by stem) as it was at ``revision``; None where the file
    did not exist then (a new document)."""
    top = _git(directory, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise RevisionError(f"{directory} is not in a git checkout: {top.stderr.strip()}")
    root = Path(top.stdout.strip())
    known = _git(root, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    if known.returncode != 0:
        raise RevisionError(f"unknown revision {revision!r}")
    found: dict[str, dict[str, Any] | None] = {}
    for path in sorted(directory.glob("*.json")):
        relative = path.resolve().relative_to(root).as_posix()
        shown = _git(root, "show", f"{revision}:{relative}")
        found[path.stem] = json.loads(shown.stdout) if shown.returncode == 0 else None
    return found

"""``python -m harness.obs.dashboards [ROOT]``: rewrite the committed dashboards under ROOT
(default: the current directory, the repository root)."""

from __future__ import annotations

import sys
from pathlib import Path

from harness.obs.dashboards import write


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path.cwd()
    for path in write(root):
        print(path.relative_to(root))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

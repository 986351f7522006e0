"""Print what `make fuzz` did: operations covered, examples run (``MG_FUZZ_SUMMARY``, written
by contracts/test_fuzz_api.py) and the failing operations (pytest's JUnit XML)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from xml.etree import ElementTree


def failed_operations(junit: Path) -> list[str]:
    if not junit.exists():
        return []
    root = ElementTree.parse(junit).getroot()  # noqa: S314 — our own pytest's report
    return sorted(
        case.get("name", "")
        for case in root.iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    )


def main(summary: str, junit: str) -> int:
    file = Path(summary)
    if not file.exists():
        print(f"fuzz summary: {summary} was not written (did the run start?)")
        return 1
    examples: Counter[str] = Counter()
    for line in file.read_text().splitlines():
        examples.update(json.loads(line))
    print(f"\nfuzz summary: {len(examples)} operations, {sum(examples.values())} examples run")
    for label in sorted(examples):
        print(f"  {examples[label]:6d}  {label}")
    failed = failed_operations(Path(junit))
    print(f"failures: {len(failed)} operation(s)")
    for name in failed:
        print(f"  FAILED {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))

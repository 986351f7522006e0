"""What a contract run did, as JUnit XML for CI and a short markdown summary for people.

Suites record into one ``ContractReport`` per pytest run: how many examples each operation got
(schema fuzzing), what the stateful scenarios reached (steps, operations, links followed), and
which consumer contracts were verified; the pytest plugin in ``contracts/conftest.py`` adds each
test's outcome and writes the files under ``reports/out/`` when the run ends.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree


@dataclass
class Entry:
    """One reported unit: an operation fuzzed, a stateful run, or a consumer interaction."""

    suite: str
    name: str
    examples: int = 0
    outcome: str = "passed"  # passed | failed | skipped
    seconds: float = 0.0
    message: str = ""
    details: Counter[str] = field(default_factory=Counter)


@dataclass
class ContractReport:
    entries: dict[str, Entry] = field(default_factory=dict)
    """By pytest node id."""

    def entry(self, node_id: str, suite: str, name: str) -> Entry:
        found = self.entries.get(node_id)
        if found is None:
            found = self.entries[node_id] = Entry(suite, name)
        return found

    def outcome(self, node_id: str, outcome: str, seconds: float, message: str) -> None:
        """A test's result; a failure in setup or teardown fails the entry as well."""
        entry = self.entries.get(node_id)
        if entry is None:
            return
        entry.seconds += seconds
        if outcome == "failed" or entry.outcome == "passed":
            entry.outcome = outcome
        if message and not entry.message:
            entry.message = message

    # --- figures -------------------------------------------------------------------------------

    def suites(self) -> dict[str, list[Entry]]:
        grouped: dict[str, list[Entry]] = {}
        for entry in self.entries.values():
            grouped.setdefault(entry.suite, []).append(entry)
        return dict(sorted(grouped.items()))

    def failures(self) -> list[Entry]:
        return [e for e in self.entries.values() if e.outcome == "failed"]

    def totals(self) -> tuple[int, int, int]:
        """Entries, examples (fuzz examples, stateful steps, interactions), failures."""
        entries = list(self.entries.values())
        return len(entries), sum(e.examples for e in entries), len(self.failures())

    # --- files ---------------------------------------------------------------------------------

    def junit(self) -> str:
        root = ElementTree.Element("testsuites", name="contracts")
        for suite, entries in self.suites().items():
            failed = sum(1 for e in entries if e.outcome == "failed")
            skipped = sum(1 for e in entries if e.outcome == "skipped")
            element = ElementTree.SubElement(
                root,
                "testsuite",
                name=suite,
                tests=str(len(entries)),
                failures=str(failed),
                skipped=str(skipped),
                time=f"{sum(e.seconds for e in entries):.3f}",
            )
            for entry in entries:
                case = ElementTree.SubElement(
                    element,
                    "testcase",
                    classname=suite,
                    name=entry.name,
                    time=f"{entry.seconds:.3f}",
                )
                properties = ElementTree.SubElement(case, "properties")
                ElementTree.SubElement(
                    properties, "property", name="examples", value=str(entry.examples)
                )
                for key, value in sorted(entry.details.items()):
                    ElementTree.SubElement(properties, "property", name=key, value=str(value))
                if entry.outcome == "failed":
                    failure = ElementTree.SubElement(case, "failure", message=entry.message[:500])
                    failure.text = entry.message
                elif entry.outcome == "skipped":
                    ElementTree.SubElement(case, "skipped", message=entry.message[:500])
        ElementTree.indent(root)
        return ElementTree.tostring(root, encoding="unicode", xml_declaration=True) + "\n"

    def markdown(self, title: str) -> str:
        count, examples, failed = self.totals()
        verdict = "✅ no failures" if not failed else f"❌ {failed} failing"
        lines = [
            f"# {title}",
            "",
            f"{verdict} · {count} operations/scenarios/interactions · {examples} examples run",
            "",
            "| suite | covered | examples | failed | seconds |",
            "|---|---:|---:|---:|---:|",
        ]
        for suite, entries in self.suites().items():
            lines.append(
                f"| {suite} | {len(entries)} | {sum(e.examples for e in entries)} "
                f"| {sum(1 for e in entries if e.outcome == 'failed')} "
                f"| {sum(e.seconds for e in entries):.1f} |"
            )
        stateful = [e for e in self.entries.values() if e.details]
        if stateful:
            lines += ["", "## Stateful runs", ""]
            for entry in stateful:
                figures = ", ".join(f"{k} {v}" for k, v in sorted(entry.details.items()))
                lines.append(f"- **{entry.suite} · {entry.name}**: {figures}")
        if failed:
            lines += ["", "## Failures", ""]
            for entry in self.failures():
                first = (entry.message.strip().splitlines() or ["(no message)"])[0]
                lines.append(f"- `{entry.suite}` · `{entry.name}`: {first[:300]}")
        return "\n".join(lines) + "\n"

    def write(self, directory: Path, stem: str, title: str) -> list[Path]:
        directory.mkdir(parents=True, exist_ok=True)
        junit, summary = directory / f"{stem}-junit.xml", directory / f"{stem}-summary.md"
        junit.write_text(self.junit(), encoding="utf-8")
        summary.write_text(self.markdown(title), encoding="utf-8")
        return [junit, summary]

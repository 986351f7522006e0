"""The metrics catalogue as the harness sees it: the committed table ``alerting/metrics.md``.

The services generate the table from the modules that declare their metrics; the harness reads
the file (never the services' code) to check dashboards, alert rules and live scrapes against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CATALOGUE_FILE = Path(__file__).resolve().parents[3] / "alerting" / "metrics.md"


@dataclass(frozen=True)
class CataloguedMetric:
    name: str
    """As scraped: a counter's ``_total`` included; a histogram's base name."""
    kind: str
    labels: tuple[str, ...]

    def sample_names(self) -> tuple[str, ...]:
        """The series names a scrape shows for this metric."""
        if self.kind == "histogram":
            return tuple(f"{self.name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
        return (self.name,)


def parse(text: str) -> dict[str, CataloguedMetric]:
    table: dict[str, CataloguedMetric] = {}
    for line in text.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        name = cells[0].strip("`")
        labels = tuple(c.strip("`") for c in cells[2].split(", ")) if cells[2] != "—" else ()
        table[name] = CataloguedMetric(name, cells[1], labels)
    return table


def load(path: Path = CATALOGUE_FILE) -> dict[str, CataloguedMetric]:
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no metrics catalogue; run `mediagw metrics catalogue --write`"
        )
    return parse(path.read_text(encoding="utf-8"))


def series_names(catalogue: dict[str, CataloguedMetric]) -> set[str]:
    """Every series name a query may use: histograms' ``_bucket``/``_sum``/``_count`` included."""
    return {name for metric in catalogue.values() for name in metric.sample_names()}

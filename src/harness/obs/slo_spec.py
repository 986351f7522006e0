"""The ``objectives`` section of ``load/slo.yaml`` as typed objectives, and what their alerts say.

The burn-rate rules (:mod:`harness.obs.slo_rules`) and their promtool unit tests
(:mod:`harness.obs.slo_testgen`) are both generated from these objects, so an objective's SLI,
its alert labels and its annotation texts are spelled in one place and the tests cannot drift
from the rules they test.

Availability objectives are per service: the share of ``http_requests_total`` answers that are
not 5xx (readiness probes left out). Latency objectives derive from the endpoint thresholds the
load engine judges: an endpoint's ``p95_ms`` becomes "95 % of the requests to its route answer
within p95_ms", read from the ``le`` bucket of the histogram of the service that answers the
route. A threshold that is not a bucket bound could never be read exactly, so it is refused.
Every error names the spec entry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from harness.load import slo as load_slo

ROOT = Path(__file__).resolve().parents[3]
REGENERATE = ".venv/bin/python -m harness.obs.slo_rules"
SERVICES = ("gateway", "auth", "discovery", "sona", "sync", "playback", "ingestion")
SEVERITIES = ("P0", "P1", "P2", "P3")
RUNBOOK_BASE = "https://github.com/media-gateway/harness/blob/main/alerting/runbooks/"

HTTP_REQUESTS = "http_requests_total"
HTTP_HISTOGRAM = "http_request_duration_seconds"
HISTOGRAM_BUCKETS: Mapping[str, tuple[float, ...]] = {
    HTTP_HISTOGRAM: (
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.5, 0.75, 1.0,
        2.5, 5.0, 10.0,
    ),
    "sync_propagation_seconds": (
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0,
    ),
}  # fmt: skip
"""Bucket bounds (seconds) the services declare; a latency threshold must be one of them."""
HEALTH_ROUTES = "/health/.*"
"""Left out of availability: a readiness 503 while a dependency is down is by design."""
PERCENTILES = {"p95_ms": 95.0, "p99_ms": 99.0}
"""Endpoint thresholds that may become latency objectives, and the share they promise."""

ALERT_AVAILABILITY = "AvailabilityErrorBudgetBurn"
ALERT_LATENCY = "LatencyErrorBudgetBurn"
ALERT_ABSENT = "SLIMetricAbsent"
ABSENT_SEVERITY = "P2"
"""Blind on an SLO is worth a look in business hours; a dead service pages via ServiceDown."""
ABSENT_RANGE, ABSENT_HOLD = 600, 300
"""``absent_over_time(sli[10m])`` held 5m: a quiet route or a scrape gap is not an alert."""

PERIOD_DAYS = 30
"""The SLO period the burn-rate factors assume (the SRE workbook's 30 days)."""


@dataclass(frozen=True)
class BurnPair:
    """One multiwindow burn-rate condition: both windows above ``factor`` times the budget.

    The long window measures how much budget went; the short one makes the alert resolve soon
    after the burn stops. ``hold`` is the rule's ``for:`` (as in the Prometheus mixins).
    """

    long: int
    short: int
    factor: float
    hold: int
    page: bool
    ticket_severity: str = ""

    def budget_days(self) -> float:
        """How long a whole period's budget lasts at exactly this burn rate."""
        return PERIOD_DAYS / self.factor


# SRE workbook, "Alerting on SLOs", multiwindow multi-burn-rate: 2 % of the budget in 1 h or 5 %
# in 6 h pages; 10 % in 1 d or 3 d opens a ticket. Tickets: 3x (the budget gone in 10 days) is
# P2, seen in business hours; 1x (gone at period end) is P3, the e-mail digest.
BURN_PAIRS = (
    BurnPair(long=3600, short=300, factor=14.4, hold=120, page=True),
    BurnPair(long=21600, short=1800, factor=6.0, hold=900, page=True),
    BurnPair(long=86400, short=7200, factor=3.0, hold=3600, page=False, ticket_severity="P2"),
    BurnPair(long=259200, short=21600, factor=1.0, hold=10800, page=False, ticket_severity="P3"),
)
WINDOWS = (300, 1800, 3600, 7200, 21600, 86400, 259200)
"""Every window an SLI is recorded at (5m 30m 1h 2h 6h 1d 3d): the pairs' and the panels'."""


class _Dumper(yaml.SafeDumper):
    """Block scalars for multi-line PromQL, so the committed file reads like hand-written rules."""


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    return dumper.represent_scalar(
        "tag:yaml.org,2002:str", data, style="|" if "\n" in data else None
    )


_Dumper.add_representer(str, _str)


def dump_yaml(data: Any) -> str:
    """YAML as the generated files spell it (keys in insertion order, block PromQL)."""
    text = yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
        default_flow_style=False,
    )
    return str(text)


def header(spec: ObjectiveSpec, what: str, window_scale: float = 1.0) -> str:
    """The comment that opens every generated file: its source and how to regenerate it."""
    lines = [
        f"# GENERATED {what} from the objectives of {_relative(spec.source)} by",
        f"#   {REGENERATE}",
        "# Do not edit: change the spec and regenerate (suites/harness/observability/test_rules.py",
        "# fails when this file differs from a fresh render).",
    ]
    if window_scale != 1.0:
        lines += [
            f"# window_scale={window_scale:g}: every window and for: is shrunk for a fire drill;",
            "# rule names keep the nominal windows, labels and annotations state the real ones.",
        ]
    return "\n".join(lines) + "\n"


def _relative(source: str) -> str:
    path = Path(source)
    return (
        str(path.relative_to(ROOT)) if path.is_absolute() and path.is_relative_to(ROOT) else source
    )


class ObjectiveError(load_slo.SloError):
    """The ``objectives`` section is malformed; the message names the entry."""


def duration(seconds: int) -> str:
    """A Prometheus duration in the largest exact unit (``3d``, ``90s``)."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def number(value: float) -> str:
    """A float as PromQL and humans read it: ``0.001``, ``14.4``, ``6``."""
    return format(round(value, 12), ".12g")


def runbook_url(alert: str) -> str:
    return f"{RUNBOOK_BASE}{alert}.md"


def _selector(metric: str, matchers: tuple[str, ...]) -> str:
    return f"{metric}{{{','.join(matchers)}}}" if matchers else metric


@dataclass(frozen=True)
class Objective:
    """One SLO: an SLI (the share of bad events) and the share of good events promised."""

    name: str
    """The ``slo`` label: ``gateway-availability``, ``get-search-p95``."""
    kind: Literal["availability", "latency"]
    service: str
    objective: float
    """Percent of good events over the period (99.9)."""
    page_severity: str
    metric: str
    """``http_requests_total`` or the histogram's base name."""
    matchers: tuple[str, ...]
    """Equality matchers selecting the SLI's series (``service="auth"`` …)."""
    endpoint: str = ""
    threshold_ms: float = 0.0

    @property
    def budget(self) -> float:
        """The share of bad events the objective allows (0.001 for 99.9 %)."""
        return round(1 - self.objective / 100, 12)

    @property
    def le(self) -> str:
        """The bucket bound as prometheus-client exposes it (``0.5``, ``1.0``): Python's float
        repr, which its ``floatToGoString`` equals for every bound short of 1e16."""
        return repr(self.threshold_ms / 1000)

    @property
    def alert(self) -> str:
        return ALERT_AVAILABILITY if self.kind == "availability" else ALERT_LATENCY

    def record(self, window: int) -> str:
        """The recording rule's name for the SLI's error ratio over ``window`` (nominal)."""
        return f"slo:sli_error:ratio_rate{duration(window)}"

    def presence(self) -> str:
        """The series whose absence blinds the SLO (for latency, the threshold's bucket)."""
        if self.kind == "availability":
            return _selector(self.metric, self.matchers)
        return _selector(f"{self.metric}_bucket", (*self.matchers, f'le="{self.le}"'))

    def presence_labels(self) -> dict[str, str]:
        """The labels ``absent_over_time`` derives from :meth:`presence`'s equality matchers."""
        pairs = [m.split("=", 1) for m in self.matchers]
        labels = {k: v.strip('"') for k, v in pairs}
        if self.kind == "latency":
            labels["le"] = self.le
        return labels

    def error_ratio(self, window: str) -> str:
        """PromQL for the share of bad events over ``window`` (no traffic: no sample)."""
        if self.kind == "availability":
            base = (*self.matchers, f'route!~"{HEALTH_ROUTES}"')
            errors = _selector(self.metric, (*base, 'status=~"5.."'))
            total = _selector(self.metric, base)
            return (
                f"(sum(rate({errors}[{window}])) or vector(0))\n/\nsum(rate({total}[{window}]))\n"
            )
        fast = self.presence()
        total = _selector(f"{self.metric}_count", self.matchers)
        return f"1 - (\n  sum(rate({fast}[{window}]))\n  /\n  sum(rate({total}[{window}]))\n)\n"

    def severity(self, pair: BurnPair) -> str:
        return self.page_severity if pair.page else pair.ticket_severity

    def record_labels(self) -> dict[str, str]:
        return {"slo": self.name, "service": self.service, "sli": self.kind}

    def burn_labels(self, pair: BurnPair, long: str, short: str) -> dict[str, str]:
        return {
            "severity": self.severity(pair),
            "service": self.service,
            "slo": self.name,
            "long": long,
            "short": short,
        }

    def what(self) -> str:
        """The objective in words."""
        if self.kind == "availability":
            return f"{number(self.objective)} % of {self.service} answers are not 5xx"
        return (
            f"{number(self.objective)} % of {self.endpoint} requests answer within "
            f"{number(self.threshold_ms)} ms ({self.service})"
        )

    def burn_summary(self, pair: BurnPair, long: str, short: str) -> str:
        subject = f"{self.service} availability" if self.kind == "availability" else self.endpoint
        return f"{subject}: error budget burn over {number(pair.factor)}x ({long} and {short})"

    def burn_description(self, pair: BurnPair, long: str, short: str, value: str) -> str:
        """``value`` is the template (``{{ $value ... }}``) in rules, the number in tests."""
        factor = number(pair.factor)
        return (
            f"Objective: {self.what()} over {PERIOD_DAYS} days. Burn rate {value}x over the last "
            f"{long}, and over {factor}x over the last {short}; at {factor}x the budget lasts "
            f"{number(round(pair.budget_days(), 1))} days."
        )

    def absent_summary(self) -> str:
        return f"{self.name}: SLI series absent: {self.presence()}"

    def absent_description(self, window: str) -> str:
        return (
            f"No sample for {window}: the SLO ({self.what()}) cannot be judged and its "
            f"burn-rate alerts cannot fire. Is {self.service} scraped and answering, "
            "is the bucket still declared?"
        )


@dataclass(frozen=True)
class ObjectiveSpec:
    source: str
    objectives: tuple[Objective, ...]


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ObjectiveError(f"{where} must be a mapping, got {value!r}")
    return value


def _keys(value: Mapping[str, Any], allowed: set[str], required: set[str], where: str) -> None:
    if unknown := sorted(set(value) - allowed):
        known = ", ".join(sorted(allowed))
        raise ObjectiveError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {known})")
    if missing := sorted(required - set(value)):
        raise ObjectiveError(f"{where}: missing {', '.join(missing)}")


def _service(value: Any, where: str) -> str:
    if value not in SERVICES:
        raise ObjectiveError(
            f"{where}: unknown service {value!r} (services: {', '.join(SERVICES)})"
        )
    return str(value)


def _severity(value: Any, where: str) -> str:
    if value not in SEVERITIES:
        raise ObjectiveError(f"{where}: severity must be one of {', '.join(SEVERITIES)}")
    return str(value)


def _percent(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 100:
        raise ObjectiveError(f"{where}: an objective is a percentage in (0, 100), got {value!r}")
    budget = 1 - float(value) / 100
    if BURN_PAIRS[0].factor * budget >= 1:
        raise ObjectiveError(
            f"{where}: {value} % leaves a {budget:.0%} budget; a {BURN_PAIRS[0].factor}x burn "
            "would need more than every event bad, so the page could never fire"
        )
    return float(value)


def _slug(endpoint: str) -> str:
    method, _, path = endpoint.partition(" ")
    path = re.sub(r"\{[^}]*\}", "", path.removeprefix("/api/v1"))
    words = [w for w in re.split(r"[/ _.-]+", path) if w]
    return "-".join([method.lower(), *words])


def _availability(section: Any, where: str) -> list[Objective]:
    objectives = []
    for service, value in _mapping(section, where).items():
        at = f"{where}[{service!r}]"
        _service(service, at)
        entry = _mapping(value, at)
        _keys(entry, {"objective", "page"}, {"objective"}, at)
        objectives.append(
            Objective(
                name=f"{service}-availability",
                kind="availability",
                service=service,
                objective=_percent(entry["objective"], f"{at}.objective"),
                page_severity=_severity(entry.get("page", "P1"), f"{at}.page"),
                metric=HTTP_REQUESTS,
                matchers=(f'service="{service}"',),
            )
        )
    return objectives


def _owner(endpoint: str, owner: Any, at: str) -> tuple[str, str, tuple[str, ...]]:
    """The service answering an endpoint, its histogram, and the matchers of its series."""
    if isinstance(owner, Mapping):
        _keys(owner, {"service", "histogram"}, {"service", "histogram"}, at)
        service, histogram = _service(owner["service"], f"{at}.service"), owner["histogram"]
        if histogram == HTTP_HISTOGRAM or histogram not in HISTOGRAM_BUCKETS:
            known = ", ".join(h for h in HISTOGRAM_BUCKETS if h != HTTP_HISTOGRAM)
            raise ObjectiveError(f"{at}.histogram: {histogram!r} is not one of {known}")
        return service, str(histogram), ()
    service = _service(owner, at)
    method, _, route = endpoint.partition(" ")
    if method not in ("GET", "POST", "PUT", "DELETE", "PATCH") or not route.startswith("/"):
        raise ObjectiveError(
            f"{at}: an HTTP endpoint is 'METHOD /route/template'; other endpoints "
            "name their histogram: {service: ..., histogram: ...}"
        )
    return (
        service,
        HTTP_HISTOGRAM,
        (f'service="{service}"', f'route="{route}"', f'method="{method}"'),
    )


def _latency(section: Any, spec: load_slo.SloSpec, source: str) -> list[Objective]:
    where = f"{source}: objectives.latency"
    section = _mapping(section, where)
    _keys(section, {"percentiles", "services", "page"}, {"percentiles", "services"}, where)
    percentiles = section["percentiles"]
    if not isinstance(percentiles, list) or not percentiles:
        raise ObjectiveError(f"{where}.percentiles: a non-empty list, e.g. [p95_ms]")
    for p in percentiles:
        if p not in PERCENTILES:
            known = ", ".join(PERCENTILES)
            raise ObjectiveError(f"{where}.percentiles: {p!r} is not one of {known}")
    page = _severity(section.get("page", "P1"), f"{where}.page")
    owners = _mapping(section["services"], f"{where}.services")
    limits = {(t.scope, t.metric): t.limit for t in spec.thresholds}
    endpoints = spec.endpoints()
    objectives = []
    for endpoint, owner in owners.items():
        at = f"{where}.services[{endpoint!r}]"
        if endpoint not in endpoints:
            raise ObjectiveError(f"{at}: not an endpoint of this file (endpoints: {endpoints})")
        service, histogram, matchers = _owner(endpoint, owner, at)
        for percentile in percentiles:
            threshold = limits.get((endpoint, percentile))
            entry = f"{source}: endpoints[{endpoint!r}].{percentile}"
            if threshold is None:
                raise ObjectiveError(f"{at}: the endpoint has no {percentile} threshold")
            if threshold / 1000 not in HISTOGRAM_BUCKETS[histogram]:
                bounds = ", ".join(number(b * 1000) for b in HISTOGRAM_BUCKETS[histogram])
                raise ObjectiveError(
                    f"{entry} = {number(threshold)} ms is not a bucket bound of {histogram} "
                    f"(bounds in ms: {bounds}): the SLI reads the le bucket at the threshold"
                )
            objectives.append(
                Objective(
                    name=f"{_slug(endpoint)}-{percentile.removesuffix('_ms')}",
                    kind="latency",
                    service=service,
                    objective=PERCENTILES[percentile],
                    page_severity=page,
                    metric=histogram,
                    matchers=matchers,
                    endpoint=endpoint,
                    threshold_ms=threshold,
                )
            )
    for endpoint in endpoints:
        for percentile in percentiles:
            if (endpoint, percentile) in limits and endpoint not in owners:
                raise ObjectiveError(
                    f"{where}.services: endpoints[{endpoint!r}] has a {percentile} threshold "
                    "but no service answering it; add it here"
                )
    return objectives


def parse(spec: load_slo.SloSpec, source: str = "slo.yaml") -> ObjectiveSpec:
    """The objectives of a parsed SLO file (its endpoint thresholds feed the latency ones)."""
    section = _mapping(spec.raw.get("objectives"), f"{source}: objectives")
    where = f"{source}: objectives"
    _keys(section, {"availability", "latency"}, {"availability", "latency"}, where)
    objectives = [
        *_availability(section["availability"], f"{where}.availability"),
        *_latency(section["latency"], spec, source),
    ]
    seen: dict[str, Objective] = {}
    for objective in objectives:
        if (other := seen.setdefault(objective.name, objective)) is not objective:
            raise ObjectiveError(
                f"{where}: {objective.endpoint!r} and {other.endpoint!r} both name "
                f"the SLO {objective.name!r}"
            )
    return ObjectiveSpec(source, tuple(objectives))


def load(path: Path = load_slo.SLO_FILE) -> ObjectiveSpec:
    """Parse the SLO file (load thresholds included, so the whole file stays valid)."""
    return parse(load_slo.load(path), str(path))

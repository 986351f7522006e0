"""Alert coverage after a run: which alerts fired, which only went pending, which stayed quiet,
and which can never fire because a series they need exists nowhere.

A fire drill proves the alerts it aims at; this report says what a run did to *all* of them, so
an alert that silently cannot fire (a misspelt metric, a metric a refactor renamed) shows up
beside the ones that did. For each alerting rule of the given rule files, over ``[start, end]``:

``fired``
    Prometheus's ``ALERTS{alertstate="firing"}`` has a series of this rule in the window.
``pending-only``
    only ``ALERTS{alertstate="pending"}`` series: the condition held, not for the rule's ``for:``.
``can-never-fire``
    the expression needs a series name that no scrape exposed in the window *and* that the
    metrics catalogue (``alerting/metrics.md``) does not list, so no deployment of this code
    can make it true (see :func:`harness.obs.promql_expr.can_produce` for ``or`` / ``unless``).
``quiet``
    none of the above: the rule could fire and did not.

What was seen wins over what is inferred: a rule that fired is ``fired`` even if the analysis
says otherwise (the report then notes the contradiction).

Decisions:

* A name is *known* when Prometheus has any series of it in the window (one
  ``/api/v1/label/__name__/values`` call with ``start``/``end``, the same answer as
  ``count({__name__="x"})`` for every name at once), when the catalogue lists it (a histogram's
  ``_bucket`` / ``_sum`` / ``_count`` included), or when Prometheus makes it itself (``up``,
  ``scrape_*``, ``ALERTS``). A recording rule's name is known when its series exist or when one
  of the recording rules of that name in the rule files (whose static labels fit the selector)
  can produce something.
* ``absent(x)`` / ``absent_over_time(x[…])`` return a series exactly when ``x`` has none, so a
  missing ``x`` is their trigger, not a reason they cannot fire: names inside them never make a
  rule ``can-never-fire``. When such a name is unknown everywhere the rule fires whenever it is
  evaluated, which is almost certainly a misspelling: the report notes it.
* A rule is matched to its ``ALERTS`` series by alert name and its static labels; labels with
  templates (``{{ $labels.service }}``) are left out of the match. When several rules of one
  name match a series, it goes to the most specific (most matching labels); a tie is noted.
* A rule that this Prometheus has not loaded (``/api/v1/rules``) cannot have fired there: the
  report notes it, so "quiet" is never read as a pass for a rule that was not evaluated.

``coverage()`` gathers the report; ``render_markdown()``, ``render_json()`` and
``render_console()`` format it; ``write()`` puts ``alert-coverage.md`` and ``.json`` in a
directory (default ``reports/out/obs/``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx
import yaml

from harness.obs import catalogue
from harness.obs.promql_expr import (
    Matcher,
    PromQLSyntaxError,
    Selector,
    can_produce,
    parse,
    selectors,
)
from harness.obs.slo_rules import AlertRule, alert_rules

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_OUT = ROOT / "reports" / "out" / "obs"
MARKDOWN_NAME = "alert-coverage.md"
JSON_NAME = "alert-coverage.json"

State = Literal["fired", "pending-only", "quiet", "can-never-fire"]
STATES: tuple[State, ...] = ("fired", "pending-only", "quiet", "can-never-fire")
PROMETHEUS_OWN = frozenset(
    {
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
        "ALERTS",
        "ALERTS_FOR_STATE",
    }
)
"""Series Prometheus writes itself for every target or rule: known without a catalogue entry."""


class HasUrl(Protocol):
    @property
    def url(self) -> str: ...


@dataclass(frozen=True)
class AlertCoverage:
    """One alerting rule and what the window did to it."""

    alert: str
    labels: dict[str, str]
    """The rule's static labels that identify it (templated ones left out)."""
    state: State
    file: str
    group: str
    hold: str
    """The rule's ``for:``."""
    needs: tuple[str, ...]
    """Series names the expression selects (recording rules by their own name)."""
    missing: tuple[str, ...]
    """Of the names the expression needs (recording rules followed to their inputs): those
    neither scraped in the window nor catalogued."""
    firing_series: int = 0
    pending_series: int = 0
    notes: tuple[str, ...] = ()
    templated: tuple[str, ...] = ()
    """Labels set from templates (``service: "{{ $labels.service }}"``), not in ``labels``."""
    identity: str = ""
    """``Alert{label=value, …}`` with the labels that tell it from same-named rules."""

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")


@dataclass(frozen=True)
class RecordingRule:
    record: str
    expr: str
    labels: Mapping[str, str]


@dataclass(frozen=True)
class Window:
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass
class _Known:
    """Which series names exist: scraped in the window, catalogued, or Prometheus's own."""

    scraped: Collection[str]
    catalogued: Collection[str]
    recording: Mapping[str, Sequence[RecordingRule]]
    _resolving: set[str] = field(default_factory=set)

    def plain(self, name: str) -> bool:
        return name in self.scraped or name in self.catalogued or name in PROMETHEUS_OWN

    def exists(self, selector: Selector) -> bool:
        name = selector.name
        if name is None or self.plain(name):
            return True
        rules = [r for r in self.recording.get(name, ()) if _fits(r.labels, selector.matchers)]
        if not rules or name in self._resolving:
            return False
        self._resolving.add(name)
        try:
            return any(_analysable(r.expr) and can_produce(r.expr, self.exists) for r in rules)
        finally:
            self._resolving.discard(name)

    def missing(self, expr: str) -> set[str]:
        """Leaf names ``expr`` needs (recording rules followed) that exist nowhere."""
        found: set[str] = set()
        self._collect(expr, found, set())
        return found

    def _collect(self, expr: str, found: set[str], seen: set[str]) -> None:
        for selector in selectors(expr).needed:
            name = selector.name
            if name is None or self.plain(name) or name in seen:
                continue
            rules = [r for r in self.recording.get(name, ()) if _fits(r.labels, selector.matchers)]
            if not rules:
                found.add(name)
            seen.add(name)
            for rule in rules:
                if _analysable(rule.expr):
                    self._collect(rule.expr, found, seen)


def _analysable(expr: str) -> bool:
    try:
        parse(expr)
    except PromQLSyntaxError:
        return False
    return True


def _templated(value: str) -> bool:
    return "{{" in value


def _fits(labels: Mapping[str, str], matchers: Iterable[Matcher]) -> bool:
    """Whether series carrying a rule's static ``labels`` could satisfy ``matchers``.

    Only labels the rule sets statically can rule it out; a label it does not set may come
    from its expression's output.
    """
    for matcher in matchers:
        value = labels.get(matcher.label)
        if value is None or _templated(value):
            continue
        if matcher.op == "=" and value != matcher.value:
            return False
        if matcher.op == "!=" and value == matcher.value:
            return False
        if matcher.op in ("=~", "!~"):
            matched = re.fullmatch(matcher.value, value) is not None
            if matched != (matcher.op == "=~"):
                return False
    return True


def static_labels(rule: AlertRule) -> dict[str, str]:
    return {k: v for k, v in rule.labels.items() if not _templated(v)}


def recording_rules(rule_files: Iterable[Path]) -> dict[str, list[RecordingRule]]:
    found: dict[str, list[RecordingRule]] = {}
    for path in rule_files:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        for group in data.get("groups", []):
            for rule in group.get("rules", []):
                if "record" in rule:
                    labels = {str(k): str(v) for k, v in (rule.get("labels") or {}).items()}
                    record = RecordingRule(str(rule["record"]), str(rule["expr"]), labels)
                    found.setdefault(record.record, []).append(record)
    return found


# --- Prometheus ---------------------------------------------------------------------------------


class _Api:
    """The three Prometheus answers the report needs."""

    def __init__(self, url: str, timeout: float) -> None:
        self.client = httpx.Client(base_url=url.rstrip("/"), timeout=timeout)

    def close(self) -> None:
        self.client.close()

    def _data(self, response: httpx.Response) -> Any:
        try:
            body = response.json()
        except ValueError:
            response.raise_for_status()
            raise
        if body.get("status") != "success":
            raise RuntimeError(
                f"prometheus {response.request.url.path}: "
                f"{body.get('errorType')}: {body.get('error')}"
            )
        return body["data"]

    def names(self, window: Window) -> set[str]:
        """Every series name with a sample in (or a block overlapping) the window."""
        params = {"start": f"{window.start:.3f}", "end": f"{window.end:.3f}"}
        return set(self._data(self.client.get("/api/v1/label/__name__/values", params=params)))

    def alerts_seen(self, window: Window) -> list[dict[str, str]]:
        """Every ALERTS series (pending or firing) with a sample in the window, its labels."""
        millis = max(1, math.ceil(window.seconds * 1000))
        params = {"query": f"max_over_time(ALERTS[{millis}ms])", "time": f"{window.end:.3f}"}
        data = self._data(self.client.post("/api/v1/query", data=params))
        return [dict(series["metric"]) for series in data["result"]]

    def loaded_rules(self) -> list[tuple[str, dict[str, str]]]:
        """Alerting rules this Prometheus evaluates: name and labels as written."""
        data = self._data(self.client.get("/api/v1/rules", params={"type": "alert"}))
        return [
            (rule["name"], {str(k): str(v) for k, v in (rule.get("labels") or {}).items()})
            for group in data["groups"]
            for rule in group["rules"]
        ]


def _epoch(value: float | datetime) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("pass an aware datetime (or a Unix timestamp)")
        return value.timestamp()
    return float(value)


def _assign(
    seen: Sequence[Mapping[str, str]], rules: Sequence[AlertRule]
) -> tuple[dict[int, list[Mapping[str, str]]], dict[int, int]]:
    """ALERTS series per rule index (most specific matching rule), and ties per rule."""
    assigned: dict[int, list[Mapping[str, str]]] = {i: [] for i in range(len(rules))}
    ties: dict[int, int] = {}
    for series in seen:
        candidates = [
            (len(static_labels(rule)), index)
            for index, rule in enumerate(rules)
            if rule.name == series.get("alertname")
            and all(series.get(k) == v for k, v in static_labels(rule).items())
        ]
        if not candidates:
            continue
        best = max(size for size, _ in candidates)
        winners = [index for size, index in candidates if size == best]
        for index in winners:
            assigned[index].append(series)
            if len(winners) > 1:
                ties[index] = len(winners) - 1
    return assigned, ties


def identities(rules: Sequence[AlertRule]) -> list[str]:
    """A name per rule: the alert name, plus, for rules sharing it, the static labels whose
    values differ between them (``severity`` and ``service`` only when the others do not
    already tell them apart)."""
    named: dict[str, list[int]] = {}
    for index, rule in enumerate(rules):
        named.setdefault(rule.name, []).append(index)
    found = [rule.name for rule in rules]
    for name, indexes in named.items():
        if len(indexes) < 2:
            continue
        labels = [static_labels(rules[i]) for i in indexes]
        differing = sorted(
            {k for ls in labels for k in ls if len({str(other.get(k)) for other in labels}) > 1}
        )
        specific = [k for k in differing if k not in ("severity", "service")]
        keys = (
            specific
            if len({_tagged(name, ls, specific) for ls in labels}) == len(labels)
            else differing
        )
        for index, own in zip(indexes, labels, strict=True):
            found[index] = _tagged(name, own, keys)
    return found


def _tagged(name: str, labels: Mapping[str, str], keys: Sequence[str]) -> str:
    shown = [f"{k}={labels[k]}" for k in keys if k in labels]
    return f"{name}{{{', '.join(shown)}}}" if shown else name


def coverage(
    prometheus_url: str | HasUrl,
    rule_files: Iterable[Path | str],
    start: float | datetime,
    end: float | datetime,
    *,
    catalogue_names: Collection[str] | None = None,
    timeout: float = 30.0,
) -> list[AlertCoverage]:
    """What ``[start, end]`` did to every alerting rule of ``rule_files`` (see the module doc).

    ``prometheus_url`` is the Prometheus that evaluated these same rule files (a URL or a
    server object with ``.url``); ``catalogue_names`` replaces the committed catalogue's series
    names (tests, or another deployment's catalogue).

    Call it once Prometheus has evaluated the rules after ``end``: the report reads the
    ``ALERTS`` series, which are written at the end of each group's evaluation (measured: at
    start-up they lag ``/api/v1/alerts`` by one to two seconds).
    """
    url = prometheus_url if isinstance(prometheus_url, str) else prometheus_url.url
    window = Window(_epoch(start), _epoch(end))
    if window.seconds <= 0:
        raise ValueError("end must be after start")
    files = [Path(p) for p in rule_files]
    api = _Api(url, timeout)
    try:
        scraped = api.names(window)
        seen = api.alerts_seen(window)
        loaded = api.loaded_rules()
    finally:
        api.close()
    analysed = analyse(files, scraped=scraped, catalogue_names=catalogue_names)
    rules = [rule for rule, _ in analysed]
    assigned, ties = _assign(seen, rules)
    return [
        _one(rule, analysis, assigned[index], ties.get(index, 0), loaded, identity)
        for index, ((rule, analysis), identity) in enumerate(
            zip(analysed, identities(rules), strict=True)
        )
    ]


@dataclass
class Analysis:
    """What an alert's expression needs, without asking Prometheus what happened."""

    needs: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    possible: bool = True
    """False when it needs a missing name on every path (see ``can_produce``)."""
    notes: list[str] = field(default_factory=list)


def analyse(
    rule_files: Iterable[Path | str],
    *,
    scraped: Collection[str] = (),
    catalogue_names: Collection[str] | None = None,
) -> list[tuple[AlertRule, Analysis]]:
    """Every alerting rule of ``rule_files`` with its analysis, given the names ``scraped``
    and the catalogue's (default: the committed ``alerting/metrics.md``)."""
    files = [Path(p) for p in rule_files]
    if catalogue_names is None:
        catalogue_names = catalogue.series_names(catalogue.load())
    known = _Known(scraped, catalogue_names, recording_rules(files))
    return [(rule, _analyse(rule, known)) for rule in alert_rules(files)]


def _analyse(rule: AlertRule, known: _Known) -> Analysis:
    try:
        references = selectors(rule.expr)
    except PromQLSyntaxError as exc:
        return Analysis(notes=[f"expression not analysed ({exc}); its state is what was seen"])
    found = Analysis(
        needs=tuple(sorted(references.names())),
        missing=tuple(sorted(known.missing(rule.expr))),
        possible=can_produce(rule.expr, known.exists),
    )
    for name in sorted(references.absence_names()):
        if not known.exists(Selector(name, (), name)):
            found.notes.append(
                f"absent({name}): {name} is neither scraped nor catalogued, so this rule "
                "fires whenever it is evaluated (a misspelt name?)"
            )
    for name in found.needs:
        own = name in PROMETHEUS_OWN or name in known.recording
        if not own and name in known.scraped and name not in known.catalogued:
            found.notes.append(f"{name} is scraped but not in the metrics catalogue")
    return found


def _state(firing: int, pending: int, *, possible: bool) -> State:
    """What was seen first (firing, then pending), then what the analysis says."""
    if firing:
        return "fired"
    if pending:
        return "pending-only"
    return "quiet" if possible else "can-never-fire"


def _one(
    rule: AlertRule,
    analysis: Analysis,
    seen: Sequence[Mapping[str, str]],
    ties: int,
    loaded: Sequence[tuple[str, Mapping[str, str]]],
    identity: str,
) -> AlertCoverage:
    notes = list(analysis.notes)
    firing = sum(1 for s in seen if s.get("alertstate") == "firing")
    pending = sum(1 for s in seen if s.get("alertstate") == "pending")
    if (rule.name, dict(rule.labels)) not in [(n, dict(labels)) for n, labels in loaded]:
        notes.append("not loaded by this Prometheus: it was never evaluated in the window")
    if ties:
        notes.append(f"its ALERTS series also match {ties} other rule(s) of the same name, labels")
    state = _state(firing, pending, possible=analysis.possible)
    if state in ("fired", "pending-only") and not analysis.possible:
        missing = ", ".join(analysis.missing)
        notes.append(f"went {state} although {missing} exist nowhere: check the analysis")
    return AlertCoverage(
        alert=rule.name,
        labels=static_labels(rule),
        state=state,
        file=_relative(rule.file),
        group=rule.group,
        hold=rule.hold,
        needs=analysis.needs,
        missing=analysis.missing,
        firing_series=firing,
        pending_series=pending,
        notes=tuple(notes),
        templated=tuple(sorted(k for k, v in rule.labels.items() if _templated(v))),
        identity=identity,
    )


def _relative(path: Path) -> str:
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)


# --- rendering ----------------------------------------------------------------------------------


def counts(report: Sequence[AlertCoverage]) -> dict[State, int]:
    return {state: sum(1 for c in report if c.state == state) for state in STATES}


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(
    report: Sequence[AlertCoverage],
    start: float | datetime,
    end: float | datetime,
    *,
    title: str = "Alert coverage",
) -> str:
    """The report as a markdown page: the window, counts per state, one row per rule."""
    window = Window(_epoch(start), _epoch(end))
    tally = counts(report)
    lines = [
        f"# {title}",
        "",
        f"Window: {_when(window.start)} → {_when(window.end)} ({window.seconds:.0f} s); "
        f"{len(report)} alerting rules.",
        "",
        "| state | rules |",
        "|---|---|",
        *(f"| {state} | {tally[state]} |" for state in STATES),
        "",
        "| alert | severity | service | for | state | needs | missing | notes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in sorted(report, key=lambda c: (STATES.index(c.state), c.alert, c.identity)):
        lines.append(
            "| "
            + " | ".join(
                _cell(cell)
                for cell in (
                    f"`{row.identity}`",
                    row.severity,
                    row.labels.get("service")
                    or ("(templated)" if "service" in row.templated else ""),
                    row.hold,
                    f"**{row.state}**" if row.state == "can-never-fire" else row.state,
                    ", ".join(f"`{n}`" for n in row.needs),
                    ", ".join(f"`{n}`" for n in row.missing),
                    "; ".join(row.notes),
                )
            )
            + " |"
        )
    lines += [
        "",
        'States: **fired** (an `ALERTS{alertstate="firing"}` series in the window), '
        "**pending-only** (only pending), **quiet** (could fire, did not), **can-never-fire** "
        "(needs a series name that was neither scraped nor is in `alerting/metrics.md`; names "
        "inside `absent()` never count, they are its trigger).",
        "",
    ]
    return "\n".join(lines)


def render_json(
    report: Sequence[AlertCoverage], start: float | datetime, end: float | datetime
) -> str:
    window = Window(_epoch(start), _epoch(end))
    body = {
        "window": {"start": window.start, "end": window.end},
        "counts": counts(report),
        "alerts": [asdict(row) for row in report],
    }
    return json.dumps(body, indent=2, sort_keys=False) + "\n"


def render_console(report: Sequence[AlertCoverage]) -> str:
    """A short table for a terminal: state, rule, what is missing."""
    rows = sorted(report, key=lambda c: (STATES.index(c.state), c.identity))
    width = max([len(r.identity) for r in rows] + [5])
    lines = [f"{'state':<15} {'alert':<{width}} missing"]
    lines += [f"{r.state:<15} {r.identity:<{width}} {', '.join(r.missing)}" for r in rows]
    tally = counts(report)
    lines.append(", ".join(f"{tally[s]} {s}" for s in STATES))
    return "\n".join(lines)


def write(
    report: Sequence[AlertCoverage],
    start: float | datetime,
    end: float | datetime,
    out_dir: Path = DEFAULT_OUT,
    *,
    title: str = "Alert coverage",
) -> tuple[Path, Path]:
    """``alert-coverage.md`` and ``alert-coverage.json`` in ``out_dir``; their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown, data = out_dir / MARKDOWN_NAME, out_dir / JSON_NAME
    markdown.write_text(render_markdown(report, start, end, title=title), encoding="utf-8")
    data.write_text(render_json(report, start, end), encoding="utf-8")
    return markdown, data

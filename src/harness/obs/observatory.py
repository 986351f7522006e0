"""Prometheus, Alertmanager and a webhook receiver wired together around one deployment.

``mgh obs up`` and the fire drills need the same arrangement: Prometheus scraping the stack
and evaluating the committed rules, Alertmanager routing with the committed tree, and — since
there is no PagerDuty, Slack or SMTP here and no secret may be in the repo — every receiver
delivering to a local webhook under its own name, so what would have been paged is visible.

A drill cannot wait an hour for an hour-long window, so :func:`scaled_rules` shrinks every
duration in the rule files by one factor (range windows and ``for`` alike), keeping the rules'
shape: a burn-rate alert scaled by 1/60 compares a one-minute window with a five-second one.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

import yaml

from harness.obs.alertmanager import AlertmanagerServer, local_alertmanager
from harness.obs.alertmanager_config import TEST_TIMINGS, Timings
from harness.obs.prometheus import PrometheusServer, ScrapeTarget
from harness.obs.webhook import WebhookReceiver

ROOT = Path(__file__).resolve().parents[3]
RULES_DIR = ROOT / "alerting" / "rules"
MIN_SCALED_SECONDS = 2
"""The floor of a scaled window: two scrapes at the drills' 1 s interval, so ``rate()`` always
has the two samples it needs."""

_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_RANGE = re.compile(r"\[(\d+(?:ms|s|m|h|d|w))(?::(\d+(?:ms|s|m|h|d|w))?)?\]")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def seconds_of(text: str) -> float:
    """``1h30m`` → 5400.0."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)


def _scaled(text: str, scale: float) -> str:
    return f"{max(MIN_SCALED_SECONDS, round(seconds_of(text) * scale))}s"


def scale_rules(text: str, scale: float) -> str:
    """A rule file with every range window and ``for`` multiplied by ``scale``."""
    if not 0 < scale <= 1:
        raise ValueError(f"scale must be in (0, 1], got {scale}")
    document = yaml.safe_load(text)

    def scale_range(match: re.Match[str]) -> str:
        window = _scaled(match.group(1), scale)
        step = match.group(2)
        if match.group(0).endswith(":]"):
            return f"[{window}:]"
        return f"[{window}:{_scaled(step, scale)}]" if step else f"[{window}]"

    for group in document.get("groups", []):
        for rule in group.get("rules", []):
            rule["expr"] = _RANGE.sub(scale_range, str(rule["expr"]))
            if "for" in rule:
                rule["for"] = _scaled(str(rule["for"]), scale)
    return yaml.safe_dump(document, sort_keys=False, width=100)


def scaled_rules(workdir: Path, scale: float, sources: Sequence[Path] = ()) -> list[Path]:
    """Scaled copies of ``sources`` (default: every committed rule file) in ``workdir``."""
    paths = list(sources) or sorted(RULES_DIR.glob("*.yml"))
    written = []
    for source in paths:
        target = workdir / f"scaled-{source.name}"
        target.write_text(scale_rules(source.read_text(encoding="utf-8"), scale), "utf-8")
        written.append(target)
    return written


@dataclass
class Observatory:
    """Started on enter, stopped on exit: ``prometheus``, ``alertmanager``, ``webhook``."""

    targets: Sequence[ScrapeTarget]
    rule_files: Sequence[Path] = ()
    interval: float = 15.0
    timings: Timings | None = TEST_TIMINGS
    prometheus: PrometheusServer = field(init=False)
    alertmanager: AlertmanagerServer = field(init=False)
    webhook: WebhookReceiver = field(init=False)
    _stack: ExitStack = field(default_factory=ExitStack, init=False, repr=False)

    def __enter__(self) -> Self:
        try:
            self.webhook = self._stack.enter_context(WebhookReceiver())
            # The real clock: business-hours muting applies as it would in production.
            self.alertmanager = local_alertmanager(
                self.webhook.url(), local_time=None, timings=self.timings
            ).start()
            self._stack.callback(self.alertmanager.stop)
            self.prometheus = PrometheusServer(
                self.targets,
                interval=self.interval,
                rule_files=self.rule_files,
                alertmanager_url=self.alertmanager.url,
            ).start()
            self._stack.callback(self.prometheus.stop)
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stack.close()

    def wait_for_scrape(self, timeout: float = 30.0) -> float:
        """Seconds until every target has been scraped successfully once."""
        started = time.monotonic()
        while True:
            targets = self.prometheus.targets()
            if targets and all(t.get("health") == "up" for t in targets):
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"Prometheus has not scraped every target: {targets}")
            time.sleep(0.25)

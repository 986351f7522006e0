"""The fault matrix: each fault injected under load, what users saw, how fast it healed, and
whether anything accepted was lost.

One fault at a time, on one rig: inject it, watch readiness and the witness while it lasts,
undo it, then wait for full recovery (every readiness 200 and the witness's requests all
succeeding for :data:`QUIET_SECONDS`) without restarting any service that was not the fault.
Then the alert is looked for among what Alertmanager delivered since the fault began, the
witness's ledger is checked against what is stored, and — for faults during which a feed was
ingested — every event is counted from the outbox to a deduplicating consumer.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from harness.faults.events import EventTally, tally
from harness.faults.injections import FAULTS, Fault
from harness.faults.rig import Rig
from harness.faults.witness import Losses, Outcome, Witness, summarise
from harness.obs.webhook import Notification
from harness.seeding import RUNS, feed_run

QUIET_SECONDS = 3.0
RECOVERY_TIMEOUT = 90.0
ALERT_GRACE_SECONDS = 30.0
"""How long after the fault is undone its alert may still arrive (a scaled ``for`` plus the
scrape, evaluation and Alertmanager's group wait)."""
HUNG_SECONDS = 11.0
"""The gateway's upstream timeout (10 s) and a second: a request slower than this hung."""
REFERENCE_SECONDS = 20.0


@dataclass
class Row:
    fault: str
    how: str
    users_saw: str
    requests: int
    failed: int
    slowest_seconds: float
    hung: int
    non_json_errors: int
    internal_errors: int
    """Answers 500: a fault must show as 502/503/504 (a dependency), never as a bug."""
    failures_by_op: dict[str, int]
    """``"search 503 dependency_unavailable": 2``: which journeys met which failure."""
    readiness: str
    readiness_named: bool
    alert: str
    alert_ok: bool
    recovery_seconds: float | None
    losses: Losses
    events: EventTally | None = None
    under_load: bool = True
    notes: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return self.losses.total + (self.events.lost if self.events else 0)


class Readiness:
    """Polls every ``/health/ready`` at once; keeps, per component, the dependencies it
    reported down and the HTTP statuses it answered."""

    def __init__(self, urls: dict[str, str]) -> None:
        self.urls = urls
        self.down: dict[str, set[str]] = {name: set() for name in urls}
        self.statuses: dict[str, set[str]] = {name: set() for name in urls}
        self._pool = ThreadPoolExecutor(len(urls), thread_name_prefix="readiness")
        self._client = httpx.Client(timeout=5)

    def close(self) -> None:
        self._pool.shutdown()
        self._client.close()

    def _one(self, name: str) -> tuple[str, str, set[str]]:
        try:
            response = self._client.get(self.urls[name])
        except httpx.TransportError as exc:
            return name, type(exc).__name__, set()
        try:
            dependencies = response.json().get("dependencies", {})
        except ValueError:
            return name, str(response.status_code), set()
        down = {dep for dep, state in dependencies.items() if state.get("status") != "ok"}
        return name, str(response.status_code), down

    def poll(self) -> bool:
        """One round; True when every component answered 200."""
        all_ready = True
        for name, status, down in self._pool.map(self._one, list(self.urls)):
            self.statuses[name].add(status)
            self.down[name] |= down
            all_ready &= status == "200"
        return all_ready

    def poll_until(self, deadline: float, every: float = 0.5) -> None:
        while time.monotonic() < deadline:
            began = time.monotonic()
            self.poll()
            time.sleep(max(0.0, every - (time.monotonic() - began)))

    def naming(self, dependency: str | None) -> tuple[str, bool]:
        """A one-line account, and whether ``dependency`` was named down by someone."""
        if dependency is None:
            unready = sorted(n for n, s in self.statuses.items() if s != {"200"})
            text = "all ready throughout" if not unready else f"not ready: {', '.join(unready)}"
            return text, not unready
        naming = sorted(name for name, down in self.down.items() if dependency in down)
        text = (
            f"{dependency} down at {', '.join(naming)}" if naming else f"{dependency} never named"
        )
        return text, bool(naming)


def _start_run(rig: Rig, platform: str) -> str:
    """Ask the ingestion service (through the gateway, as the admin) to ingest a feed."""
    assert rig.stack.admin is not None, "the stack was launched with an admin"
    try:
        response = httpx.post(
            f"{rig.stack.base_url}{RUNS}",
            json=feed_run(platform),
            headers=rig.stack.admin.headers,
            timeout=15,
        )
    except httpx.TransportError as exc:
        return f"ingestion of {platform} refused ({type(exc).__name__})"
    if response.status_code != 202:
        return f"ingestion of {platform} refused ({response.status_code})"
    return ""


def _wait_recovered(
    rig: Rig, witness: Witness, healed: float, readiness: Readiness
) -> float | None:
    """Seconds from ``healed`` to the moment everything was back (or None: not in time)."""
    deadline = healed + RECOVERY_TIMEOUT
    ready_since: float | None = None
    while time.monotonic() < deadline:
        now = time.monotonic()
        ready_since = (ready_since or now) if readiness.poll() else None
        last_failure = max(witness.last_failure() or healed, healed)
        if ready_since is not None and now - last_failure >= QUIET_SECONDS:
            return max(ready_since, last_failure) - healed
        time.sleep(0.5)
    return None


def _alert(rig: Rig, fault: Fault, injected: float, healed: float) -> tuple[str, bool]:
    if not fault.alert:
        return "none expected", True
    name = fault.alert["alertname"]

    def arrived(notification: Notification) -> bool:
        return (
            notification.status == "firing"
            and notification.received_monotonic >= injected
            and notification.has_alert(**fault.alert)
        )

    remaining = max(0.0, healed + ALERT_GRACE_SECONDS - time.monotonic())
    try:
        seen = rig.observatory.webhook.wait_for(arrived, timeout=remaining)
    except TimeoutError:
        return f"{name} NOT FIRED", False
    seconds = seen.received_monotonic - injected
    return f"{name} at {seen.receiver} after {seconds:.1f} s", True


def _users_saw(outcomes: list[Outcome]) -> dict[str, Any]:
    failed = [o for o in outcomes if not o.ok]
    return {
        "users_saw": summarise(outcomes) or "no requests",
        "requests": len(outcomes),
        "failed": len(failed),
        "slowest_seconds": max((o.seconds for o in outcomes), default=0.0),
        "hung": sum(1 for o in outcomes if o.seconds > HUNG_SECONDS),
        "non_json_errors": sum(1 for o in failed if o.error == "non-json"),
        "internal_errors": sum(1 for o in failed if o.status == 500),
        "failures_by_op": dict(Counter(f"{o.op} {o.status or ''} {o.error}" for o in failed)),
    }


def run_fault(rig: Rig, witness: Witness, fault: Fault, progress: Callable[[str], None]) -> Row:
    readiness = Readiness(rig.readiness_urls())
    notes: list[str] = []
    try:
        progress(f"fault: {fault.name} — {fault.how}")
        injected = time.monotonic()
        fault.inject(rig)
        refused = _start_run(rig, fault.platform) if fault.platform else ""
        readiness.poll_until(injected + fault.down_seconds)
        fault.heal(rig)
        healed = time.monotonic()
        if refused:
            notes.append(f"{refused} during the fault; asked again after it")
            if again := _start_run(rig, fault.platform or ""):
                notes.append(again)
        recovery = _wait_recovered(rig, witness, healed, readiness)
        until = healed + recovery if recovery is not None else time.monotonic()
        seen = _users_saw(witness.between(injected, until))
        text, named = readiness.naming(fault.dependency)
        alert, alert_ok = _alert(rig, fault, injected, healed)
        assert rig.stack.database_url is not None, "the rig's stack was launched"
        losses = witness.verify(rig.stack.database_url)
        events = None
        if fault.platform:
            events = tally(rig.stack.database_url, rig.backends["kafka"].url)
    finally:
        readiness.close()
    row = Row(
        fault.name,
        fault.how,
        readiness=text,
        readiness_named=named,
        alert=alert,
        alert_ok=alert_ok,
        recovery_seconds=recovery,
        losses=losses,
        events=events,
        notes=notes,
        **seen,
    )
    recovered = f"{recovery:.1f} s" if recovery is not None else "NOT RECOVERED"
    progress(f"  users saw {row.users_saw}; recovered in {recovered}; {alert}; lost {row.lost}")
    return row


def reference_row(rig: Rig, witness: Witness, progress: Callable[[str], None]) -> Row:
    """The same measurements with no fault: what "normal" looks like in this run."""
    progress(f"reference: {REFERENCE_SECONDS:.0f} s with no fault")
    began = time.monotonic()
    readiness = Readiness(rig.readiness_urls())
    try:
        readiness.poll_until(began + REFERENCE_SECONDS)
    finally:
        readiness.close()
    text, named = readiness.naming(None)
    assert rig.stack.database_url is not None, "the rig's stack was launched"
    return Row(
        "none (reference)",
        f"{REFERENCE_SECONDS:.0f} s of load with no fault",
        readiness=text,
        readiness_named=named,
        alert="none expected",
        alert_ok=True,
        recovery_seconds=0.0,
        losses=witness.verify(rig.stack.database_url),
        **_users_saw(witness.between(began, time.monotonic())),
    )


@dataclass
class MatrixResult:
    rows: list[Row]
    load: dict[str, Any] | None
    """The background load run's results (``results.json``), when it wrote them."""
    load_exit: int | None
    witness_accepted: int


def planned_seconds(faults: tuple[Fault, ...] = FAULTS) -> float:
    """A generous length for the background load: every fault with its recovery and checks."""
    return REFERENCE_SECONDS + sum(f.down_seconds + 60 for f in faults) + 30


def run_matrix(
    rig: Rig,
    load: subprocess.Popen[bytes] | None,
    results_path: Path | None,
    progress: Callable[[str], None] = print,
    faults: tuple[Fault, ...] = FAULTS,
) -> MatrixResult:
    witness = Witness(rig.stack.base_url, rig.witnesses, rig.titles)
    witness.start()
    rows: list[Row] = []
    try:
        rows.append(reference_row(rig, witness, progress))
        for fault in faults:
            under_load = load is None or load.poll() is None
            row = run_fault(rig, witness, fault, progress)
            row.under_load = under_load and (load is None or load.poll() is None)
            rows.append(row)
    finally:
        witness.stop()
        load_exit = _end_load(load)
    loaded = _read_json(results_path) if results_path is not None else None
    return MatrixResult(rows, loaded, load_exit, witness.ledger.accepted)


def _end_load(load: subprocess.Popen[bytes] | None) -> int | None:
    if load is None:
        return None
    if load.poll() is None:
        # SIGINT, not SIGTERM: in headless mode with a load shape, Locust (2.x) blocks in the
        # shape before it installs its SIGTERM handler, so SIGTERM kills it with no results;
        # an interrupt stops the shape, fires test_stop (the results are written) and exits.
        load.send_signal(signal.SIGINT)
    try:
        return load.wait(60)
    except subprocess.TimeoutExpired:
        load.kill()
        return load.wait()


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None

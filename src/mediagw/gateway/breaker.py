"""A circuit breaker per upstream: stop hammering a service that keeps failing.

Closed → (``threshold`` consecutive failures) → open: calls fail at once for ``reset_seconds``
→ half-open: one trial call; success closes, failure opens again.
"""

from __future__ import annotations

import time
from enum import StrEnum

from mediagw.gateway.metrics import BREAKER_STATE


class State(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(self, name: str, threshold: int, reset_seconds: float) -> None:
        self.name = name
        self.threshold = threshold
        self.reset_seconds = reset_seconds
        self.failures = 0
        self.opened_at: float | None = None
        self._trial_started: float | None = None
        BREAKER_STATE.labels(name).set(0)  # a series from the start: "closed" reads 0, not absent

    @property
    def state(self) -> State:
        if self.opened_at is None:
            return State.CLOSED
        if time.monotonic() - self.opened_at >= self.reset_seconds:
            return State.HALF_OPEN
        return State.OPEN

    def retry_after(self) -> int:
        if self.opened_at is None:
            return 0
        return max(1, int(self.reset_seconds - (time.monotonic() - self.opened_at)) + 1)

    def allow(self) -> bool:
        state = self.state
        if state is State.CLOSED:
            return True
        now = time.monotonic()
        trial_stale = self._trial_started is None or now - self._trial_started >= self.reset_seconds
        if state is State.HALF_OPEN and trial_stale:
            # One trial at a time; a trial that never reported back expires after a reset period.
            self._trial_started = now
            return True
        return False

    def release(self) -> None:
        """The admitted call ended without a verdict (cancelled, bad request): free the trial."""
        self._trial_started = None

    def record_success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self._trial_started = None
        BREAKER_STATE.labels(self.name).set(0)

    def record_failure(self) -> None:
        self._trial_started = None
        self.failures += 1
        if self.failures >= self.threshold or self.opened_at is not None:
            self.opened_at = time.monotonic()
            BREAKER_STATE.labels(self.name).set(1)

"""A circuit breaker per upstream: stop hammering a service that keeps failing.

Closed → (``threshold`` consecutive failures) → open: calls fail at once for ``reset_seconds``
→ half-open: one trial call; success closes, failure opens again.
"""

from __future__ import annotations

import time
from enum import StrEnum

from prometheus_client import Gauge

BREAKER_STATE = Gauge(
    "gateway_circuit_breaker_open", "1 while the breaker of an upstream is open", ["upstream"],
    multiprocess_mode="max",
)  # fmt: skip


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
        self._trial_in_flight = False

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
        if state is State.HALF_OPEN and not self._trial_in_flight:
            self._trial_in_flight = True
            return True
        return False

    def record_success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self._trial_in_flight = False
        BREAKER_STATE.labels(self.name).set(0)

    def record_failure(self) -> None:
        self._trial_in_flight = False
        self.failures += 1
        if self.failures >= self.threshold or self.opened_at is not None:
            self.opened_at = time.monotonic()
            BREAKER_STATE.labels(self.name).set(1)

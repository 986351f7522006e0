"""Open-model arrivals: iterations start on a schedule, whatever the response times.

Locust's users loop at their own pace (a closed model): when the system slows down, they send
less, and the slowdown hides itself. Here a pacer issues *tickets* at the profile's target
rate instead (k6's constant/ramping-arrival-rate): each ticket carries the instant its
iteration was due. An idle user takes the next ticket and starts; when a ticket falls due and
no user is idle to take it, the iteration is **dropped** — counted, reported, never silent.

A user records each request's latency twice: from the actual send, and from the ticket's due
time (plus the request's offset in its iteration): the coordinated-omission-corrected latency,
which includes any time the iteration waited to start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gevent
from gevent.queue import Empty, Queue

MAX_STEP_SECONDS = 0.05
RateFunction = Callable[[float], float]
"""Target iterations per second of this process, ``elapsed`` seconds into the run."""


@dataclass(frozen=True)
class Ticket:
    due: float
    """Epoch seconds at which this iteration should have started."""


class ArrivalPacer:
    def __init__(
        self,
        rate: RateFunction,
        *,
        started_at: float,
        clock: Callable[[], float],
        on_dropped: Callable[[float], None],
        on_issued: Callable[[float], None] = lambda _: None,
    ) -> None:
        self.rate = rate
        self.started_at = started_at
        self.clock = clock
        self.on_dropped = on_dropped
        self.on_issued = on_issued
        self._tickets: Queue[Ticket] = Queue()
        self._idle = 0
        self._greenlet: gevent.Greenlet[None] | None = None
        self.issued = 0
        self.dropped = 0

    # --- the schedule ----------------------------------------------------------------------

    def start(self) -> None:
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None

    def _run(self) -> None:
        """Integrate the rate: a ticket falls due each time one whole iteration's worth of
        ``rate * time`` has accumulated. Steps are at most 50 ms, so a ramping rate is followed
        closely; if the process woke late, the tickets it owes are issued at once, each with
        the instant it fell due (their lateness is the corrected latency's to show)."""
        credit, last = 0.0, self.clock()
        while True:
            now = self.clock()
            rate = self.rate(now - self.started_at)
            credit += max(rate, 0.0) * (now - last)
            last = now
            while credit >= 1.0:
                credit -= 1.0
                self._issue(now - credit / rate)
            wait = (1.0 - credit) / rate if rate > 0 else MAX_STEP_SECONDS
            gevent.sleep(min(max(wait, 0.0005), MAX_STEP_SECONDS))

    def _issue(self, due: float) -> None:
        """Give the ticket to an idle user, or count the iteration as dropped."""
        if self._idle - self._tickets.qsize() > 0:
            self._tickets.put(Ticket(due))
            self.issued += 1
            self.on_issued(due)
        else:
            self.dropped += 1
            self.on_dropped(due)

    # --- the users' side -------------------------------------------------------------------

    def take(self, timeout: float | None = None) -> Ticket | None:
        """Wait (idle) for the next ticket; None when ``timeout`` passes without one."""
        self._idle += 1
        try:
            ticket: Ticket = self._tickets.get(timeout=timeout)
            return ticket
        except Empty:
            return None
        finally:
            self._idle -= 1

"""Users whose every accepted write is written down, so a fault that loses one is caught.

The load profile running beside the fault matrix says how the system behaves in bulk, but it
cannot say *which* write was lost. The witness can: a few accounts, one thread each, keep
adding titles to their watchlist (a sync op), playing titles (a playback session, heartbeats
that each write progress, a stop) and searching. Every answer is kept as an :class:`Outcome`
(what the user saw, how fast), and every write the system *accepted* goes into the
:class:`Ledger`. After a fault heals, :meth:`Witness.verify` checks each accepted write is
still there — the watchlist through the public API, progress and history in the database of the
launched stack — and counts what is missing.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg

from harness.accounts import Account, login

HEARTBEATS_PER_SESSION = 3
SEARCH_WORDS = ("space", "love", "war", "city", "night", "family", "secret", "road")


@dataclass(frozen=True)
class Outcome:
    """One request as its user saw it."""

    at: float
    """``time.monotonic()`` when the answer (or the failure) arrived."""
    op: str
    status: int | None
    """``None`` when no HTTP answer came (refused, reset, timed out)."""
    seconds: float
    error: str = ""
    """The JSON error's ``code``, ``non-json`` for an error body that is not the shared
    JSON error, or the transport exception's name; empty for a success."""

    @property
    def ok(self) -> bool:
        return self.status is not None and self.status < 400

    @property
    def label(self) -> str:
        return str(self.status) if self.status is not None else self.error


@dataclass
class Ledger:
    """Writes the system accepted (2xx), by what identifies them."""

    watchlist: dict[str, set[str]] = field(default_factory=dict)
    """email → content ids whose watchlist add was accepted."""
    progress: dict[tuple[str, str], int] = field(default_factory=dict)
    """(email, content id) → the last position a heartbeat or stop had accepted and written."""
    stops: dict[str, int] = field(default_factory=dict)
    """playback session id → the position its accepted stop recorded."""

    @property
    def accepted(self) -> int:
        adds = sum(len(ids) for ids in self.watchlist.values())
        return adds + len(self.progress) + len(self.stops)


@dataclass(frozen=True)
class Losses:
    """Accepted writes not found afterwards (each expected 0), and how many were checked."""

    watchlist: int
    progress: int
    stops: int
    checked: int

    @property
    def total(self) -> int:
        return self.watchlist + self.progress + self.stops


def _error_of(response: httpx.Response) -> str:
    if response.status_code < 400:
        return ""
    try:
        body = response.json()
    except ValueError:
        return "non-json"
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return str(code) if code else "non-json"


@dataclass
class _Viewer:
    """One witness account's thread state: its titles in a fixed order, its open session."""

    account: Account
    to_add: Iterator[str]
    to_play: Iterator[str]
    playing: tuple[str, str] | None = None
    """(session id, content id) of the session being played."""
    position: int = 0
    heartbeats: int = 0
    reached: dict[str, int] = field(default_factory=dict)
    """content id → the furthest position sent: a title played again goes on from there, so
    positions only grow and "stored ≥ accepted" is the whole check."""


class Witness:
    """Runs the witness accounts on threads until :meth:`stop`."""

    def __init__(
        self,
        base_url: str,
        accounts: list[Account],
        titles: list[str],
        *,
        pace: float = 0.25,
        timeout: float = 15.0,
    ) -> None:
        if len(titles) < 2 * len(accounts):
            raise ValueError(f"{len(titles)} titles are too few for {len(accounts)} accounts")
        self.base_url = base_url
        self.pace = pace
        self.timeout = timeout
        share = len(titles) // len(accounts)
        self._viewers = []
        for number, account in enumerate(accounts):
            own = titles[number * share : (number + 1) * share]
            half = len(own) // 2
            self._viewers.append(
                _Viewer(account, itertools.cycle(own[:half]), itertools.cycle(own[half:]))
            )
        self.ledger = Ledger()
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- running -------------------------------------------------------------------------

    def start(self) -> None:
        for number, viewer in enumerate(self._viewers):
            thread = threading.Thread(
                target=self._run, args=(viewer,), name=f"witness-{number}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)

    def _run(self, viewer: _Viewer) -> None:
        with httpx.Client(base_url=self.base_url, timeout=self.timeout) as client:
            words = itertools.cycle(SEARCH_WORDS)
            while not self._stopping.is_set():
                self._add_to_watchlist(client, viewer)
                self._play(client, viewer)
                self._call(client, viewer, "search", "GET", "/api/v1/search", q=next(words))
                self._stopping.wait(self.pace)

    def _call(
        self,
        client: httpx.Client,
        viewer: _Viewer,
        op: str,
        method: str,
        path: str,
        json: dict[str, Any] | None = None,
        **params: str,
    ) -> httpx.Response | None:
        began = time.monotonic()
        try:
            response = client.request(
                method, path, json=json, params=params or None, headers=viewer.account.headers
            )
        except httpx.TransportError as exc:
            self._keep(
                Outcome(time.monotonic(), op, None, time.monotonic() - began, type(exc).__name__)
            )
            return None
        self._keep(
            Outcome(
                time.monotonic(),
                op,
                response.status_code,
                time.monotonic() - began,
                _error_of(response),
            )
        )
        if response.status_code == 401:
            self._sign_in_again(client, viewer)
        return response

    def _keep(self, outcome: Outcome) -> None:
        with self._lock:
            self.outcomes.append(outcome)

    def _sign_in_again(self, client: httpx.Client, viewer: _Viewer) -> None:
        began = time.monotonic()
        try:
            login(client, viewer.account)
        except (AssertionError, httpx.TransportError) as exc:
            self._keep(
                Outcome(
                    time.monotonic(), "login", None, time.monotonic() - began, type(exc).__name__
                )
            )
            return
        self._keep(Outcome(time.monotonic(), "login", 200, time.monotonic() - began))

    def _add_to_watchlist(self, client: httpx.Client, viewer: _Viewer) -> None:
        title = next(viewer.to_add)
        response = self._call(client, viewer, "watchlist", "PUT", f"/api/v1/watchlist/{title}")
        if response is not None and response.status_code == 200:
            with self._lock:
                self.ledger.watchlist.setdefault(viewer.account.email, set()).add(title)

    def _play(self, client: httpx.Client, viewer: _Viewer) -> None:
        if viewer.playing is None:
            content = next(viewer.to_play)
            body = {"content_id": content, "device_id": "witness-tv"}
            response = self._call(
                client, viewer, "session", "POST", "/api/v1/playback/sessions", body
            )
            if response is not None and response.status_code == 201:
                viewer.playing = (response.json()["session_id"], content)
                viewer.position, viewer.heartbeats = viewer.reached.get(content, 0), 0
            return
        session, content = viewer.playing
        viewer.position += 30
        viewer.reached[content] = viewer.position
        base = f"/api/v1/playback/sessions/{session}"
        if viewer.heartbeats < HEARTBEATS_PER_SESSION:
            viewer.heartbeats += 1
            beat: dict[str, Any] = {"position_seconds": viewer.position, "state": "playing"}
            response = self._call(client, viewer, "heartbeat", "POST", f"{base}/heartbeat", beat)
            if response is None:
                return
            if response.status_code == 200 and response.json().get("progress_written"):
                self._accept_progress(viewer, content, response.json()["position_seconds"])
            elif response.status_code in (404, 410):
                viewer.playing = None  # the session is gone (e.g. Redis lost it): start anew
            return
        response = self._call(
            client, viewer, "stop", "POST", f"{base}/stop", {"position_seconds": viewer.position}
        )
        if response is None or response.status_code >= 500:
            return  # not accepted: the next step retries the stop
        viewer.playing = None
        if response.status_code == 200:
            position = response.json()["position_seconds"]
            self._accept_progress(viewer, content, position)
            with self._lock:
                self.ledger.stops[session] = position

    def _accept_progress(self, viewer: _Viewer, content: str, position: int) -> None:
        with self._lock:
            self.ledger.progress[(viewer.account.email, content)] = position

    # --- reading back ----------------------------------------------------------------------

    def between(self, start: float, end: float) -> list[Outcome]:
        with self._lock:
            return [o for o in self.outcomes if start <= o.at <= end]

    def last_failure(self) -> float | None:
        with self._lock:
            failed = [o.at for o in self.outcomes if not o.ok]
        return max(failed) if failed else None

    def verify(self, database_url: str) -> Losses:
        """Every accepted write of the ledger looked up again (after the system recovered)."""
        with self._lock:
            watchlist = {email: set(ids) for email, ids in self.ledger.watchlist.items()}
            progress = dict(self.ledger.progress)
            stops = dict(self.ledger.stops)
        lost_adds = 0
        with httpx.Client(base_url=self.base_url, timeout=self.timeout) as client:
            for viewer in self._viewers:
                wanted = watchlist.get(viewer.account.email, set())
                response = client.get("/api/v1/watchlist", headers=viewer.account.headers)
                response.raise_for_status()
                present = {item["content_id"] for item in response.json()["items"]}
                lost_adds += len(wanted - present)
        with psycopg.connect(database_url) as conn:
            stored = {
                (email, str(content)): position
                for email, content, position in conn.execute(
                    "SELECT u.email, p.content_id, p.position_seconds FROM playback.progress p"
                    " JOIN auth.users u ON u.id = p.user_id"
                )
            }
            histories = {
                str(session): position
                for session, position in conn.execute(
                    "SELECT session_id, position_seconds FROM playback.history"
                )
            }
        # A later write of the same title can only have moved the position on (see _Viewer).
        lost_progress = sum(1 for key, pos in progress.items() if stored.get(key, -1) < pos)
        lost_stops = sum(1 for session, pos in stops.items() if histories.get(session) != pos)
        checked = sum(len(ids) for ids in watchlist.values()) + len(progress) + len(stops)
        return Losses(lost_adds, lost_progress, lost_stops, checked)


def summarise(outcomes: list[Outcome]) -> str:
    """``200: 41, 503 dependency_unavailable: 6`` — what the users saw, most frequent first."""
    counts = Counter(
        f"{o.label} {o.error}".strip() if o.status is not None and o.error else o.label
        for o in outcomes
    )
    return ", ".join(f"{label}: {n}" for label, n in counts.most_common())

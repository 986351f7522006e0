"""What a load user does with a ticket: one iteration of a journey, chosen by the mix.

* ``search`` — a natural-language search (anonymous or signed in); sometimes the details of a
  title it found.
* ``recommendations`` — the signed-in viewer's home recommendations.
* ``playback`` — the viewer watches: start a session, heartbeats as it plays, stop, continue
  watching; one step per iteration, state kept per account.
* ``auth`` — refresh the session (rotating refresh token); a token near expiry is refreshed
  by whichever journey needs it first.
* ``sync`` — the viewer's phone puts a title on (or off) the watchlist over HTTP; the TV, a
  second device of the same user on the sync WebSocket, receives the op: the propagation
  latency is measured per message (``WS /api/v1/sync/ws propagation``).

Requests are named by route template (``GET /api/v1/content/{content_id}``), never by raw path.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import gevent
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from harness.load.pool import QUERIES, REFRESH_MARGIN_SECONDS, LoadAccount, Pool

HEARTBEATS_PER_SESSION = 8
PROPAGATION_TIMEOUT_SECONDS = 10.0
PROPAGATION = "/api/v1/sync/ws propagation"

Request = Callable[..., Any]
"""``request(method, url, name=…, **kwargs)``: the user's client, recording as it goes."""
Fire = Callable[..., None]
"""``environment.events.request.fire``: to record what is not an HTTP request."""


@dataclass
class Iteration:
    """One ticket's worth of work, and how late it started (for corrected latency)."""

    request: Request
    pool: Pool
    rng: random.Random
    lateness: float

    def call(self, method: str, path: str, name: str, **kwargs: Any) -> Any:
        context = {"lateness": self.lateness}
        return self.request(method, path, name=name, context=context, **kwargs)

    def fresh(self, account: LoadAccount) -> LoadAccount:
        """The account, its access token refreshed first if it is about to expire."""
        if account.needs_refresh(time.time()):
            refresh(self, account)
        return account


def refresh(it: Iteration, account: LoadAccount) -> None:
    with account.lock:
        response = it.call(
            "POST",
            "/api/v1/auth/token",
            "/api/v1/auth/token",
            data={"grant_type": "refresh_token", "refresh_token": account.refresh_token},
        )
        if response.status_code == 200:
            account.remember(response.json(), time.time())


def search(it: Iteration) -> None:
    signed_in = it.rng.random() < 0.5
    headers = it.fresh(it.pool.account()).headers if signed_in else {}
    query = it.rng.choice(QUERIES)
    response = it.call(
        "GET", "/api/v1/search", "/api/v1/search", params={"q": query}, headers=headers
    )
    if response.status_code == 200 and it.rng.random() < 0.5:
        items = response.json().get("items") or []
        title = items[0]["id"] if items else it.pool.title(it.rng)
        it.call("GET", f"/api/v1/content/{title}", "/api/v1/content/{content_id}")


def recommendations(it: Iteration) -> None:
    account = it.fresh(it.pool.account())
    it.call("GET", "/api/v1/recommendations", "/api/v1/recommendations", headers=account.headers)


def playback(it: Iteration) -> None:
    account = it.fresh(it.pool.account())
    with account.lock:
        session = account.playback_session
        if session is None:
            response = it.call(
                "POST",
                "/api/v1/playback/sessions",
                "/api/v1/playback/sessions",
                json={"content_id": it.pool.title(it.rng), "device_id": "load-phone"},
                headers=account.headers,
            )
            if response.status_code == 201:
                account.playback_session = response.json()["session_id"]
                account.position, account.heartbeats = 0, 0
            return
        if account.heartbeats < HEARTBEATS_PER_SESSION:
            account.position += 30
            account.heartbeats += 1
            response = it.call(
                "POST",
                f"/api/v1/playback/sessions/{session}/heartbeat",
                "/api/v1/playback/sessions/{session_id}/heartbeat",
                json={"position_seconds": account.position, "state": "playing"},
                headers=account.headers,
            )
            if response.status_code in (404, 410):
                account.playback_session = None
            return
        account.playback_session = None
    it.call(
        "POST",
        f"/api/v1/playback/sessions/{session}/stop",
        "/api/v1/playback/sessions/{session_id}/stop",
        json={"position_seconds": account.position},
        headers=account.headers,
    )
    it.call(
        "GET",
        "/api/v1/playback/continue-watching",
        "/api/v1/playback/continue-watching",
        headers=account.headers,
    )


def auth(it: Iteration) -> None:
    refresh(it, it.pool.account())


@dataclass
class SecondDevice:
    """The TV: the account's device on the sync socket, timing the ops it receives."""

    account: LoadAccount
    fire: Fire
    socket: ClientConnection
    expires_at: float
    """When the access token the socket was opened with expires: the server closes the socket
    then, so the device is renewed before (:meth:`usable`), as a real app would."""
    pending: dict[tuple[str, str], float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    closed: bool = False

    def usable(self, now: float) -> bool:
        return not self.closed and now < self.expires_at - REFRESH_MARGIN_SECONDS

    def expect(self, element: str, kind: str, sent_at: float) -> None:
        with self.lock:
            self.pending[(element, kind)] = sent_at

    def listen(self) -> None:
        try:
            for raw in self.socket:
                received = time.time()
                message = json.loads(raw)
                if message.get("type") != "op":
                    continue
                op = message["op"]
                with self.lock:
                    sent = self.pending.pop((str(op.get("element")), str(op.get("kind"))), None)
                if sent is not None:
                    self._record(sent, (received - sent) * 1000, None)
        except (ConnectionClosed, OSError):
            return
        finally:
            self.closed = True

    def expire(self, now: float) -> None:
        """Ops not received within the timeout are failures of the propagation."""
        with self.lock:
            late = [k for k, t in self.pending.items() if now - t > PROPAGATION_TIMEOUT_SECONDS]
            for key in late:
                sent = self.pending.pop(key)
                self._record(sent, (now - sent) * 1000, TimeoutError("op not received"))

    def _record(self, sent: float, milliseconds: float, error: Exception | None) -> None:
        self.fire(
            request_type="WS",
            name=PROPAGATION,
            response_time=milliseconds,
            response_length=0,
            exception=error,
            context={"lateness": 0.0},
            start_time=sent,
            url=PROPAGATION,
        )


class Devices:
    """Second devices by account, opened on first use, renewed before their token expires,
    closed at the end.

    A renewed device's old socket is retired, not dropped: it stays open until the ops sent
    while it was the account's device have arrived (or timed out), so none goes unmeasured.
    """

    def __init__(self, base_url: str, fire: Fire) -> None:
        parts = urlsplit(base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        self.ws_base = f"{scheme}://{parts.netloc}/api/v1/sync/ws"
        self.fire = fire
        self.devices: dict[str, SecondDevice] = {}
        self.retired: list[SecondDevice] = []
        self._lock = threading.Lock()
        self._reaper = gevent.spawn(self._reap)

    def of(self, account: LoadAccount) -> SecondDevice:
        with self._lock:
            device = self.devices.get(account.email)
            if device is not None and device.usable(time.time()):
                return device
            if device is not None:
                self.retired.append(device)
            device = self.devices[account.email] = self._open(account)
        return device

    def _open(self, account: LoadAccount) -> SecondDevice:
        socket = connect(f"{self.ws_base}?access_token={account.access_token}", open_timeout=10)
        socket.send(json.dumps({"v": 1, "type": "hello", "device_id": "load-tv"}))
        device = SecondDevice(account, self.fire, socket, account.expires_at)
        gevent.spawn(device.listen)
        return device

    def _reap(self) -> None:
        while True:
            gevent.sleep(1.0)
            self.reap(time.time())

    def reap(self, now: float) -> None:
        """Time out late ops; close the retired sockets that have nothing left to receive."""
        for device in [*self.devices.values(), *self.retired]:
            device.expire(now)
        with self._lock:
            done = [d for d in self.retired if d.closed or not d.pending]
            self.retired = [d for d in self.retired if d not in done]
        for device in done:
            device.socket.close()

    def close(self) -> None:
        self._reaper.kill(block=False)
        for device in [*self.devices.values(), *self.retired]:
            device.socket.close()


def sync(it: Iteration, devices: Devices) -> None:
    account = it.fresh(it.pool.account())
    device = devices.of(account)
    title = it.pool.title(it.rng)
    adding = title not in account.watchlist
    device.expect(title, "or_add" if adding else "or_remove", time.time())
    response = it.call(
        "PUT" if adding else "DELETE",
        f"/api/v1/watchlist/{title}",
        "/api/v1/watchlist/{content_id}",
        headers=account.headers,
    )
    if response.status_code == 200:
        (account.watchlist.add if adding else account.watchlist.discard)(title)


JOURNEYS: dict[str, Callable[[Iteration], None]] = {
    "search": search,
    "recommendations": recommendations,
    "playback": playback,
    "auth": auth,
}
"""Every journey but ``sync``, which also needs the second devices."""

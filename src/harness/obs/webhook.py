"""A local stand-in for every notification integration: records Alertmanager webhook payloads.

Tests and fire drills run Alertmanager with the committed routing tree but with each receiver's
PagerDuty / Slack / e-mail integrations replaced by a webhook to this server (see
``harness.obs.alertmanager_config``). Alertmanager puts the receiver's name in every webhook
payload (version 4), so what arrives here says which receiver was notified of which alerts and
when, without network access or secrets.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


@dataclass(frozen=True)
class Notification:
    """One webhook call: a receiver was notified about a group of alerts."""

    receiver: str
    status: str
    """``firing`` or ``resolved`` (the group's status)."""
    alerts: tuple[Mapping[str, str], ...]
    """Each alert's labels, in payload order."""
    alert_statuses: tuple[str, ...]
    group_labels: Mapping[str, str]
    path: str
    """The request path: lets several Alertmanagers share one receiver (one path each)."""
    received_at: datetime
    received_monotonic: float
    payload: Mapping[str, Any] = field(repr=False)

    @property
    def alertnames(self) -> tuple[str, ...]:
        return tuple(labels.get("alertname", "") for labels in self.alerts)

    def has_alert(self, **labels: str) -> bool:
        """True if some alert in the notification carries all of ``labels``."""
        return any(all(a.get(k) == v for k, v in labels.items()) for a in self.alerts)


def parse_notification(payload: Mapping[str, Any], path: str = "/") -> Notification:
    """Read an Alertmanager webhook body (version 4)."""
    if payload.get("version") != "4":
        raise ValueError(f"expected an Alertmanager webhook payload version 4, got {payload!r}")
    alerts = payload.get("alerts", [])
    return Notification(
        receiver=str(payload["receiver"]),
        status=str(payload["status"]),
        alerts=tuple(dict(a.get("labels", {})) for a in alerts),
        alert_statuses=tuple(str(a.get("status", "")) for a in alerts),
        group_labels=dict(payload.get("groupLabels", {})),
        path=path,
        received_at=datetime.now(UTC),
        received_monotonic=time.monotonic(),
        payload=payload,
    )


class WebhookReceiver:
    """An HTTP server in a thread on a free loopback port collecting webhook notifications."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._condition = threading.Condition()
        self._notifications: list[Notification] = []
        self._rejected: list[str] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            return self
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                try:
                    notification = parse_notification(json.loads(body), self.path)
                except (ValueError, KeyError, TypeError) as exc:
                    receiver._reject(f"{self.path}: {exc}")
                    self.send_response(400)
                    self.end_headers()
                    return
                receiver._record(notification)
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None  # tests read notifications, not an access log on stderr

        # Port 0: the OS picks a free port at bind time, so there is no race with another test.
        self._server = ThreadingHTTPServer((self._host, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="webhook-receiver", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- addresses ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("webhook receiver is not running")
        return int(self._server.server_address[1])

    def url(self, path: str = "/") -> str:
        """The URL to give Alertmanager; a distinct ``path`` per Alertmanager tells them apart."""
        return f"http://{self._host}:{self.port}/{path.lstrip('/')}"

    # --- what arrived ------------------------------------------------------------------------

    def _record(self, notification: Notification) -> None:
        with self._condition:
            self._notifications.append(notification)
            self._condition.notify_all()

    def _reject(self, why: str) -> None:
        with self._condition:
            self._rejected.append(why)

    @property
    def notifications(self) -> list[Notification]:
        """A copy of every notification so far, in arrival order."""
        with self._condition:
            return list(self._notifications)

    @property
    def rejected(self) -> list[str]:
        """Bodies that were not Alertmanager webhook payloads (answered 400)."""
        with self._condition:
            return list(self._rejected)

    def clear(self) -> None:
        with self._condition:
            self._notifications.clear()
            self._rejected.clear()

    def wait_for(
        self, predicate: Callable[[Notification], bool], timeout: float = 10.0
    ) -> Notification:
        """The first notification (already here or still to come) that satisfies ``predicate``.

        Raises TimeoutError listing what did arrive, so a failed drill says what happened.
        """
        deadline = time.monotonic() + timeout
        with self._condition:
            while True:
                for notification in self._notifications:
                    if predicate(notification):
                        return notification
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [
                        (n.path, n.receiver, n.status, n.alertnames) for n in self._notifications
                    ]
                    raise TimeoutError(
                        f"no matching webhook notification within {timeout:.1f} s; "
                        f"received {len(seen)}: {seen}"
                    )
                self._condition.wait(remaining)

    def wait_for_alert(
        self,
        *,
        receiver: str | None = None,
        path: str | None = None,
        timeout: float = 10.0,
        **labels: str,
    ) -> Notification:
        """The first notification carrying an alert with ``labels``, optionally only those for
        ``receiver`` or arriving on ``path``."""

        def matches(notification: Notification) -> bool:
            return (
                (receiver is None or notification.receiver == receiver)
                and (path is None or notification.path == path)
                and notification.has_alert(**labels)
            )

        return self.wait_for(matches, timeout)

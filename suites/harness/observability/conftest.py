"""Fixtures that run the real Prometheus, Alertmanager and a webhook receiver for observability
tests: routing and inhibition checks, fire drills, dashboard query tests.

Factories start as many servers as a test needs and stop every one at teardown, failing or not.
``local_alertmanager`` is the committed routing tree with each receiver delivering to
``webhook_receiver`` (see ``harness.obs.alertmanager_config``), its time intervals pinned inside
business hours so P2 routing does not depend on when the test runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from harness.obs import alertmanager as am
from harness.obs.alertmanager import AlertmanagerServer
from harness.obs.alertmanager_config import IN_BUSINESS_HOURS, TEST_TIMINGS, Timings
from harness.obs.prometheus import PrometheusServer
from harness.obs.webhook import WebhookReceiver

AlertmanagerFactory = Callable[..., AlertmanagerServer]
LocalAlertmanagerFactory = Callable[..., AlertmanagerServer]
PrometheusFactory = Callable[..., PrometheusServer]


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A started webhook receiver on a free loopback port."""
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def alertmanager_factory() -> Iterator[AlertmanagerFactory]:
    """``start(config, **kwargs)`` → a started AlertmanagerServer (same arguments)."""
    started: list[AlertmanagerServer] = []

    def start(config: Any, **kwargs: Any) -> AlertmanagerServer:
        server = AlertmanagerServer(config, **kwargs)
        started.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def local_alertmanager_factory(
    webhook_receiver: WebhookReceiver,
) -> Iterator[LocalAlertmanagerFactory]:
    """``start(path="/", local_time=IN_BUSINESS_HOURS, timings=TEST_TIMINGS)`` → a started
    Alertmanager with the committed routing, delivering to ``webhook_receiver.url(path)``.

    Give each Alertmanager its own ``path`` when a test runs several (one per pinned clock):
    notifications carry the path they arrived on.
    """
    started: list[AlertmanagerServer] = []

    def start(
        path: str = "/",
        *,
        local_time: datetime | None = IN_BUSINESS_HOURS,
        timings: Timings | None = TEST_TIMINGS,
        log_level: str = "info",
    ) -> AlertmanagerServer:
        server = am.local_alertmanager(
            webhook_receiver.url(path), local_time=local_time, timings=timings, log_level=log_level
        )
        started.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def local_alertmanager(local_alertmanager_factory: LocalAlertmanagerFactory) -> AlertmanagerServer:
    """The committed routing delivering to ``webhook_receiver``, pinned inside business hours."""
    return local_alertmanager_factory()


@pytest.fixture
def prometheus_factory() -> Iterator[PrometheusFactory]:
    """``start(targets, **kwargs)`` → a started PrometheusServer (same arguments)."""
    started: list[PrometheusServer] = []

    def start(*args: Any, **kwargs: Any) -> PrometheusServer:
        server = PrometheusServer(*args, **kwargs)
        started.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in started:
            server.stop()

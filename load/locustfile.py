"""Media Gateway load: ``locust -f load/locustfile.py --host <gateway URL> --headless``.

Profiles, presets, the traffic mix, InfluxDB and the SLO file are options of their own (see
``locust -f load/locustfile.py --help``, "Media Gateway load profile"); ``mgh load run``
starts the stack and InfluxDB and calls exactly this. The users are open-model: they start an
iteration when the pacer issues a ticket, at the profile's arrival rate (see
``harness.load.pacing``), so ``wait_time`` is zero and there is one task.
"""

from __future__ import annotations

from typing import Any

from locust import FastHttpUser, constant, events, task
from locust.env import Environment

from harness.load.plugin import ProfileShape, engine_of, register

__all__ = ["MediaGatewayUser", "ProfileShape"]


@events.init.add_listener
def _engine(environment: Environment, **_: Any) -> None:
    register(environment)


class MediaGatewayUser(FastHttpUser):
    """One concurrency slot: takes tickets and runs the journey the mix picks."""

    wait_time = constant(0)
    network_timeout = 30.0
    connection_timeout = 10.0

    @task
    def iteration(self) -> None:
        engine_of(self.environment).iterate(self.client.request)

"""Closed-loop Locust users on the trivial endpoint: the generator's own cost per request.

``MG_LOADGEN_RECORD=1`` adds what a real load run does per request — the HDR recording of both
latencies (``harness.load.stats``) and a per-second writer of points to InfluxDB
(``MG_INFLUX_URL``) — so the two runs differ by exactly that.
"""

from __future__ import annotations

import os
import time
from typing import Any

import gevent
from locust import FastHttpUser, constant, events, task
from locust.env import Environment

from harness.load.influx import InfluxWriter, sink_for
from harness.load.stats import Recorder

RECORD = os.environ.get("MG_LOADGEN_RECORD") == "1"
recorder = Recorder()


@events.init.add_listener
def _setup(environment: Environment, **_: Any) -> None:
    if not RECORD:
        return
    writer = InfluxWriter(sink_for(os.environ["MG_INFLUX_URL"]))

    def on_request(request_type: str, name: str, response_time: float, **kw: Any) -> None:
        end = time.time()
        recorder.record(
            f"{request_type} {name}",
            response_time,
            response_time,
            kw.get("exception") is not None,
            end,
        )

    def flush() -> None:
        while True:
            gevent.sleep(1.0)
            for second in recorder.closed(time.time() - 1.5):
                for endpoint, series in second.endpoints.items():
                    fields = {k: v for k, v in series.summary().items() if not k.startswith("mean")}
                    writer.point(
                        "requests", {"run_id": "loadgen", "endpoint": endpoint}, fields, second.at
                    )

    environment.events.request.add_listener(on_request)
    gevent.spawn(flush)


class Pinger(FastHttpUser):
    wait_time = constant(0)

    @task
    def ping(self) -> None:
        self.client.get("/ping")

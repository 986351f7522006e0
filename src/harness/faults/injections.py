"""The faults of the matrix: how each is done and undone, and what it should set off.

Each :class:`Fault` names the readiness dependency that should be reported down while it
lasts and the alert that should reach Alertmanager's receiver; ``None`` means nothing in the
system is supposed to notice (InfluxDB and Prometheus belong to the harness, not the system).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from harness.faults.rig import Rig
from harness.service_processes import wait_ready


@dataclass(frozen=True)
class Fault:
    name: str
    how: str
    down_seconds: float
    inject: Callable[[Rig], None]
    heal: Callable[[Rig], None]
    dependency: str | None = None
    """The dependency readiness should name as down (a backend, or the killed service)."""
    alert: dict[str, str] = field(default_factory=dict)
    """Labels of the alert expected to fire (``alertname`` at least); empty: none expected."""
    platform: str | None = None
    """A feed ingested while the fault lasts, so events are produced through it."""


def _stop(name: str) -> Callable[[Rig], None]:
    return lambda rig: rig.process_of(name).terminate()


def _kill(name: str) -> Callable[[Rig], None]:
    return lambda rig: rig.process_of(name).kill()


def _start_backend(name: str) -> Callable[[Rig], None]:
    def start(rig: Rig) -> None:
        rig.process_of(name).start()
        rig.backends[name].wait_healthy(60)

    return start


def _start_service(name: str) -> Callable[[Rig], None]:
    def start(rig: Rig) -> None:
        rig.process_of(name).start()
        wait_ready(rig.stack.service_urls[name], 60, rig.process_of(name))

    return start


def _pause(name: str) -> Callable[[Rig], None]:
    return lambda rig: rig.backends[name].pause()


def _resume(name: str) -> Callable[[Rig], None]:
    return lambda rig: rig.backends[name].resume()


def _kill_prometheus(rig: Rig) -> None:
    rig.observatory.prometheus.kill()


def _restart_prometheus(rig: Rig) -> None:
    rig.observatory.prometheus.restart()


KILLED_SERVICE = "playback"

FAULTS: tuple[Fault, ...] = (
    Fault(
        "PostgreSQL restart",
        "stopped (fast shutdown), down 10 s, started on the same data",
        10,
        _stop("postgres"),
        _start_backend("postgres"),
        dependency="postgres",
        alert={"alertname": "DependencyDown", "dependency": "postgres"},
        platform="hulu",
    ),
    Fault(
        "Redis down",
        "killed (SIGKILL), down 10 s, started empty",
        10,
        _kill("redis"),
        _start_backend("redis"),
        dependency="redis",
        alert={"alertname": "RedisUnavailable"},
        platform="max",
    ),
    Fault(
        "Kafka unreachable",
        "broker paused (SIGSTOP) 30 s, then resumed; a kill would lose tansu's in-memory topics",
        30,
        _pause("kafka"),
        _resume("kafka"),
        dependency="kafka",
        alert={"alertname": "DependencyDown", "dependency": "kafka"},
        platform="netflix",
    ),
    Fault(
        f"{KILLED_SERVICE} service killed",
        f"{KILLED_SERVICE} process SIGKILLed, down 10 s, started again on its port",
        10,
        _kill(KILLED_SERVICE),
        _start_service(KILLED_SERVICE),
        dependency=KILLED_SERVICE,
        alert={"alertname": "ServiceDown", "service": KILLED_SERVICE},
        platform="disney",
    ),
    Fault(
        "InfluxDB down",
        "the load generator's InfluxDB killed, down 20 s, started on the same data",
        20,
        _kill("influxdb"),
        _start_backend("influxdb"),
    ),
    Fault(
        "Prometheus down",
        "Prometheus killed, down 20 s, started on the same data",
        20,
        _kill_prometheus,
        _restart_prometheus,
    ),
)

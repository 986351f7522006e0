"""Resolution order and the Backend interface, with a stand-in spec (no servers)."""

from __future__ import annotations

import pytest

from harness.backends import SPECS, Backend, BackendUnavailable, BackendUnhealthy, Mode, resolve
from harness.backends.base import BackendSpec, FaultNotSupported, NotOwned

pytestmark = pytest.mark.unit


class RecordingControls(NotOwned):
    def __init__(self) -> None:
        super().__init__("fake", "test double")
        self.stopped = 0

    def stop(self) -> None:
        self.stopped += 1


class FakeSpec(BackendSpec):
    """A backend whose availability per mode the test sets."""

    name = "fake"
    env_var = "MG_FAKE_URL"
    install_hint = "the package 'fake-server'"

    def __init__(self, *, process: bool = False, embedded: bool = False, healthy: bool = True):
        self.process = process
        self.embedded = embedded
        self.healthy = healthy
        self.controls = RecordingControls()

    def probe(self, url: str) -> None:
        if not self.healthy:
            raise ConnectionRefusedError(f"nothing listens at {url}")

    def validate_url(self, url: str) -> str:
        if not url.startswith("fake://"):
            raise ValueError("expected fake://host")
        return url

    def _backend(self, mode: Mode) -> Backend:
        return Backend(self.name, mode, f"fake://{mode}", self.probe, self.controls)

    def start_container(self) -> Backend:
        return self._backend(Mode.CONTAINER)

    def process_available(self) -> bool:
        return self.process

    def start_process(self) -> Backend:
        return self._backend(Mode.PROCESS)

    def embedded_available(self) -> bool:
        return self.embedded

    def start_embedded(self) -> Backend:
        return self._backend(Mode.EMBEDDED)


@pytest.mark.parametrize(
    ("env", "docker", "process", "embedded", "expected"),
    [
        ({"MG_FAKE_URL": "fake://shared"}, True, True, True, Mode.ENV),
        ({}, True, True, True, Mode.CONTAINER),
        ({}, False, True, True, Mode.PROCESS),
        ({}, False, False, True, Mode.EMBEDDED),
        ({"MG_FAKE_URL": ""}, False, True, False, Mode.PROCESS),
    ],
)
def test_first_applicable_mode_wins(
    env: dict[str, str], docker: bool, process: bool, embedded: bool, expected: Mode
) -> None:
    spec = FakeSpec(process=process, embedded=embedded)
    backend = resolve(spec, env=env, docker=docker)
    assert backend.mode is expected


def test_env_url_is_used_as_given() -> None:
    backend = resolve(FakeSpec(), env={"MG_FAKE_URL": "fake://shared:1"}, docker=False)
    assert backend.url == "fake://shared:1"


def test_nothing_available_names_backend_variable_and_package() -> None:
    with pytest.raises(BackendUnavailable) as caught:
        resolve(FakeSpec(), env={}, docker=False)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("fake: no backend available")
    assert "MG_FAKE_URL" in message
    assert "fake-server" in message


def test_bad_env_url_names_the_variable() -> None:
    with pytest.raises(BackendUnavailable, match=r"MG_FAKE_URL='http://x' is not usable: expected"):
        resolve(FakeSpec(), env={"MG_FAKE_URL": "http://x"}, docker=False)


def test_a_mode_can_be_forced() -> None:
    backend = resolve(FakeSpec(process=True), env={"MG_FAKE_URL": "fake://x"}, mode=Mode.PROCESS)
    assert backend.mode is Mode.PROCESS


def test_unhealthy_backend_is_stopped_and_reported() -> None:
    spec = FakeSpec(process=True, healthy=False)
    with pytest.raises(BackendUnhealthy, match=r"fake \(process\) at fake://process not healthy"):
        resolve(spec, env={}, docker=False, wait=0.1)
    assert spec.controls.stopped == 1


def test_health_reports_the_probe_failure_in_one_line() -> None:
    backend = resolve(FakeSpec(healthy=False), env={}, docker=True, wait=None)
    assert backend.health() == "ConnectionRefusedError: nothing listens at fake://container"


@pytest.mark.parametrize("hook", ["kill", "pause", "resume", "restart"])
def test_fault_hooks_refuse_on_attached_backends(hook: str) -> None:
    backend = resolve(FakeSpec(), env={"MG_FAKE_URL": "fake://shared"}, docker=False)
    with pytest.raises(FaultNotSupported, match=f"cannot {hook} — attached via MG_FAKE_URL"):
        getattr(backend, hook)()


def test_stopping_an_attached_backend_leaves_it_alone() -> None:
    spec = FakeSpec()
    backend = spec.attach("fake://shared")
    backend.stop()
    assert backend.health() is None


def test_real_specs_are_registered_with_their_variables() -> None:
    assert {name: spec.env_var for name, spec in SPECS.items()} == {
        "postgres": "MG_POSTGRES_URL",
        "redis": "MG_REDIS_URL",
        "kafka": "MG_KAFKA_BOOTSTRAP",
        "qdrant": "MG_QDRANT_URL",
        "influxdb": "MG_INFLUX_URL",
    }


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("postgres", "mysql://x"),
        ("redis", "http://localhost:6379"),
        ("kafka", "localhost"),
        ("qdrant", "grpc://localhost:6334"),
        ("influxdb", "localhost:8086"),
        ("influxdb", "influx2://localhost:8086/only-an-org"),
    ],
)
def test_real_specs_reject_malformed_urls(name: str, url: str) -> None:
    spec = SPECS[name]
    with pytest.raises(BackendUnavailable, match=spec.env_var):
        spec.attach(url)

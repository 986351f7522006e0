"""The load's second devices: renewed before their token expires, the old socket retired only
once its ops have arrived (unit tests: sockets are stand-ins, nothing is sent)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from harness.load import journeys
from harness.load.journeys import Devices, SecondDevice
from harness.load.pool import REFRESH_MARGIN_SECONDS, LoadAccount

pytestmark = pytest.mark.unit


class StandInSocket:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


fired: list[dict[str, Any]] = []


def _fire(**event: Any) -> None:
    fired.append(event)


@pytest.fixture
def devices(monkeypatch: pytest.MonkeyPatch) -> Iterator[Devices]:
    def open_device(self: Devices, account: LoadAccount) -> SecondDevice:
        return SecondDevice(account, _fire, StandInSocket(), account.expires_at)  # type: ignore[arg-type]  # a stand-in for the websocket

    monkeypatch.setattr(journeys.Devices, "_open", open_device)
    opened = Devices("http://127.0.0.1:1", _fire)
    fired.clear()
    yield opened
    opened.close()


def _account(expires_in: float) -> LoadAccount:
    account = LoadAccount("tv@example.org", "pw")
    account.expires_at = time.time() + expires_in
    return account


def test_a_device_is_usable_until_the_refresh_margin_of_its_token() -> None:
    now = time.time()
    device = SecondDevice(_account(600), _fire, StandInSocket(), now + 600)  # type: ignore[arg-type]  # stand-in socket
    assert device.usable(now)
    assert not device.usable(now + 600 - REFRESH_MARGIN_SECONDS)
    device.closed = True
    assert not device.usable(now)


def test_the_same_device_serves_while_its_token_is_good(devices: Devices) -> None:
    account = _account(900)
    assert devices.of(account) is devices.of(account)
    assert devices.retired == []


def test_a_device_near_its_token_expiry_is_renewed_and_the_old_one_retired(
    devices: Devices,
) -> None:
    account = _account(REFRESH_MARGIN_SECONDS / 2)  # inside the margin already
    old = devices.of(account)
    old.expect("title-1", "or_add", time.time())
    account.expires_at = time.time() + 900  # the journey refreshed the account's token
    new = devices.of(account)
    assert new is not old
    assert new.expires_at == account.expires_at
    assert devices.retired == [old]
    socket = old.socket
    assert isinstance(socket, StandInSocket)
    devices.reap(time.time())
    assert devices.retired == [old], "an op is still on its way to the old socket"
    assert not socket.closed
    old.pending.clear()  # it arrived
    devices.reap(time.time())
    assert devices.retired == []
    assert socket.closed


def test_a_device_the_server_closed_is_reopened(devices: Devices) -> None:
    account = _account(900)
    old = devices.of(account)
    old.closed = True  # the listener saw the socket end
    assert devices.of(account) is not old


def test_an_op_that_never_arrives_is_a_timed_out_propagation(devices: Devices) -> None:
    device = devices.of(_account(900))
    sent = time.time() - journeys.PROPAGATION_TIMEOUT_SECONDS - 1
    device.expect("title-2", "or_add", sent)
    devices.reap(time.time())
    assert device.pending == {}
    assert len(fired) == 1
    assert isinstance(fired[0]["exception"], TimeoutError)

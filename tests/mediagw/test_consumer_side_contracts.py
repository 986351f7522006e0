"""Consumer contracts, consumer side: each consumer's own code against a stub of its provider
that answers with the contract's ``example``; the request the code sends must have the shape of
the contract's request. The provider side is contracts/test_consumer_contracts.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.contracts.consumers import Interaction, fill, load, shape_of
from mediagw.common.errors import ApiError
from mediagw.discovery.sona_client import SonaClient
from mediagw.gateway.exchange import ApiKeyExchange
from mediagw.playback.publisher import SyncPublisher

pytestmark = pytest.mark.unit

INTERACTIONS, _ = load(Path(__file__).resolve().parents[2] / "contracts" / "consumers")
VALUES = {
    "user_id": "11111111-1111-1111-1111-111111111111",
    "titles": ["t-1", "t-2", "t-3"],
    "uuid": "22222222-2222-2222-2222-222222222222",
    "now": datetime(2026, 12, 1, tzinfo=UTC).isoformat(),
    "api_key": "mgk_abcdefghijkl_" + "a" * 43,
    "unknown_api_key": "mgk_zzzzzzzzzzzz_" + "z" * 43,
}


def interaction(consumer: str, provider: str, name: str) -> Interaction:
    (found,) = [
        i for i in INTERACTIONS if (i.consumer, i.provider, i.name) == (consumer, provider, name)
    ]
    return found


def stub(contract: Interaction, sent: list[httpx.Request]) -> httpx.AsyncClient:
    """The provider as the contract describes it: records the request, answers the example."""

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        body = fill(contract.response["example"], VALUES)
        return httpx.Response(contract.response["status"], json=body)

    return httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://provider")


def assert_sent_as_contracted(contract: Interaction, sent: list[httpx.Request]) -> None:
    (request,) = sent
    expected = fill(contract.request, VALUES)
    assert (request.method, request.url.path) == (expected["method"], expected["path"])
    if "body" in expected:
        assert shape_of(json.loads(request.content)) == shape_of(expected["body"])
    for header in expected.get("headers", {}):
        assert header in request.headers


def run(coroutine_factory: Callable[[], Any]) -> Any:
    return asyncio.run(coroutine_factory())


def test_discovery_reranks_through_sona_as_contracted() -> None:
    contract = interaction(
        "discovery", "sona", "re-rank the candidates of a signed-in user's search"
    )
    sent: list[httpx.Request] = []
    client = SonaClient(url="http://provider", timeout=5)
    client._client = stub(contract, sent)  # the stub stands in for SONA's address

    result = run(lambda: client.rerank(VALUES["user_id"], VALUES["titles"], "Bearer t"))
    assert_sent_as_contracted(contract, sent)
    assert result is not None
    assert result.personalised
    assert result.order == ["t-2", "t-1", "t-3"]  # the example's order, then the rest


def test_playback_publishes_progress_to_sync_as_contracted() -> None:
    contract = interaction("playback", "sync", "publish a progress op")
    sent: list[httpx.Request] = []
    publisher = SyncPublisher("http://provider", timeout=5)
    publisher._client = stub(contract, sent)  # the stub stands in for sync's address

    published = run(
        lambda: publisher.publish(
            authorization="Bearer t", user_id=VALUES["user_id"], content_id="t-1",
            position=600, duration=3600, completed=False, device_id="contracts-tv",
            updated_at=datetime(2026, 12, 1, tzinfo=UTC),
        )
    )  # fmt: skip
    assert published is True
    assert_sent_as_contracted(contract, sent)


@pytest.mark.parametrize(
    ("name", "status"),
    [("exchange a live API key", 200), ("exchange an unknown API key", 401)],
)
def test_gateway_exchanges_api_keys_with_auth_as_contracted(name: str, status: int) -> None:
    contract = interaction("gateway", "auth", name)
    sent: list[httpx.Request] = []
    exchange = ApiKeyExchange(stub(contract, sent))
    key = fill(contract.request, VALUES)["headers"]["x-api-key"]
    if status == 200:
        token = run(lambda: exchange.token(key))
        assert token == contract.response["example"]["access_token"]
    else:
        with pytest.raises(ApiError) as refused:
            run(lambda: exchange.token(key))
        assert (refused.value.status, refused.value.code) == (401, "invalid_api_key")
    assert_sent_as_contracted(contract, sent)

"""Which Kafka errors make the relay replace its producer (a unit test: no broker)."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError

from mediagw.ingestion.producer import needs_new_producer

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "code",
    [
        KafkaError.PRODUCER_FENCED,
        KafkaError.INVALID_PRODUCER_EPOCH,
        KafkaError.UNKNOWN_PRODUCER_ID,
        KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER,
    ],
)
def test_a_refused_producer_id_needs_a_new_producer_though_librdkafka_says_not_fatal(
    code: int,
) -> None:
    error = KafkaError(code)
    assert not error.fatal()
    assert needs_new_producer(error)


def test_a_fatal_error_needs_a_new_producer() -> None:
    assert needs_new_producer(KafkaError(KafkaError._FATAL, fatal=True))


@pytest.mark.parametrize(
    "code",
    [KafkaError._MSG_TIMED_OUT, KafkaError._TRANSPORT, KafkaError.MSG_SIZE_TOO_LARGE],
)
def test_timeouts_transport_and_bad_messages_keep_the_producer(code: int) -> None:
    assert not needs_new_producer(KafkaError(code))

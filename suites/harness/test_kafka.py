"""Kafka protocol round trip through the broker: idempotent produce, consumer group, commits."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer

from harness.backends import Backend
from harness.isolation import KafkaTopics

pytestmark = pytest.mark.integration


def consume(consumer: Consumer, count: int, timeout: float = 30.0) -> list[Message]:
    received: list[Message] = []
    deadline = time.monotonic() + timeout
    while len(received) < count and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None:
            continue
        error = message.error()
        if error is not None and error.code() != KafkaError._PARTITION_EOF:
            raise AssertionError(f"consumer error: {error}")
        if error is None:
            received.append(message)
    return received


def group_consumer(bootstrap: str, group: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 2000,
        }
    )


def test_round_trip_with_delivery_reports_and_consumer_group(
    kafka_backend: Backend, kafka_topics: KafkaTopics
) -> None:
    topic = kafka_topics.create("roundtrip", partitions=2)
    producer = Producer(
        {"bootstrap.servers": kafka_backend.url, "enable.idempotence": True, "acks": "all"}
    )
    delivered: list[tuple[str, int]] = []

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        assert error is None, error
        delivered.append((message.key().decode(), message.offset()))

    sent = {f"key-{i}": f"value-{i}" for i in range(20)}
    for key, value in sent.items():
        producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
    assert producer.flush(15) == 0
    assert sorted(k for k, _ in delivered) == sorted(sent)
    assert all(offset >= 0 for _, offset in delivered)

    group = f"g-{uuid.uuid4().hex[:8]}"
    consumer = group_consumer(kafka_backend.url, group)
    consumer.subscribe([topic])
    try:
        messages = consume(consumer, len(sent))
        assert {m.key().decode(): m.value().decode() for m in messages} == sent
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()

    # A new member of the same group resumes after the committed offsets: nothing is replayed.
    producer.produce(topic, key="key-late", value="late", on_delivery=on_delivery)
    assert producer.flush(15) == 0
    resumed = group_consumer(kafka_backend.url, group)
    resumed.subscribe([topic])
    try:
        later = consume(resumed, 1)
        assert [(m.key().decode(), m.value().decode()) for m in later] == [("key-late", "late")]
        assert consume(resumed, 1, timeout=2) == []
    finally:
        resumed.close()


def test_topics_are_unique_per_request(kafka_topics: KafkaTopics) -> None:
    first, second = kafka_topics.create("same"), kafka_topics.create("same")
    assert first != second
    assert first.startswith("same.")

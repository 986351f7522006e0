"""Read what a service published to Kafka: for suites that check events as they were produced."""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

consumer_log = logging.getLogger("harness.topics.consumer")


def consume(
    bootstrap: str,
    topics: list[str],
    expected: int,
    quiet: float = 2.0,
    within: float = 30,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Every message on ``topics`` (all partitions, from the beginning): at least
    ``expected`` of them, then whatever else arrives until ``quiet`` seconds pass without one
    (so duplicates would be seen too), or until ``limit`` messages are in. Watermarks are not
    used: tansu's lag behind batches."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"harness-read-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "logger": consumer_log,
        }
    )
    try:
        metadata = consumer.list_topics(timeout=10)
        consumer.assign(
            [
                TopicPartition(topic, partition, OFFSET_BEGINNING)
                for topic in topics
                for partition in metadata.topics[topic].partitions
            ]
        )
        received: list[dict[str, Any]] = []
        deadline = time.monotonic() + within
        last = time.monotonic()
        while len(received) < expected or time.monotonic() - last < quiet:
            if limit is not None and len(received) >= limit:
                break
            assert time.monotonic() < deadline, f"consumed {len(received)} of {expected}"
            message = consumer.poll(0.2)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                assert error.code() == KafkaError._PARTITION_EOF, error
                continue
            last = time.monotonic()
            key, value, headers = message.key(), message.value(), message.headers() or []
            assert key is not None
            assert value is not None
            assert isinstance(headers, list)
            received.append(
                {
                    "topic": message.topic(),
                    "key": key.decode(),
                    "value": json.loads(value),
                    "headers": {k: v.decode() for k, v in headers if isinstance(v, bytes)},
                }
            )
        return received
    finally:
        consumer.close()

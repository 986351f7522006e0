"""Kafka delivery: events sent, delivered and failed by topic, retries, the outbox, latency.

Producers write events to a transactional outbox first; the relay sends them and counts
deliveries from the broker's callbacks. Pending events grow when the broker is slow or down;
dead letters are events that failed permanently and need an operator.
"""

from __future__ import annotations

from typing import Any

from harness.obs.dashboards import promql
from harness.obs.dashboards.common import Board, Choice, Prom, Step, graph, single

DEAD_LETTER_STEPS = (Step(None, "green"), Step(1, "red"))


def dashboard() -> dict[str, Any]:
    # Longer than 80 lines on purpose: one panel after another, in the order the dashboard
    # shows them, so the code reads top to bottom like the board it draws.
    board = Board(
        "mgh-kafka",
        "Media Gateway / Kafka delivery",
        "Events sent, delivered and failed by topic, produce retries, the outbox backlog and "
        "dead letters, and delivery latency.",
        "prometheus",
        tags=("kafka",),
    ).choice(
        Choice(
            "topic",
            "Topic",
            "label_values(kafka_events_sent_total, topic)",
            "Kafka topics events have been sent to",
        )
    )
    topic = 'topic=~"$topic"'
    board.row("Events by topic")
    board.add(
        graph(
            "Events sent by topic",
            "Events handed to the Kafka producer per second, by topic.",
            "eps",
            Prom(promql.rate("kafka_events_sent_total", topic, by="topic"), "{{topic}}"),
            width=8,
        ),
        graph(
            "Events delivered by topic",
            "Events the broker acknowledged per second, by topic.",
            "eps",
            Prom(promql.rate("kafka_events_delivered_total", topic, by="topic"), "{{topic}}"),
            width=8,
        ),
        graph(
            "Delivery failures by topic and reason",
            "Events that failed with a non-retriable error per second, by topic and reason "
            "(kept in the outbox, never retried).",
            "eps",
            Prom(
                promql.rate("kafka_events_failed_total", topic, by="topic, reason"),
                "{{topic}} {{reason}}",
            ),
            steps=(Step(None, "green"), Step(0.01, "red")),
            width=8,
        ),
        graph(
            "Delivered share by topic",
            "Deliveries as a share of sends over the window, by topic (below 1 while the broker "
            "lags or fails).",
            "percentunit",
            Prom(
                promql.ratio(
                    promql.rate("kafka_events_delivered_total", topic, by="topic"),
                    promql.rate("kafka_events_sent_total", topic, by="topic"),
                ),
                "{{topic}}",
            ),
            minimum=0,
        ),
        graph(
            "Produce retries by topic",
            "Deliveries that failed with a retriable error and were rescheduled with backoff, "
            "per second, by topic.",
            "ops",
            Prom(promql.rate("kafka_produce_retries_total", topic, by="topic"), "{{topic}}"),
        ),
    )
    board.row("Outbox and latency")
    board.add(
        graph(
            "Outbox pending",
            "Outbox events not yet delivered to Kafka.",
            "short",
            Prom(promql.gauge("kafka_outbox_pending"), "pending"),
            width=9,
        ),
        single(
            "Outbox pending now",
            "Events waiting in the outbox now.",
            "short",
            Prom(promql.gauge("kafka_outbox_pending"), "pending", instant=True),
            width=3,
            height=8,
        ),
        single(
            "Dead letters",
            "Outbox events that failed permanently and wait for an operator.",
            "short",
            Prom(promql.gauge("kafka_outbox_dead_letters"), "dead letters", instant=True),
            steps=DEAD_LETTER_STEPS,
            width=3,
            height=8,
        ),
        graph(
            "Dead letters over time",
            "Events in the outbox's dead-letter state.",
            "short",
            Prom(promql.gauge("kafka_outbox_dead_letters"), "dead letters"),
            steps=DEAD_LETTER_STEPS,
            width=9,
        ),
        graph(
            "Delivery latency",
            "p50 / p95 / p99 time from handing an event to the producer to the brokers' "
            "acknowledgement.",
            "s",
            Prom(promql.quantile(0.5, "kafka_delivery_latency_seconds"), "p50"),
            Prom(promql.quantile(0.95, "kafka_delivery_latency_seconds"), "p95"),
            Prom(promql.quantile(0.99, "kafka_delivery_latency_seconds"), "p99"),
            width=24,
        ),
    )
    return board.model()

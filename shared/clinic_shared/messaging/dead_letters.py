"""Operator tools for dead-lettered messages: see what is there and why, send it back.

Only ids, types and death headers are shown: a message body may hold a patient's details.
"""

from dataclasses import dataclass
from typing import Any

import pika

from clinic_shared.messaging.connection import connect
from clinic_shared.messaging.topology import QUEUES, Topology


@dataclass(frozen=True)
class DeadLetter:
    message_id: str | None
    event_type: str | None
    reason: str | None
    deliveries: int | None
    from_queue: str | None


def _describe(properties: pika.BasicProperties) -> DeadLetter:
    headers: dict[str, Any] = properties.headers or {}
    deaths = headers.get("x-death") or [{}]
    first = deaths[0]
    return DeadLetter(
        message_id=properties.message_id,
        event_type=properties.type or headers.get("x-event-type"),
        reason=headers.get("x-first-death-reason") or first.get("reason"),
        deliveries=headers.get("x-delivery-count") or first.get("count"),
        from_queue=headers.get("x-first-death-queue") or first.get("queue"),
    )


def dead_letter_counts(amqp_url: str, topology: Topology) -> dict[str, int]:
    """How many messages wait in each consumer queue's dead-letter queue."""
    connection = connect(amqp_url, name="clinic-operator")
    try:
        channel = connection.channel()
        counts = {}
        for spec in QUEUES:
            dlq = topology.dead_letter_queue(topology.prefix + spec.base_name)
            counts[dlq] = channel.queue_declare(dlq, passive=True).method.message_count
        return counts
    finally:
        connection.close()


def inspect(amqp_url: str, dead_letter_queue: str, limit: int = 50) -> list[DeadLetter]:
    """Look without taking: every message read is returned to the queue."""
    connection = connect(amqp_url, name="clinic-operator")
    try:
        channel = connection.channel()
        seen = []
        for _ in range(limit):
            method, properties, _body = channel.basic_get(dead_letter_queue, auto_ack=False)
            if method is None:
                break
            seen.append(_describe(properties))
        channel.close()  # unacknowledged messages go back, in order
        return seen
    finally:
        connection.close()


def redrive(amqp_url: str, dead_letter_queue: str, limit: int = 1000) -> int:
    """Send dead-lettered messages back to the queue they died in; returns how many.

    Each is republished with publisher confirms straight to its original queue (not to the
    exchange, so other consumers do not get it again) and only then removed from here."""
    connection = connect(amqp_url, name="clinic-operator")
    moved = 0
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        for _ in range(limit):
            method, properties, body = channel.basic_get(dead_letter_queue, auto_ack=False)
            if method is None:
                break
            origin = _describe(properties).from_queue or dead_letter_queue.removesuffix(
                ".dead-letter")
            headers = {k: v for k, v in (properties.headers or {}).items()
                       if not k.startswith("x-death") and not k.startswith("x-first-death")
                       and not k.startswith("x-last-death") and k != "x-delivery-count"}
            channel.basic_publish("", origin, body, pika.BasicProperties(
                content_type=properties.content_type, delivery_mode=2,
                message_id=properties.message_id, type=properties.type,
                correlation_id=properties.correlation_id, app_id=properties.app_id,
                headers=headers), mandatory=True)
            channel.basic_ack(method.delivery_tag)
            moved += 1
        return moved
    finally:
        connection.close()

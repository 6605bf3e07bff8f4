"""Exchanges, queues and bindings: declared by every worker, exported as broker definitions.

Queue behaviour (delivery limit, dead-lettering, overflow) is the broker's policies, not queue
arguments: a worker declares a missing queue with its type alone and never redeclares an
existing one, so an operator changes a limit with a policy, without PRECONDITION_FAILED.
"""

from dataclasses import dataclass
from typing import Any

import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

EVENTS_EXCHANGE = "clinic.events"
DEAD_LETTER_EXCHANGE = "clinic.dead-letter"
DELIVERY_LIMIT = 5


@dataclass(frozen=True)
class QueueSpec:
    """One consumer's durable quorum queue: `<consumer>.<source>-events`."""

    consumer: str
    source: str
    bindings: tuple[str, ...]
    # bindings an older release made that must go from a live broker (removed on declare)
    retired: tuple[str, ...] = ()

    @property
    def base_name(self) -> str:
        return f"{self.consumer}.{self.source}-events"


QUEUES: tuple[QueueSpec, ...] = (
    QueueSpec("referral", "booking", ("booking.appointment.*", "booking.patient.*")),
    # notify hears what it acts on, and not appointment.requested (clinical text for triage)
    QueueSpec("notify", "booking", (
        "booking.contact.*", "booking.patient.*", "booking.appointment.booked",
        "booking.appointment.rescheduled", "booking.appointment.cancelled",
        "booking.appointment.sla_at_risk", "booking.appointment.sla_breached"),
        retired=("booking.appointment.*",)),
    QueueSpec("booking", "referral", ("referral.therapist.*", "referral.referral.*")),
    QueueSpec("booking", "notify", ("notify.contact.*",)),
    QueueSpec("referral", "notify", ("notify.contact.*", "notify.notification.*")),
    QueueSpec("notify", "referral", ("referral.referral.*",)),
    # notify's webhooks: its own inbox consumer, so an event notify also acts on is not taken
    # for a duplicate. Bound here to erasure alone; notify binds the event types subscriptions
    # ask for as they are made (notify/adapters/webhook_bindings.py). Never bound to
    # booking.appointment.requested (clinical text)
    QueueSpec("notify", "webhook", ("booking.patient.erased",)),
)


class Topology:
    """The broker names for one deployment; `prefix` isolates test runs sharing a broker."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix

    @property
    def exchange(self) -> str:
        return self.prefix + EVENTS_EXCHANGE

    @property
    def dead_letter_exchange(self) -> str:
        return self.prefix + DEAD_LETTER_EXCHANGE

    def queue(self, consumer: str, source: str) -> str:
        return self.prefix + f"{consumer}.{source}-events"

    def dead_letter_queue(self, queue: str) -> str:
        return f"{queue}.dead-letter"

    def queues_of(self, consumer: str) -> list[str]:
        return [self.prefix + q.base_name for q in QUEUES if q.consumer == consumer]

    def queue_arguments(self, queue: str) -> dict[str, Any]:
        """Only what a policy cannot set: the type."""
        return {"x-queue-type": "quorum"}

    def policy(self, queue: str) -> dict[str, Any]:
        """A consumed queue's behaviour: a poison message is dead-lettered after the delivery
        limit, at least once (the dead-letter queue confirms it before the source drops it,
        which needs `overflow: reject-publish`) to `<queue>.dead-letter`."""
        return {
            "delivery-limit": DELIVERY_LIMIT,
            "dead-letter-exchange": self.dead_letter_exchange,
            "dead-letter-routing-key": queue,
            "dead-letter-strategy": "at-least-once",
            "overflow": "reject-publish",
        }

    def policies(self, vhost: str = "/") -> list[dict[str, Any]]:
        """One policy per consumed queue, in RabbitMQ's definitions format."""
        return [{"vhost": vhost, "name": name, "pattern": "^" + name.replace(".", r"\.") + "$",
                 "apply-to": "queues", "priority": 10, "definition": self.policy(name)}
                for name in (self.prefix + spec.base_name for spec in QUEUES)]

    def declare(self, channel: BlockingChannel) -> None:
        """Declare everything (idempotent), so publishers never race consumers' first start."""
        channel.exchange_declare(self.exchange, exchange_type="topic", durable=True)
        channel.exchange_declare(self.dead_letter_exchange, exchange_type="direct", durable=True)
        for spec in QUEUES:
            name = self.prefix + spec.base_name
            dlq = self.dead_letter_queue(name)
            self._create_if_missing(channel, dlq)
            channel.queue_bind(dlq, self.dead_letter_exchange, routing_key=name)
            self._create_if_missing(channel, name)
            for key in spec.bindings:
                channel.queue_bind(name, self.exchange, routing_key=key)
            for key in spec.retired:
                channel.queue_unbind(name, self.exchange, routing_key=key)

    def _create_if_missing(self, channel: BlockingChannel, queue: str) -> None:
        """Declare `queue` only if it does not exist: an existing queue is never redeclared, so
        one an older release made with x-delivery-limit or x-dead-letter-* arguments is used as
        it is (redeclaring it without them would be PRECONDITION_FAILED)."""
        probe = channel.connection.channel()  # a failed passive declare closes its channel
        try:
            probe.queue_declare(queue, passive=True)
        except pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code != 404:
                raise
            channel.queue_declare(queue, durable=True, arguments=self.queue_arguments(queue))
        else:
            probe.close()

    def delete(self, channel: BlockingChannel) -> None:
        """Remove everything this topology declared (test clean-up)."""
        for spec in QUEUES:
            name = self.prefix + spec.base_name
            channel.queue_delete(name)
            channel.queue_delete(self.dead_letter_queue(name))
        channel.exchange_delete(self.exchange)
        channel.exchange_delete(self.dead_letter_exchange)

    def definitions(self, vhost: str = "/") -> dict[str, Any]:
        """The same topology in RabbitMQ's definitions format (deploy/rabbitmq/definitions.json)."""
        exchanges = [
            {"name": self.exchange, "vhost": vhost, "type": "topic", "durable": True,
             "auto_delete": False, "internal": False, "arguments": {}},
            {"name": self.dead_letter_exchange, "vhost": vhost, "type": "direct",
             "durable": True, "auto_delete": False, "internal": False, "arguments": {}},
        ]
        queues: list[dict[str, Any]] = []
        bindings: list[dict[str, Any]] = []
        for spec in QUEUES:
            name = self.prefix + spec.base_name
            dlq = self.dead_letter_queue(name)
            queues.append({"name": name, "vhost": vhost, "durable": True, "auto_delete": False,
                           "arguments": self.queue_arguments(name)})
            queues.append({"name": dlq, "vhost": vhost, "durable": True, "auto_delete": False,
                           "arguments": self.queue_arguments(dlq)})
            bindings.append({"source": self.dead_letter_exchange, "vhost": vhost,
                             "destination": dlq, "destination_type": "queue",
                             "routing_key": name, "arguments": {}})
            bindings.extend(
                {"source": self.exchange, "vhost": vhost, "destination": name,
                 "destination_type": "queue", "routing_key": key, "arguments": {}}
                for key in spec.bindings
            )
        return {"exchanges": exchanges, "queues": queues, "bindings": bindings,
                "policies": self.policies(vhost)}

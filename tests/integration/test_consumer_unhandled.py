"""Events a consumer has no handler for (named so by the relay's `type` property) are settled on
the connection's thread: acked and counted "ignored" when well formed, dead-lettered when not,
and handed to the handlers after all when the envelope inside names a handled type."""

import json
import threading
import uuid
from datetime import UTC, datetime

import pika
import pytest
from sqlalchemy import create_engine, func, select

from clinic_shared.db import make_session_factory
from clinic_shared.messaging.connection import AmqpConfig
from clinic_shared.messaging.consumer import EventConsumer, Subscription
from clinic_shared.messaging.contracts import NotificationSentV1
from clinic_shared.messaging.envelope import Envelope
from clinic_shared.metrics import CONSUMED
from referral.adapters.tables import inbox
from tests.integration.test_consumer import event_body
from tests.support.referral_handlers import NOTIFY_HANDLERS
from tests.support.waiting import wait_until


@pytest.fixture
def sessions(migrated_database):
    engine = create_engine(migrated_database("referral", "unhandled"))
    yield make_session_factory(engine)
    engine.dispose()


def sent_body() -> bytes:
    data = NotificationSentV1(notification_id=uuid.uuid4(), request_id=uuid.uuid4(),
                              kind="acknowledgement", channel="email", sent_at=datetime.now(UTC))
    return Envelope.wrap(data, source="notify").model_dump_json().encode()


def counted(queue: str, outcome: str) -> float:
    return CONSUMED.labels("test", queue, outcome)._value.get()


def test_unhandled_events_are_acked_counted_or_dead_lettered(sessions, infra, topology):
    queue = topology.queue("referral", "notify")
    handled: list[str] = []
    handlers = {**NOTIFY_HANDLERS,
                "appointment.requested": lambda _s, data, _e: handled.append(data.reference)}
    consumer = EventConsumer(
        service="test", subscription=Subscription("referral", queue, handlers),
        session_factory=sessions, inbox=inbox, amqp=AmqpConfig(infra.amqp_url),
        topology=topology, threads=2)
    ignored_before = counted(queue, "ignored")
    rejected_before = counted(queue, "rejected")

    connection = pika.BlockingConnection(pika.URLParameters(infra.amqp_url))
    channel = connection.channel()
    channel.confirm_delivery()

    def publish(body: bytes, type_: str) -> None:
        channel.basic_publish(topology.exchange, "notify.notification.sent", body,
                              pika.BasicProperties(type=type_))

    for _ in range(3):
        publish(sent_body(), "notification.sent")
    publish(json.dumps({"not": "an envelope"}).encode(), "notification.sent")
    publish(event_body(), "notification.sent")  # the property lies: the envelope is handled

    stop = threading.Event()
    worker = threading.Thread(target=consumer.run, args=(stop,))
    worker.start()
    try:
        wait_until(lambda: counted(queue, "ignored") - ignored_before == 3,
                   message="three acknowledged notification.sent")
        wait_until(lambda: counted(queue, "rejected") - rejected_before == 1,
                   message="the malformed one rejected")
        wait_until(lambda: handled == ["TST-0001"], message="the handled one handled")
        dead = wait_until(
            lambda: channel.basic_get(topology.dead_letter_queue(queue), auto_ack=True)[0],
            message="the malformed message in the dead-letter queue")
        assert dead is not None
    finally:
        stop.set()
        worker.join(timeout=30)
        connection.close()
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(inbox)) == 1

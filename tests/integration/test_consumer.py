"""The idempotent consumer against the real database and broker."""

import json
import threading
import uuid
from datetime import UTC, datetime

import pika
import pytest
from sqlalchemy import create_engine, func, select

from clinic_shared.db import make_session_factory
from clinic_shared.messaging.connection import AmqpConfig
from clinic_shared.messaging.consumer import EventConsumer, Outcome, Subscription
from clinic_shared.messaging.contracts import AppointmentRequestedV1
from clinic_shared.messaging.envelope import Envelope
from referral.adapters.tables import TriageEntry, inbox
from tests.support.referral_handlers import HANDLERS
from tests.support.waiting import wait_until


@pytest.fixture
def referral_sessions(migrated_database):
    url = migrated_database("referral", "consumer")
    engine = create_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


def consumer_for(sessions, infra, topology) -> EventConsumer:
    return EventConsumer(
        service="test",
        subscription=Subscription("referral", topology.queue("referral", "booking"), HANDLERS),
        session_factory=sessions, inbox=inbox, amqp=AmqpConfig(infra.amqp_url), topology=topology,
    )


def event_body() -> bytes:
    now = datetime.now(UTC)
    data = AppointmentRequestedV1(
        request_id=uuid.uuid4(), reference="TST-0001", name="Test", phone="+447400123456",
        contact_channel="sms", mode="clinic", reason="stiff back", requested_at=now,
        contact_by=now, appointment_by=now,
    )
    return Envelope.wrap(data, source="test").model_dump_json().encode()


def entries(sessions) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(TriageEntry))


def test_redelivered_event_changes_nothing(referral_sessions, infra, topology):
    consumer = consumer_for(referral_sessions, infra, topology)
    body = event_body()
    assert consumer.handle(body) is Outcome.processed
    assert consumer.handle(body) is Outcome.duplicate
    assert entries(referral_sessions) == 1


def test_same_event_at_once_on_many_threads_has_one_effect(referral_sessions, infra, topology):
    consumer = consumer_for(referral_sessions, infra, topology)
    body = event_body()
    outcomes: list[Outcome] = []
    threads = [threading.Thread(target=lambda: outcomes.append(consumer.handle(body)))
               for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == sorted([Outcome.processed] + [Outcome.duplicate] * 4)
    assert entries(referral_sessions) == 1


def test_malformed_message_is_dead_lettered_and_the_next_one_flows(
    referral_sessions, infra, topology
):
    queue = topology.queue("referral", "booking")
    connection = pika.BlockingConnection(pika.URLParameters(infra.amqp_url))
    channel = connection.channel()
    channel.confirm_delivery()
    channel.basic_publish(topology.exchange, "booking.appointment.requested",
                          json.dumps({"not": "an envelope"}).encode())
    channel.basic_publish(topology.exchange, "booking.appointment.requested", event_body())

    stop = threading.Event()
    worker = threading.Thread(target=consumer_for(referral_sessions, infra, topology).run,
                              args=(stop,))
    worker.start()
    try:
        wait_until(lambda: entries(referral_sessions) == 1, message="the good message")
        dead = wait_until(
            lambda: (channel.basic_get(topology.dead_letter_queue(queue), auto_ack=True)[0]
            and True) or None, message="the bad message in the dead-letter queue")
        assert dead
    finally:
        stop.set()
        worker.join(timeout=10)
        connection.close()

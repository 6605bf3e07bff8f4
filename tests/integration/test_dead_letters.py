"""A message whose handler always fails is dead-lettered within the delivery limit, the ones
behind it keep flowing, and an operator can inspect it and send it back once fixed."""

import threading
import uuid
from datetime import UTC, datetime

import pika
import pytest
from sqlalchemy import create_engine, func, select

from clinic_shared.db import make_session_factory
from clinic_shared.messaging.connection import AmqpConfig
from clinic_shared.messaging.consumer import EventConsumer, Subscription
from clinic_shared.messaging.contracts import AppointmentRequestedV1
from clinic_shared.messaging.dead_letters import dead_letter_counts, inspect, redrive
from clinic_shared.messaging.envelope import Envelope
from referral.adapters.tables import TriageEntry, inbox
from tests.support.referral_handlers import HANDLERS
from tests.support.waiting import wait_until

POISON = "POI-SON1"


@pytest.fixture
def sessions(migrated_database):
    url = migrated_database("referral", "dead")
    engine = create_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


def body(reference: str) -> bytes:
    now = datetime.now(UTC)
    data = AppointmentRequestedV1(
        request_id=uuid.uuid4(), reference=reference, name="Test", email="t@example.org",
        contact_channel="email", mode="virtual", reason="stiff", requested_at=now,
        contact_by=now, appointment_by=now)
    return Envelope.wrap(data, source="test").model_dump_json().encode()


def references(sessions) -> set[str]:
    with sessions() as session:
        return set(session.scalars(select(TriageEntry.reference)))


def run_consumer(sessions, infra, topology, handlers):
    consumer = EventConsumer(
        service="test", subscription=Subscription(
            "referral", topology.queue("referral", "booking"), handlers),
        session_factory=sessions, inbox=inbox, amqp=AmqpConfig(infra.amqp_url),
        topology=topology, prefetch=4, threads=2)
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,))
    thread.start()
    return stop, thread


def test_poison_is_dead_lettered_inspected_and_redriven(sessions, infra, topology):
    broken = dict(HANDLERS)
    real = HANDLERS[AppointmentRequestedV1.event_type]

    def fails_on_poison(session, data, envelope):
        if data.reference == POISON:
            raise RuntimeError("handler bug")
        real(session, data, envelope)

    broken[AppointmentRequestedV1.event_type] = fails_on_poison
    connection = pika.BlockingConnection(pika.URLParameters(infra.amqp_url))
    channel = connection.channel()
    channel.confirm_delivery()
    for reference in (POISON, "GOO-D001", "GOO-D002"):
        channel.basic_publish(topology.exchange, "booking.appointment.requested",
                              body(reference), pika.BasicProperties(
                                  message_id=reference, type="appointment.requested"))
    connection.close()

    stop, thread = run_consumer(sessions, infra, topology, broken)
    try:
        wait_until(lambda: references(sessions) == {"GOO-D001", "GOO-D002"},
                   message="the messages behind the poison")
        dlq = topology.dead_letter_queue(topology.queue("referral", "booking"))
        wait_until(lambda: dead_letter_counts(infra.amqp_url, topology)[dlq] == 1,
                   timeout=30, message="the poison message in the dead-letter queue")
    finally:
        stop.set()
        thread.join(timeout=30)

    [letter] = inspect(infra.amqp_url, dlq)
    assert letter.message_id == POISON
    assert letter.reason == "delivery_limit"
    assert letter.from_queue == topology.queue("referral", "booking")
    assert inspect(infra.amqp_url, dlq), "inspecting must leave the message in place"

    assert redrive(infra.amqp_url, dlq) == 1
    stop, thread = run_consumer(sessions, infra, topology, HANDLERS)  # the fixed handler
    try:
        wait_until(lambda: POISON in references(sessions), message="the re-driven message")
    finally:
        stop.set()
        thread.join(timeout=30)
    assert dead_letter_counts(infra.amqp_url, topology)[dlq] == 0
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(TriageEntry)) == 3

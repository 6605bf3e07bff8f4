"""The outbox relay against the real database and broker."""

import threading
import time
import uuid
from datetime import UTC, datetime
from typing import ClassVar

import pika
import pytest
from sqlalchemy import Engine, create_engine, select

from booking.adapters.tables import outbox
from clinic_shared.db import make_session_factory
from clinic_shared.messaging.connection import AmqpConfig
from clinic_shared.messaging.contracts import AppointmentRequestedV1
from clinic_shared.messaging.envelope import EventData
from clinic_shared.messaging.outbox import add_event
from clinic_shared.messaging.relay import OutboxRelay
from clinic_shared.messaging.topology import Topology


class NobodyListensV1(EventData):
    """An event whose routing key no queue is bound to."""

    event_type: ClassVar[str] = "test.unheard"
    version: ClassVar[int] = 1
    routing_key: ClassVar[str] = "nobody.listens.here"

    n: int


def requested(n: int) -> AppointmentRequestedV1:
    now = datetime.now(UTC)
    return AppointmentRequestedV1(
        request_id=uuid.uuid4(), reference=f"TST-{n:04d}", name="Test", email="t@example.org",
        contact_channel="email", mode="virtual", reason="test", requested_at=now,
        contact_by=now, appointment_by=now,
    )


@pytest.fixture
def booking_db(migrated_database) -> Engine:
    url = migrated_database("booking", "relay")
    engine = create_engine(url)
    yield engine
    engine.dispose()


def stage(engine: Engine, events: list[EventData]) -> None:
    with make_session_factory(engine).begin() as session:
        for event in events:
            add_event(session, outbox, event, source="test")


def relay_for(engine: Engine, infra, topology: Topology, poll: float = 0.2) -> OutboxRelay:
    return OutboxRelay(service="test", engine=engine, outbox=outbox,
                       amqp=AmqpConfig(infra.amqp_url), topology=topology, batch_size=50,
                       poll_interval=poll)


def drain(infra, queue: str, expected: int, timeout: float = 30) -> list[str]:
    """Message ids from `queue` until `expected` have arrived and the queue stays empty."""
    connection = pika.BlockingConnection(pika.URLParameters(infra.amqp_url))
    channel = connection.channel()
    ids: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        method, properties, _ = channel.basic_get(queue, auto_ack=True)
        if method is None:
            if len(ids) >= expected:
                break
            time.sleep(0.05)
            continue
        ids.append(properties.message_id)
    connection.close()
    return ids


def unsent(engine: Engine) -> list:
    with engine.connect() as conn:
        return conn.execute(select(outbox).where(outbox.c.sent_at.is_(None))).all()


def test_two_relays_publish_every_row_exactly_once(booking_db, infra, topology):
    stage(booking_db, [requested(n) for n in range(300)])
    stop = threading.Event()
    relays = [threading.Thread(target=relay_for(booking_db, infra, topology).run, args=(stop,))
              for _ in range(2)]
    for relay in relays:
        relay.start()
    try:
        ids = drain(infra, topology.queue("referral", "booking"), expected=300)
    finally:
        stop.set()
        for relay in relays:
            relay.join(timeout=10)
    assert len(ids) == 300
    assert len(set(ids)) == 300, "a row was published twice"
    assert unsent(booking_db) == []


def test_relay_wakes_on_commit_without_waiting_for_its_poll(booking_db, infra, topology):
    stop = threading.Event()
    relay = threading.Thread(
        target=relay_for(booking_db, infra, topology, poll=60).run, args=(stop,))
    relay.start()
    try:
        time.sleep(0.5)  # let it go idle, listening
        stage(booking_db, [requested(1)])
        ids = drain(infra, topology.queue("referral", "booking"), expected=1, timeout=5)
    finally:
        stop.set()
        relay.join(timeout=10)
    assert len(ids) == 1, "the relay only polls every 60 s here: it must have been woken"


def assert_left_unsent_for_later(engine: Engine) -> None:
    """The one unroutable row stays unsent, says why, and waits before its next attempt."""
    [row] = unsent(engine)
    assert row.routing_key == "nobody.listens.here"
    assert row.last_error == "unroutable"
    assert row.attempts == 1
    assert row.available_at > datetime.now(UTC)


def test_unroutable_event_stays_unsent_and_is_retried_later(booking_db, infra, topology):
    stage(booking_db, [NobodyListensV1(n=1), requested(2)])
    relay = relay_for(booking_db, infra, topology)
    connection = pika.BlockingConnection(pika.URLParameters(infra.amqp_url))
    channel = connection.channel()
    channel.confirm_delivery()
    try:
        assert relay.publish_batch(channel) == 1
    finally:
        connection.close()
    assert_left_unsent_for_later(booking_db)

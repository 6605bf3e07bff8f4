"""Fault 7: a missing binding makes publishes unroutable: mandatory returns keep rows unsent."""

import pika
import pika.exceptions
import pytest
from sqlalchemy import text

from clinic_shared.messaging.topology import QUEUES
from tests.faults.conftest import account, new_load, now
from tests.support.waiting import wait_until

pytestmark = pytest.mark.faults

KEY = "booking.appointment.*"


def _bindings(stack, bind: bool) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(stack.infra.amqp_url))
    channel = connection.channel()
    try:
        for spec in QUEUES:
            if KEY in spec.bindings:
                queue = stack.topology.prefix + spec.base_name
                if bind:
                    channel.queue_bind(queue, stack.topology.exchange, routing_key=KEY)
                else:
                    channel.queue_unbind(queue, stack.topology.exchange, routing_key=KEY)
    finally:
        connection.close()


def test_unroutable_requests_stay_in_the_outbox_until_the_binding_returns(stack, accountant):
    _bindings(stack, bind=False)
    try:
        load = new_load(stack).start().join()

        def refused() -> tuple[int, int]:
            with stack.engines["booking"].connect() as conn:
                return tuple(conn.execute(text(
                    "SELECT count(*) FILTER (WHERE last_error = 'unroutable' AND attempts > 0), "
                    "count(*) FILTER (WHERE sent_at IS NOT NULL) FROM outbox_messages "
                    "WHERE event_type = 'appointment.requested' "
                    "AND payload->'data'->>'request_id' = ANY(:ids)"), {"ids": load.ids}).one())

        wait_until(lambda: refused()[0] == load.count, timeout=30,
                   message="every request's publish to come back unroutable")
        assert refused()[1] == 0, "an unroutable publish was marked sent"
        with stack.engines["referral"].connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM triage_entries WHERE request_id = "
                                     "ANY(CAST(:ids AS uuid[]))"), {"ids": load.ids}
                                ).scalar_one() == 0
    finally:
        _bindings(stack, bind=True)
    ended = now()
    account("7 unroutable publish (binding removed)", accountant, stack, load, ended,
            note="all 200 returned unroutable, kept unsent, then sent")


def test_a_returned_message_body_is_never_logged(infra, topology, caplog):
    """pika logs returned bodies itself; the relay's filter keeps patients' words out."""
    import clinic_shared.relay  # noqa: F401  (installs the filter)

    connection = pika.BlockingConnection(pika.URLParameters(infra.amqp_url))
    channel = connection.channel()
    channel.confirm_delivery()
    try:
        with caplog.at_level("DEBUG"), pytest.raises(pika.exceptions.UnroutableError):
            channel.basic_publish(topology.exchange, "nobody.listens.here",
                                  b'{"reason": "Sore knee on stairs"}', mandatory=True)
    finally:
        connection.close()
    assert "Sore knee" not in caplog.text

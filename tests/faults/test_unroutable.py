"""Fault 7: a missing binding makes publishes unroutable: mandatory returns keep rows unsent."""

import pika
import pika.exceptions
import pytest

from clinic_shared.messaging.topology import QUEUES
from tests.faults.conftest import account, new_load, now, read
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


@pytest.mark.slow  # the relay's retry backoff (2, 4, 8 s ...) sets its pace
def test_unroutable_requests_stay_in_the_outbox_until_the_binding_returns(stack, accountant):
    _bindings(stack, bind=False)
    try:
        load = new_load(stack).start().join()

        def refused() -> tuple[int, int] | None:
            """(rows refused as unroutable, rows marked sent) of this test's requests."""
            rows = read(stack, "booking",
                        "SELECT count(*) FILTER (WHERE last_error = 'unroutable' AND attempts > 0),"
                        " count(*) FILTER (WHERE sent_at IS NOT NULL) FROM outbox_messages "
                        "WHERE event_type = 'appointment.requested' "
                        "AND payload->'data'->>'request_id' = ANY(:ids)", ids=load.ids)
            return None if rows is None else tuple(rows[0])

        counts = wait_until(lambda: (c := refused()) is not None and c[0] == load.count and c,
                            timeout=30, message="every request's publish to come back unroutable")
        assert counts[1] == 0, "an unroutable publish was marked sent"
        triaged = wait_until(lambda: read(stack, "referral", "SELECT count(*) FROM triage_entries "
                                          "WHERE request_id = ANY(CAST(:ids AS uuid[]))",
                                          ids=load.ids), message="a count of triage entries")
        assert triaged[0][0] == 0
    finally:
        _bindings(stack, bind=True)
    ended = now()
    account("7 unroutable publish (binding removed)", accountant, stack, load, ended,
            note="all 200 returned unroutable, kept unsent, then sent")


def test_a_returned_message_body_is_never_logged(infra, topology, caplog):
    """pika logs returned bodies itself; the relay's filter keeps patients' words out."""
    import clinic_shared.messaging.relay  # noqa: F401  (installs the filter)

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

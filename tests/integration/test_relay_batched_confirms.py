"""The relay's batched publisher confirms: a whole batch out at once, each row settled alone."""


import pika

from clinic_shared.messaging.relay import ConfirmedPublisher
from tests.integration.test_outbox_relay import (
    NobodyListensV1,
    assert_left_unsent_for_later,
    booking_db,  # noqa: F401 (fixture)
    drain,
    relay_for,
    requested,
    stage,
)


def test_a_batch_is_confirmed_together_and_an_unroutable_row_alone_stays_unsent(
        booking_db, infra, topology):  # noqa: F811
    stage(booking_db, [requested(1), NobodyListensV1(n=1), *[requested(n) for n in range(2, 40)]])
    relay = relay_for(booking_db, infra, topology)
    connection = pika.BlockingConnection(pika.URLParameters(infra.amqp_url))
    try:
        publisher = ConfirmedPublisher(connection, connection.channel())
        assert relay.publish_batch(publisher) == 39
        # the channel stays usable for the next batch: nothing due now, nothing published
        assert relay.publish_batch(publisher) == 0
    finally:
        connection.close()
    assert_left_unsent_for_later(booking_db)
    ids = drain(infra, topology.queue("referral", "booking"), expected=39, timeout=10)
    assert len(ids) == len(set(ids)) == 39

"""A broker an older release declared: starting a worker removes notify's retired binding, so
the clinical `appointment.requested` reaches referral alone and `contact.requested` notify."""

import pika

from clinic_shared.messaging.topology import Topology


def test_a_redeclared_broker_routes_appointment_requested_to_referral_alone(infra, topology):
    connection = pika.BlockingConnection(pika.URLParameters(infra.amqp_url))
    channel = connection.channel()
    channel.confirm_delivery()
    notify = topology.queue("notify", "booking")
    referral = topology.queue("referral", "booking")
    try:
        # what the previous release bound, then a worker of this one starts
        channel.queue_bind(notify, topology.exchange, routing_key="booking.appointment.*")
        Topology(topology.prefix).declare(channel)
        for key in ("booking.appointment.requested", "booking.contact.requested"):
            channel.basic_publish(topology.exchange, key, b"{}",
                                  pika.BasicProperties(message_id=key), mandatory=True)

        def ids(queue: str) -> list[str]:
            found = []
            while (got := channel.basic_get(queue, auto_ack=True))[0] is not None:
                found.append(got[1].message_id)
            return found

        assert ids(notify) == ["booking.contact.requested"]
        assert ids(referral) == ["booking.appointment.requested"]
    finally:
        connection.close()

"""Fault 5 (tested in depth in integration/test_dead_letters.py), here for its figures: a
poison message among 200 requests is dead-lettered and the requests behind it flow."""

import json
import uuid

import pika
import pytest

from clinic_shared.messaging.dead_letters import inspect
from tests.faults.conftest import account, new_load, now

pytestmark = pytest.mark.faults


def test_poison_message_is_dead_lettered_while_the_requests_behind_it_flow(stack, accountant):
    load = new_load(stack).start()
    load.wait_accepted(20)
    poison = str(uuid.uuid4())
    connection = pika.BlockingConnection(pika.URLParameters(stack.infra.amqp_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        # a request's two events (referral's, notify's), each failing validation
        for kind in ("appointment.requested", "contact.requested"):
            body = {"id": poison, "type": kind, "version": 1, "source": "booking",
                    "data": {"request_id": "not-a-uuid"}}
            channel.basic_publish(stack.topology.exchange, f"booking.{kind}",
                                  json.dumps(body).encode(),
                                  pika.BasicProperties(message_id=poison, delivery_mode=2,
                                                       type=kind),
                                  mandatory=True)
    finally:
        connection.close()
    ended = now()
    load.join()
    account("5 poison message among the requests", accountant, stack, load, ended,
            note="dead-lettered from the queues that hear them (referral's, notify's; notify's "
                 "webhooks' hears nothing without a subscription), x-death reason rejected",
            dead_letters_expected=2)
    for consumer in ("referral", "notify"):
        queue = stack.topology.dead_letter_queue(stack.topology.queue(consumer, "booking"))
        letters = [d for d in inspect(stack.infra.amqp_url, queue) if d.message_id == poison]
        assert [d.reason for d in letters] == ["rejected"], letters

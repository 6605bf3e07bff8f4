"""Queue behaviour is the broker's policies: a worker starts on queues an operator created
(definitions import, the Messaging Topology Operator) without PRECONDITION_FAILED, and an
operator changes the delivery limit by policy alone, with the workers running."""

import json
import uuid

import pika
import pytest

from clinic_shared.messaging.topology import DELIVERY_LIMIT, Topology
from tests.support.broker_policies import _run, apply_policies, clear_policies
from tests.support.waiting import wait_until


@pytest.fixture
def operator_made(infra, run_id):
    """A topology created as definitions.json creates it: queues with their type alone, and
    the policies; no worker has declared anything yet."""
    topology = Topology(f"{run_id}.op{uuid.uuid4().hex[:6]}.")
    apply_policies(topology)
    connection = pika.BlockingConnection(pika.URLParameters(infra.amqp_url))
    channel = connection.channel()
    definitions = topology.definitions()
    for exchange in definitions["exchanges"]:
        channel.exchange_declare(exchange["name"], exchange["type"], durable=True)
    for queue in definitions["queues"]:
        channel.queue_declare(queue["name"], durable=True, arguments=queue["arguments"])
    for binding in definitions["bindings"]:
        channel.queue_bind(binding["destination"], binding["source"], binding["routing_key"])
    yield topology, channel
    topology.delete(connection.channel())
    connection.close()
    clear_policies(topology)


def deliveries_until_dead_lettered(channel, topology: Topology, queue: str) -> int:
    """Publish one message and reject it back onto the queue until the broker dead-letters it;
    how many times it was delivered."""
    channel.basic_publish(topology.exchange, "booking.appointment.requested", b"{}",
                          pika.BasicProperties(message_id="poison", delivery_mode=2))
    dead_letters = topology.dead_letter_queue(queue)
    deliveries = 0

    def dead_lettered() -> bool:
        nonlocal deliveries
        method, _, _ = channel.basic_get(queue)
        if method is not None:
            deliveries += 1
            channel.basic_nack(method.delivery_tag, requeue=True)
            return False
        return channel.queue_declare(dead_letters, passive=True).method.message_count == 1

    wait_until(dead_lettered, timeout=15, message="the message to be dead-lettered")
    return deliveries


def test_a_worker_starts_on_queues_the_operator_made_and_a_policy_changes_the_limit(
        operator_made):
    topology, channel = operator_made
    Topology(topology.prefix).declare(channel)  # a worker starting: no PRECONDITION_FAILED
    queue = topology.queue("referral", "booking")
    assert deliveries_until_dead_lettered(channel, topology, queue) == DELIVERY_LIMIT + 1

    changed = [{**policy, "definition": {**policy["definition"], "delivery-limit": 2}}
               for policy in topology.policies()]
    _run("import_definitions", stdin=json.dumps({"policies": changed}))
    Topology(topology.prefix).declare(channel)  # a worker restarting after the change
    channel.queue_purge(topology.dead_letter_queue(queue))
    assert deliveries_until_dead_lettered(channel, topology, queue) == 3


def test_a_queue_an_older_release_declared_with_arguments_is_used_as_it_is(infra, topology):
    connection = pika.BlockingConnection(pika.URLParameters(infra.amqp_url))
    channel = connection.channel()
    queue = topology.queue("notify", "referral")
    channel.queue_delete(queue)
    channel.queue_declare(queue, durable=True, arguments={
        "x-queue-type": "quorum", "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": topology.dead_letter_exchange,
        "x-dead-letter-routing-key": queue})
    Topology(topology.prefix).declare(channel)
    channel.basic_publish(topology.exchange, "referral.referral.assigned", b"{}")
    wait_until(lambda: channel.queue_declare(queue, passive=True).method.message_count == 1,
               timeout=10, message="the message routed to the old queue")
    connection.close()

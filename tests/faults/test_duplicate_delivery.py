"""Fault 6: the same event delivered five times across two consumers at once."""

import threading

import pika
import pytest

from tests.faults.conftest import account, new_load, now, read
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.faults, pytest.mark.slow]

COPIES = 4  # on top of the relay's own publish: five deliveries of each event


def test_five_deliveries_across_two_consumers_apply_once(stack, accountant):
    def seen(outcome: str) -> float:
        return stack.worker_counter("referral", "consumer_messages_total", outcome=outcome)

    before = seen("duplicate"), seen("processed")
    stack.spawn("referral-worker-2", "referral", "worker", WORKER_METRICS_PORT="0")
    stack.spawn("notify-worker-2", "notify", "worker", WORKER_METRICS_PORT="0")
    [(start,)] = wait_until(lambda: read(stack, "booking", "SELECT coalesce(max(id), 0) "
                                         "FROM outbox_messages"), message="the outbox's end")
    load = new_load(stack).start()
    copied: set[str] = set()
    done = threading.Event()

    def republish() -> None:
        """Publish each request's events again, COPIES times, as soon as they are in the outbox."""
        connection = pika.BlockingConnection(pika.URLParameters(stack.infra.amqp_url))
        channel = connection.channel()
        channel.confirm_delivery()
        try:
            while not done.is_set() or len(copied) < 2 * load.count:  # two events a request
                rows = read(stack, "booking",
                            "SELECT event_id, routing_key, payload::text, headers FROM "
                            "outbox_messages WHERE event_type IN ('appointment.requested', "
                            "'contact.requested') "
                            "AND id > :start", start=start) or []
                fresh = [r for r in rows if str(r.event_id) not in copied]
                for row in fresh:
                    for _ in range(COPIES):
                        channel.basic_publish(
                            stack.topology.exchange, row.routing_key, row[2].encode(),
                            pika.BasicProperties(content_type="application/json",
                                                 delivery_mode=2, message_id=str(row.event_id),
                                                 headers=row.headers), mandatory=True)
                    copied.add(str(row.event_id))
                if not fresh:
                    done.wait(0.1)
        finally:
            connection.close()

    publisher = threading.Thread(target=republish, daemon=True)
    publisher.start()
    load.join()
    done.set()
    publisher.join(timeout=60)
    assert len(copied) >= 2 * load.count
    ended = now()
    try:
        account("6 five deliveries, two consumers each", accountant, stack, load, ended,
                note=lambda: f"{COPIES * len(copied)} extra copies; referral's first worker "
                f"applied {seen('processed') - before[1]:.0f} and dropped "
                f"{seen('duplicate') - before[0]:.0f}, its twin the rest")
    finally:
        for name in ("referral-worker-2", "notify-worker-2"):
            process = stack.process(name)
            process.terminate()
            process.wait(timeout=40)
            stack.processes.remove((name, process))

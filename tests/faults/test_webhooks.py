"""Fault 11: a webhook receiver answering 500 at first, and notify's worker SIGKILLed once
between a receiver's 2xx and recording it.

The receiver verifies every request with the Standard Webhooks library and drops copies by
`webhook-id`; afterwards it must hold every event of the 200 requests (their
`contact.requested` and the acknowledgement's `notification.sent`) exactly once, each request's
in the order they happened. The receiver answers 500 for its first two minutes, as the issue
asks (retries capped at 5 s instead of 3 hours, so every delivery is tried again within
seconds of its recovery); WEBHOOK_FAULT_FAIL_SECONDS shortens it for a quick local run.
"""

import os
from collections import defaultdict
from dataclasses import replace

import httpx
import pytest

from clinic_shared.faults import WEBHOOK_AFTER_SEND
from tests.faults.conftest import ROWS, account, new_load, now, read
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import WebhookReceiver

# the stack's start (when this row runs first) and a worker's restart take minutes on a busy
# machine, besides the receiver's failing start
pytestmark = [pytest.mark.faults, pytest.mark.timeout(900)]

# the issue's "first two minutes"; the row then takes about three minutes in all
ISSUE_FAIL_SECONDS = 120
FAIL_SECONDS = float(os.environ.get("WEBHOOK_FAULT_FAIL_SECONDS", str(ISSUE_FAIL_SECONDS)))
KILLED_AT = 150  # the receiver's 150th 2xx: well after its failing start
EVENT_TYPES = ["contact.requested", "notification.sent"]


def _subscribe(stack, receiver: WebhookReceiver) -> str:
    response = httpx.post(stack.url("notify", "/api/webhooks/subscriptions"),
                          headers=stack.auth("admin"), json={
                              "name": "fault suite", "url": receiver.url,
                              "event_types": EVENT_TYPES, "scope": "basic"})
    assert response.status_code == 201, response.text
    receiver.secret = response.json()["secret"]
    return response.json()["id"]


def _pending(stack, subscription_id: str) -> int:
    rows = read(stack, "notify", "SELECT count(*) FROM webhook_deliveries "
                "WHERE subscription_id = :id AND status <> 'delivered'", id=subscription_id)
    return -1 if rows is None else rows[0][0]


def _by_request(receiver: WebhookReceiver) -> dict[str, list[str]]:
    """Each request's event types, in the order the receiver accepted them."""
    seen: dict[str, list[str]] = defaultdict(list)
    for payload in receiver.events():
        if payload["type"] == "notification.sent" and \
                payload["data"]["kind"] != "request_acknowledgement":
            continue
        seen[payload["data"]["request_id"]].append(payload["type"])
    return seen


def test_webhook_receiver_failing_then_worker_killed_gets_every_event_once(stack, accountant):
    receiver = WebhookReceiver(fail_seconds=FAIL_SECONDS).start()
    subscription_id = _subscribe(stack, receiver)
    try:
        stack.restart("notify-worker", FAULT_POINTS=f"{WEBHOOK_AFTER_SEND}={KILLED_AT}")
        load = new_load(stack).start()
        assert stack.wait_exit("notify-worker", timeout=FAIL_SECONDS + 240) == -9
        stack.respawn("notify-worker")
        ended = now()
        stack.wait_worker("notify")
        load.join()
        ids = [sent.request_id for sent in load.submitted]
        wait_until(lambda: all(len(_by_request(receiver)[i]) >= 2 for i in ids)
                   and _pending(stack, subscription_id) == 0, timeout=180, interval=0.5,
                   message=f"every request's webhooks ({receiver.summary()})")
        received = _by_request(receiver)
        missing = [i for i in ids if len(received[i]) < 2]
        twice = [i for i in ids if len(received[i]) > 2]
        out_of_order = [i for i in ids if received[i][:2] != EVENT_TYPES]
        account("11 webhook receiver 500s, notify SIGKILL", accountant, stack, load,
                ended, note=(f"webhooks: {2 * len(ids) - len(missing) - len(twice)} events of "
                             f"{2 * len(ids)} once each "
                             f"after {receiver.copies} copies dropped by webhook-id, "
                             f"{receiver.answers[500]} answers 500 in its first "
                             f"{FAIL_SECONDS:.0f} s, {len(out_of_order)} out of order, "
                             f"{receiver.bad_signatures} bad signatures, "
                             f"{receiver.incomplete} cut off by the kill"))
        # the table's lost and dup columns count the webhooks too
        ROWS[-1] = replace(ROWS[-1], lost=ROWS[-1].lost + len(missing),
                           duplicated=ROWS[-1].duplicated + len(twice))
        assert missing == [] and twice == [], (missing[:3], twice[:3])
        assert out_of_order == [], [received[i] for i in out_of_order[:3]]
        assert receiver.bad_signatures == 0, receiver.why_bad[:3]
        assert receiver.answers[500] > 0, "the receiver should have failed at first"
        assert receiver.copies > 0, "the kill after a 2xx should have sent one again"
    finally:
        httpx.delete(stack.url("notify", f"/api/webhooks/subscriptions/{subscription_id}"),
                     headers=stack.auth("admin"))
        receiver.stop()

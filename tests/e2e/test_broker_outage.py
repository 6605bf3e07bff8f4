"""With RabbitMQ gone, requests are still taken; when it returns, every one is delivered."""

import uuid

import httpx
from sqlalchemy import text

from tests.support.stack import Stack
from tests.support.waiting import wait_until

REQUESTS = 5


def test_requests_wait_in_outbox_while_broker_is_down_and_flow_after(
    proxied_stack: Stack,
) -> None:
    stack = proxied_stack
    assert stack.proxy is not None
    url = stack.url("booking", "/api/appointment-requests")
    assert httpx.get(stack.url("booking", "/readyz"), timeout=10).status_code == 200

    stack.proxy.block()

    def broker_state() -> str:
        readiness = httpx.get(stack.url("booking", "/readyz"), timeout=10)
        assert readiness.status_code == 200, "the outbox rides the outage: the API stays ready"
        return readiness.json()["checks"]["broker"]

    wait_until(lambda: broker_state() == "down", timeout=30, message="the outage on /readyz")

    emails = [f"outage.{uuid.uuid4().hex[:8]}@example.org" for _ in range(REQUESTS)]
    ids = []
    for email in emails:
        response = httpx.post(url, json={
            "name": "Ada Sample", "email": email, "contact_channel": "email",
            "mode": "virtual", "reason": "Sore knee on stairs", "consent": True,
        }, timeout=10)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])

    with stack.engines["booking"].connect() as conn:
        unsent = conn.execute(text(
            "SELECT count(*) FROM outbox_messages WHERE sent_at IS NULL "
            "AND event_type = 'appointment.requested'")).scalar_one()
    assert unsent == REQUESTS

    stack.proxy.unblock()
    wait_until(lambda: broker_state() == "ok", timeout=30, message="booking to see the broker")

    def triaged() -> int:
        with stack.engines["referral"].connect() as conn:
            return conn.execute(text(
                "SELECT count(*) FROM triage_entries WHERE request_id = ANY(:ids)"),
                {"ids": ids}).scalar_one()

    wait_until(lambda: triaged() == REQUESTS, timeout=60, message="all triage entries")
    wait_until(lambda: all(stack.smtp.to(e) for e in emails), timeout=60,
               message="every acknowledgement e-mail")
    assert all(len(stack.smtp.to(e)) == 1 for e in emails)
    with stack.engines["booking"].connect() as conn:
        assert conn.execute(text(
            "SELECT count(*) FROM outbox_messages WHERE sent_at IS NULL")).scalar_one() == 0

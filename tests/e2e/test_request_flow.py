"""A patient's request goes in at booking and comes out as a triage entry and an e-mail."""

import re
import uuid
from datetime import datetime, timedelta

import httpx
import pika
from sqlalchemy import text

from clinic_shared.contact_hours import DEFAULT_FILE, load_contact_hours
from tests.e2e.helpers import REASON, request_body
from tests.support.stack import Stack
from tests.support.waiting import wait_until


def triage_entries(stack: Stack, request_id: str) -> list[dict[str, object]]:
    with stack.engines["referral"].connect() as conn:
        rows = conn.execute(
            text("SELECT * FROM triage_entries WHERE request_id = :id"), {"id": request_id}
        ).mappings().all()
    return [dict(row) for row in rows]


def count_rows(stack: Stack, service: str, table: str) -> int:
    with stack.engines[service].connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_request_becomes_triage_entry_and_acknowledgement_email(stack: Stack) -> None:
    body = request_body()
    response = httpx.post(stack.url("booking", "/api/appointment-requests"), json=body,
                          headers={"X-Correlation-ID": "corr-flow-0001"})

    assert response.status_code == 201, response.text
    created = response.json()
    assert re.fullmatch(r"[A-Z2-9]{3}-[A-Z2-9]{4}", created["reference"])
    assert created["phone"] == "+447400123456"
    requested = datetime.fromisoformat(created["created_at"])
    hours = load_contact_hours(DEFAULT_FILE)  # the hour counts Moorgate's open time only
    assert datetime.fromisoformat(created["contact_by"]) == hours.plan(
        hours.key_for("clinic", "moorgate"), requested, timedelta(hours=1)).contact_by
    assert datetime.fromisoformat(created["appointment_by"]) - requested == timedelta(hours=24)
    assert response.headers["X-Correlation-ID"] == "corr-flow-0001"

    entries = wait_until(lambda: triage_entries(stack, created["id"]),
                         message="the triage entry in referral")
    assert len(entries) == 1
    entry = entries[0]
    assert entry["reference"] == created["reference"]
    assert entry["reason"] == REASON
    assert entry["phone"] == "+447400123456"
    assert entry["status"] == "new"

    mails = wait_until(lambda: stack.smtp.to(body["email"]), message="the acknowledgement e-mail")
    assert len(mails) == 1
    mail = mails[0]
    assert created["reference"] in mail.message["Subject"]
    assert created["reference"] in mail.text
    assert "within 24 hours" in mail.text
    # the private link's random token may spell anything: look at the words, not the links
    words = re.sub(r"https?://\S+", " ", mail.text + " " + mail.html)
    for clinical in ("fusion", "L5", "hamstring", "hip", "cramp"):
        assert clinical not in words, clinical

    def logged_with_correlation_id(service: str) -> bool:
        log = (stack.logs / f"{service}-worker.log").read_text()
        return any('"corr-flow-0001"' in line and "consumer.processed" in line
                   for line in log.splitlines())

    for service in ("referral", "notify"):
        wait_until(lambda s=service: logged_with_correlation_id(s),
                   message=f"{service}'s log line carrying the request's correlation id")
    for path in stack.logs.glob("*.log"):
        logged = path.read_text()
        for personal in (body["email"], "Bert Example", "7400123456", "7400 123456", REASON):
            assert personal not in logged, f"{personal!r} logged in {path.name}"


def test_invalid_request_names_each_bad_field_and_stores_nothing(stack: Stack) -> None:
    before = count_rows(stack, "booking", "appointment_requests")
    outbox_before = count_rows(stack, "booking", "outbox_messages")
    response = httpx.post(
        stack.url("booking", "/api/appointment-requests"),
        json=request_body(phone="07700 900123", email="bert@", mode="boat", consent=False),
    )

    assert response.status_code == 422
    errors = {e["field"]: e["msg"] for e in response.json()["detail"]}
    assert set(errors) == {"phone", "email", "mode", "consent"}
    assert "phone number" in errors["phone"]
    assert "consent" in errors["consent"]
    assert count_rows(stack, "booking", "appointment_requests") == before
    assert count_rows(stack, "booking", "outbox_messages") == outbox_before


def test_channel_without_its_address_is_refused(stack: Stack) -> None:
    response = httpx.post(
        stack.url("booking", "/api/appointment-requests"),
        json=request_body(email=None, contact_channel="email"),
    )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["field"] == "contact_channel"
    assert "e-mail" in error["msg"]


def test_resubmitted_form_with_same_idempotency_key_is_one_request(stack: Stack) -> None:
    body = request_body()
    key = f"form-{uuid.uuid4()}"
    url = stack.url("booking", "/api/appointment-requests")
    first = httpx.post(url, json=body, headers={"Idempotency-Key": key})
    second = httpx.post(url, json=body, headers={"Idempotency-Key": key})

    assert first.status_code == 201 and second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    wait_until(lambda: stack.smtp.to(body["email"]), message="the acknowledgement e-mail")
    # referral may commit after notify has sent: wait for the entry, then count it
    wait_until(lambda: triage_entries(stack, first.json()["id"]), message="the triage entry")
    assert len(triage_entries(stack, first.json()["id"])) == 1
    assert len(stack.smtp.to(body["email"])) == 1


def test_same_event_delivered_twice_has_one_effect(stack: Stack) -> None:
    body = request_body()
    created = httpx.post(stack.url("booking", "/api/appointment-requests"), json=body).json()
    wait_until(lambda: triage_entries(stack, created["id"]), message="the triage entry")
    wait_until(lambda: stack.smtp.to(body["email"]), message="the acknowledgement e-mail")
    with stack.engines["booking"].connect() as conn:
        # appointment.requested (referral's) and contact.requested (notify's)
        events = conn.execute(text(
            "SELECT event_id, routing_key, payload::text AS payload, headers "
            "FROM outbox_messages WHERE payload->'data'->>'request_id' = :id"
        ), {"id": created["id"]}).mappings().all()
    assert len(events) == 2
    duplicates_before = {
        s: stack.worker_counter(s, "consumer_messages_total", outcome="duplicate")
        for s in ("referral", "notify")
    }

    connection = pika.BlockingConnection(pika.URLParameters(stack.infra.amqp_url))
    channel = connection.channel()
    channel.confirm_delivery()
    for event in [*events, *events]:
        channel.basic_publish(
            stack.topology.exchange, event["routing_key"], event["payload"].encode(),
            pika.BasicProperties(message_id=str(event["event_id"]), headers=event["headers"],
                                 delivery_mode=2, content_type="application/json"),
            mandatory=True,
        )
    connection.close()

    for service in ("referral", "notify"):
        wait_until(
            lambda s=service: stack.worker_counter(
                s, "consumer_messages_total", outcome="duplicate") >= duplicates_before[s] + 2,
            message=f"{service} to see both copies as duplicates",
        )
    assert len(triage_entries(stack, created["id"])) == 1
    assert len(stack.smtp.to(body["email"])) == 1

"""What travels between the services: no credential in any event, and no clinical text to notify.

A spy queue bound to every routing key of the stack's exchange sees each event published while
a patient goes through a whole request (form → acknowledgement → assignment → offers → booking
through their link → confirmation); then every table of notify, and every service's outbox,
are searched for the patient's link and for what they wrote.
"""

import uuid
from collections.abc import Iterator

import httpx
import pika
import pytest
from sqlalchemy import Engine, text

from clinic_shared.messaging.topology import QUEUES
from notify.adapters.webhook_bindings import EVERY_KEY
from tests.e2e.helpers import manage_link, submit, triage_entry_id
from tests.e2e.test_assignment_offers import (
    ensure_moorgate_rota,
    seeded_therapist,
    wait_for_booking_to_know,
)
from tests.support.stack import Stack
from tests.support.waiting import wait_until

SYMPTOM = "Quadrangulitis"  # made-up clinical words: nothing else in the stack holds them
SURGERY = "Zephyrectomy"


@pytest.fixture
def spy(stack: Stack) -> Iterator[tuple[pika.adapters.blocking_connection.BlockingChannel, str]]:
    """A queue of this test's own that every event published on the stack's exchange reaches."""
    connection = pika.BlockingConnection(pika.URLParameters(stack.infra.amqp_url))
    channel = connection.channel()
    queue = f"{stack.name}.spy-{uuid.uuid4().hex[:8]}"
    channel.queue_declare(queue, exclusive=True)
    channel.queue_bind(queue, stack.topology.exchange, routing_key="#")
    try:
        yield channel, queue
    finally:
        connection.close()


def published(channel: pika.adapters.blocking_connection.BlockingChannel,
              queue: str) -> list[tuple[str, str]]:
    """(routing key, body) of every event the spy has caught so far."""
    caught = []
    while True:
        method, _, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return caught
        caught.append((method.routing_key, body.decode("utf-8")))


def reaches_notify(routing_key: str) -> bool:
    def matches(pattern: str) -> bool:
        p, k = pattern.split("."), routing_key.split(".")
        return len(p) == len(k) and all(a in ("*", b) for a, b in zip(p, k, strict=True))

    # the webhook queue may be bound to any type a subscription can ask for
    bound = [b for q in QUEUES if q.consumer == "notify" for b in q.bindings]
    return any(matches(b) for b in (*bound, *EVERY_KEY))


def text_in_tables(engine: Engine, needle: str, tables: str = "%") -> list[str]:
    """`table.column` of every text or JSON value (in the tables named like `tables`) that
    holds `needle`, case-insensitively."""
    found = []
    with engine.connect() as conn:
        columns = conn.execute(text(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name LIKE :tables AND data_type IN "
            "('text', 'character varying', 'json', 'jsonb', 'ARRAY')"), {"tables": tables}).all()
        for table, column in columns:
            hit = conn.execute(text(
                f'SELECT 1 FROM "{table}" WHERE CAST("{column}" AS text) ILIKE :n LIMIT 1'),
                {"n": f"%{needle}%"}).first()
            if hit is not None:
                found.append(f"{table}.{column}")
    return found


def test_no_event_of_a_whole_request_carries_the_link_and_notify_gets_no_clinical_text(
        stack: Stack, spy: tuple[pika.adapters.blocking_connection.BlockingChannel, str],
) -> None:
    channel, queue = spy
    priya = seeded_therapist(stack, "Priya Shah")
    wait_for_booking_to_know(stack, priya, "Priya Shah")
    ensure_moorgate_rota(stack, priya)

    body, created = submit(
        stack, mode="clinic", site="moorgate", contact_time="evening",
        reason=f"{SYMPTOM} in my left knee since the spring, stiff on stairs",
        after_surgery=True, surgery=f"{SURGERY} of the knee", surgery_date="2025-03-01",
        body_areas=["knee"])
    token = manage_link(stack, str(body["email"]))
    entry_id = triage_entry_id(stack, created["id"])
    desk = stack.auth("receptionist", subject="reception")
    assigned = httpx.post(stack.url("referral", f"/api/triage-entries/{entry_id}/referrals"),
                          json={"discipline": "manual_therapy", "therapist_id": priya},
                          headers=desk)
    assert assigned.status_code == 201, assigned.text
    offers = wait_until(lambda: httpx.get(stack.url(
        "booking", f"/api/my-request/{token}")).json()["offers"], timeout=30,
        message="the offers at the patient's link")
    taken = httpx.post(stack.url(
        "booking", f"/api/my-request/{token}/offers/{offers[0]['id']}/book"))
    assert taken.status_code == 201, taken.text
    wait_until(lambda: [m for m in stack.smtp.to(str(body["email"]))
                        if "booked" in str(m.message["Subject"])],
               timeout=30, message="the booking's confirmation e-mail")

    caught = published(channel, queue)
    secrets = {"the patient's link": token, "the link key": stack.link_key,
               "the secret key": stack.secret_key, "the staff password": stack.staff_password}
    for key, event in caught:
        assert "my-request" not in event and "manage_url" not in event, key
        for what, secret in secrets.items():
            assert secret not in event, f"{what} in {key}"
        if reaches_notify(key) and created["id"] in event:
            for clinical in (SYMPTOM, SURGERY, "2025-03-01", "knee"):
                assert clinical.lower() not in event.lower(), f"{clinical!r} to notify: {key}"
    kinds = {key for key, _ in caught}  # the whole flow was seen
    assert {"booking.appointment.requested", "booking.contact.requested",
            "referral.referral.assigned", "booking.appointment.offered",
            "booking.appointment.booked"} <= kinds, kinds
    for service in ("booking", "referral", "notify"):
        assert text_in_tables(stack.engines[service], token, "outbox%") == [], service
    assert text_in_tables(stack.engines["notify"], token) == []
    for clinical in (SYMPTOM, SURGERY, "2025-03-01"):
        assert text_in_tables(stack.engines["notify"], clinical) == [], clinical


def test_a_phone_patient_gets_their_private_link_by_email_and_the_clock_keeps_running(
        stack: Stack) -> None:
    body, created = submit(stack, contact_channel="phone", mode="virtual")
    token = manage_link(stack, str(body["email"]))
    mine = httpx.get(stack.url("booking", f"/api/my-request/{token}"))
    assert mine.status_code == 200 and mine.json()["reference"] == created["reference"]
    [mail] = stack.smtp.to(str(body["email"]))
    assert str(mail.message["Subject"]).startswith("We have your request")
    assert "by phone" in mail.text

    desk = stack.auth("receptionist", subject="reception")
    clock = httpx.get(stack.url("notify", f"/api/contact-clocks/{created['id']}"), headers=desk)
    assert clock.status_code == 200, clock.text
    assert clock.json()["contacted_at"] is None, "the e-mail is not the call the patient asked for"
    tasks = httpx.get(stack.url("notify", "/api/callbacks"), headers=desk).json()
    assert created["reference"] in [task["reference"] for task in tasks]

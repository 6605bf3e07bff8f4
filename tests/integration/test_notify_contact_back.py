"""Call-back tasks for patients who chose "phone", and the 1-hour contact-back clock."""

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from clinic_shared.auth.principal import Principal, Role
from clinic_shared.auth.tokens import TokenIssuer
from clinic_shared.db import make_engine, make_session_factory
from clinic_shared.messaging.contracts import AppointmentRequestedV1
from clinic_shared.messaging.envelope import Envelope
from notify.adapters.tables import CallbackTask, ContactClock, Notification, audit, outbox
from notify.api.app import create_app
from notify.bootstrap import bootstrap
from notify.domain.contact_clock import ContactClockLoop
from notify.handlers import on_appointment_requested
from notify.settings import NotifySettings
from tests.support.contact_hours import write_hours


@pytest.fixture
def database_url(migrated_database):
    url = migrated_database("notify", "notify_contact")
    return url


@pytest.fixture
def sessions(database_url):
    engine = make_engine(database_url, pool_size=6)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def settings(database_url, auth_keys, infra, tmp_path):
    """The hour runs 24/7 here (opening hours: test_notify_contact_hours.py)."""
    return NotifySettings(_env_file=None, database_url=database_url, amqp_url=infra.amqp_url,
                          auth_public_key=auth_keys[1], contact_at_risk_minutes=15,
                          reception_email="desk@clinic.test", clinic_lead_email="lead@clinic.test",
                          contact_hours_file=write_hours(tmp_path, "always"))


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings)) as made:
        yield made


def token(auth_keys, role: Role) -> dict[str, str]:
    issued = TokenIssuer(auth_keys[0], "clinic", "clinic-staff").issue(
        Principal(subject=f"test-{role.value}", role=role))
    return {"Authorization": f"Bearer {issued}"}


def add_request(sessions, settings: NotifySettings | None = None, channel: str = "phone",
                contact_in: timedelta = timedelta(hours=1),
                urgent: bool = False) -> AppointmentRequestedV1:
    now = datetime.now(UTC)
    data = AppointmentRequestedV1(
        request_id=uuid.uuid4(), reference=f"R{uuid.uuid4().hex[:7].upper()}",
        name="Bert Example", phone="+447400123456", email="bert@example.org",
        contact_channel=channel, mode="clinic", reason="Sore knee", urgent=urgent,
        requested_at=now, contact_by=now + contact_in, appointment_by=now + timedelta(hours=24))
    with sessions.begin() as session:
        on_appointment_requested(session, data, Envelope.wrap(data, "booking"),
                                 bootstrap(settings or NotifySettings()))
    return data


def events(sessions) -> list[str]:
    """What the clock and the desk announced (each request's clock_started aside)."""
    with sessions() as session:
        return list(session.scalars(
            select(outbox.c.event_type).where(outbox.c.event_type != "contact.clock_started")
            .order_by(outbox.c.id)).all())


def clock_started_payloads(sessions) -> list[dict]:
    with sessions() as session:
        return list(session.scalars(select(outbox.c.payload).where(
            outbox.c.event_type == "contact.clock_started")).all())


def test_a_deadline_moved_by_opening_hours_is_announced_to_booking_and_referral(
        sessions, settings, tmp_path):
    closed_weekends = settings.model_copy(
        update={"contact_hours_file": write_hours(tmp_path, "opening_hours")})
    saturday_noon = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    data = AppointmentRequestedV1(
        request_id=uuid.uuid4(), reference="RSAT0001", name="Bert Example",
        email="bert@example.org", contact_channel="email", mode="virtual", reason="Sore knee",
        requested_at=saturday_noon, contact_by=saturday_noon + timedelta(hours=1),
        appointment_by=saturday_noon + timedelta(hours=24))
    with sessions.begin() as session:
        on_appointment_requested(session, data, Envelope.wrap(data, "booking"),
                                 bootstrap(closed_weekends))
    [payload] = clock_started_payloads(sessions)
    monday_ten = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # GMT: opens 09:00, + 1 hour
    assert payload["data"]["request_id"] == str(data.request_id)
    assert datetime.fromisoformat(payload["data"]["contact_by"]) == monday_ten
    assert payload["data"]["clock_mode"] == "opening_hours"
    with sessions() as session:
        assert session.get_one(ContactClock, data.request_id).contact_by == monday_ten


def test_a_deadline_the_clinics_hours_leave_alone_is_not_announced(sessions, settings):
    add_request(sessions, settings, "email")  # the 24/7 mode: booking's hour stands
    assert clock_started_payloads(sessions) == []


def test_reception_logs_a_personal_email_to_a_patient_who_chose_email(sessions, settings,
                                                                      client, auth_keys):
    request = add_request(sessions, settings, "email")
    desk = token(auth_keys, Role.receptionist)
    clock = client.get(f"/api/contact-clocks/{request.request_id}", headers=desk)
    assert clock.status_code == 200 and clock.json()["contacted_at"] is None
    logged = client.post(f"/api/contact-clocks/{request.request_id}/contacts", headers=desk,
                         json={"channel": "email", "outcome": "message_sent"})
    assert logged.status_code == 200, logged.text
    assert logged.json()["contacted_at"] is not None
    assert logged.json()["contact_outcome"] == "message_sent"
    assert events(sessions) == ["contact.made"]
    # a stopped clock neither warns nor breaches
    later = datetime.now(UTC) + timedelta(hours=2)
    assert ContactClockLoop(settings, sessions).check_once(later) == 0
    assert events(sessions) == ["contact.made"]
    assert client.post(f"/api/contact-clocks/{uuid.uuid4()}/contacts", headers=desk, json={
        "channel": "email", "outcome": "message_sent"}).status_code == 404
    refused = client.post(f"/api/contact-clocks/{request.request_id}/contacts", headers=desk,
                          json={"channel": "pigeon", "outcome": "message_sent"})
    assert refused.status_code == 422 and "channel" in refused.text
    therapist = token(auth_keys, Role.therapist)
    assert client.get(f"/api/contact-clocks/{request.request_id}",
                      headers=therapist).status_code == 403


def test_phone_request_makes_a_callback_task_and_its_link_goes_by_email(sessions, settings):
    add_request(sessions, settings, "phone")
    with sessions() as session:
        assert [(n.kind, n.channel, n.recipient) for n in session.scalars(
            select(Notification).where(Notification.kind != "new_request_alert"))] == [
            ("request_acknowledgement", "email", "bert@example.org")]
        [task] = session.scalars(select(CallbackTask)).all()
        assert task.status == "open" and task.phone == "+447400123456"
        assert session.scalars(select(ContactClock)).one().contacted_at is None


def test_callbacks_listed_by_deadline_for_reception_only(sessions, settings, client,
                                                       auth_keys):
    late = add_request(sessions, settings, contact_in=timedelta(minutes=50))
    early = add_request(sessions, settings, contact_in=timedelta(minutes=10))
    add_request(sessions, settings, channel="email")
    assert client.get("/api/callbacks").status_code == 401
    assert client.get("/api/callbacks", headers=token(auth_keys, Role.therapist)
                      ).status_code == 403
    answer = client.get("/api/callbacks", headers=token(auth_keys, Role.receptionist))
    assert answer.status_code == 200
    assert [t["reference"] for t in answer.json()] == [early.reference, late.reference]
    with sessions() as session:
        assert session.scalars(select(audit.c.action)).all() == ["list"]


def test_logging_a_call_stops_the_clock_and_stages_contact_made(sessions, settings, client,
                                                               auth_keys):
    data = add_request(sessions, settings)
    desk = token(auth_keys, Role.receptionist)
    [task] = client.get("/api/callbacks", headers=desk).json()

    no_answer = client.post(f"/api/callbacks/{task['id']}/log", headers=desk,
                            json={"outcome": "no_answer", "next_attempt_at": (
                                datetime.now(UTC) + timedelta(minutes=30)).isoformat()})
    assert no_answer.status_code == 200 and no_answer.json()["status"] == "open"
    reached = client.post(f"/api/callbacks/{task['id']}/log", headers=desk,
                          json={"outcome": "reached", "note": "booked Tuesday"})
    assert reached.status_code == 200 and reached.json()["status"] == "done"
    assert reached.json()["calls"] == 2
    assert client.get("/api/callbacks", headers=desk).json() == []
    assert events(sessions) == ["contact.made", "contact.made"]
    with sessions() as session:
        clock = session.get(ContactClock, data.request_id)
        assert clock.contacted_at is not None
    assert client.post(f"/api/callbacks/{uuid.uuid4()}/log", headers=desk,
                       json={"outcome": "reached"}).status_code == 404
    assert client.post(f"/api/callbacks/{task['id']}/log", headers=desk,
                       json={"outcome": "emailed"}).status_code == 422

    # a contacted request raises no alarm, even past its deadline
    later = datetime.now(UTC) + timedelta(hours=2)
    assert ContactClockLoop(NotifySettings(_env_file=None), sessions).check_once(later) == 0


def test_acknowledgement_does_not_stop_the_clock(sessions, settings):
    add_request(sessions, settings, channel="email", contact_in=timedelta(minutes=5))
    assert ContactClockLoop(settings, sessions).check_once() == 1
    assert events(sessions) == ["contact.sla_at_risk"]


def test_at_risk_then_breached_once_each_with_escalation_emails(sessions, settings):
    data = add_request(sessions, settings, contact_in=timedelta(minutes=10), urgent=True)
    add_request(sessions, settings, contact_in=timedelta(minutes=40))  # not yet at risk
    clock = ContactClockLoop(settings, sessions)
    assert clock.check_once() == 1
    assert clock.check_once() == 0
    after = datetime.now(UTC) + timedelta(minutes=11)
    assert clock.check_once(after) == 1
    assert clock.check_once(after) == 0
    assert events(sessions) == ["contact.sla_at_risk", "contact.sla_breached"]
    with sessions() as session:
        alerts = sorted((n.kind, n.recipient) for n in session.scalars(
            select(Notification).where(Notification.request_id == data.request_id,
                                       Notification.kind != "new_request_alert")))
    assert alerts == [("contact_sla_at_risk", "desk@clinic.test"),
                      ("contact_sla_breached", "desk@clinic.test"),
                      ("contact_sla_breached", "lead@clinic.test"),
                      ("request_acknowledgement", "bert@example.org")]  # their link


def test_two_clock_workers_raise_each_alarm_once(sessions, settings):
    for _ in range(30):
        add_request(sessions, settings, contact_in=timedelta(minutes=-1))
    barrier = threading.Barrier(2)
    counts: list[int] = []

    def work() -> None:
        loop = ContactClockLoop(settings, sessions)
        barrier.wait()
        counts.append(sum(iter(lambda: loop.check_once(), 0)))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(counts) == 30
    assert events(sessions) == ["contact.sla_breached"] * 30

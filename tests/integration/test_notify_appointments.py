"""notify: reception alerts, urgent acknowledgements, appointment confirmations with .ics,
reminders, booking-SLA escalation and channel fallback, against a real SMTP server, the fake
Twilio gateway and PostgreSQL."""

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from icalendar import Calendar
from sqlalchemy import select

from clinic_shared.db import make_engine, make_session_factory
from clinic_shared.messaging.contracts import (
    AppointmentBookedV1,
    AppointmentCancelledV1,
    AppointmentRequestedV1,
    AppointmentRescheduledV1,
    AppointmentSlaAtRiskV1,
    AppointmentSlaBreachedV1,
    PatientErasedV1,
)
from clinic_shared.messaging.envelope import Envelope
from notify.adapters.tables import (
    Appointment,
    CallbackTask,
    DeliveryAttempt,
    Notification,
    RequestContact,
    outbox,
)
from notify.bootstrap import bootstrap
from notify.domain.dispatcher import EmailDispatcher, SmsDispatcher
from notify.domain.messages import MessageRenderer
from notify.domain.reminders import ReminderLoop
from notify.handlers import handlers
from notify.settings import NotifySettings
from tests.support.ports import free_port
from tests.support.sms_gateway import FakeTwilio

RECEPTION = "desk@clinic.test"
LEAD = "lead@clinic.test"
MOBILE = "+447400123456"


@pytest.fixture
def sessions(migrated_database):
    url = migrated_database("notify", "notify_appts")
    engine = make_engine(url, pool_size=6)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def gateway():
    server = FakeTwilio().start()
    yield server
    server.stop()


class _Bouncer:
    """Refuses (550) any recipient whose address starts with "bounce"."""

    async def handle_RCPT(self, _server, session, envelope, address, rcpt_options):
        if address.startswith("bounce"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def settings(smtp_server, gateway):
    return NotifySettings(
        _env_file=None, smtp_host="127.0.0.1", smtp_port=smtp_server.port, smtp_starttls=False,
        reception_email=RECEPTION, clinic_lead_email=LEAD, clinic_name="Moorgate Physio",
        clinic_email="hello@clinic.test", sms_base_url=gateway.base_url,
        sms_account_sid=gateway.account_sid, sms_auth_token=gateway.auth_token,
        sms_from="+447700900000", reminder_hours=24)


def handle(sessions, settings, data) -> Envelope:
    envelope = Envelope.wrap(data, "booking")
    with sessions.begin() as session:
        handlers(bootstrap(settings))["booking"][data.event_type](session, data, envelope)
    return envelope


def request(sessions, settings, *, channel="email", email=None, phone=MOBILE, urgent=False,
            red_flags=()) -> AppointmentRequestedV1:
    now = datetime.now(UTC)
    email = email or f"pat-{uuid.uuid4().hex[:8]}@example.org"
    data = AppointmentRequestedV1(
        request_id=uuid.uuid4(), reference=f"R{uuid.uuid4().hex[:7].upper()}",
        name="Bert Example", phone=phone, email=email, contact_channel=channel, mode="clinic",
        site="Moorgate", reason="Stiff after an L5/S1 fusion", urgent=urgent,
        red_flags=red_flags, requested_at=now, contact_by=now + timedelta(hours=1),
        appointment_by=now + timedelta(hours=24), manage_url="https://clinic.test/r/abc")
    handle(sessions, settings, data)
    return data


def details(req: AppointmentRequestedV1, starts_in=timedelta(hours=30), **extra):
    starts = datetime.now(UTC).replace(microsecond=0) + starts_in
    return {"appointment_id": uuid.uuid4(), "request_id": req.request_id,
            "reference": req.reference, "therapist_id": uuid.uuid4(),
            "therapist_name": "Dana Smith", "mode": "clinic", "site": "Moorgate",
            "place": "Moorgate Clinic, 1 Moorgate, London", "appointment_type": "assessment",
            "starts_at": starts, "ends_at": starts + timedelta(minutes=45), **extra}


def send_all(sessions, settings) -> None:
    EmailDispatcher(settings, sessions).dispatch_batch()
    SmsDispatcher(settings, sessions).dispatch_batch()


def rows(sessions, **where) -> list[Notification]:
    with sessions() as session:
        query = select(Notification).order_by(Notification.created_at)
        for key, value in where.items():
            query = query.where(getattr(Notification, key) == value)
        return list(session.scalars(query).all())


def calendars(mail) -> list[Calendar]:
    return [Calendar.from_ical(part.get_content())
            for part in mail.message.iter_attachments()
            if part.get_content_type() == "text/calendar"]


# 1. reception alerts and urgent acknowledgements

def test_new_request_alerts_reception_without_symptoms(sessions, settings, smtp_server):
    req = request(sessions, settings)
    before = len(smtp_server.to(RECEPTION))
    send_all(sessions, settings)

    [alert] = [m for m in smtp_server.to(RECEPTION)[before:] if req.reference in m.text]
    assert "email" in alert.text and "clinic" in alert.text and "URGENT" not in alert.text
    assert "fusion" not in alert.text.lower() and "L5" not in alert.html
    assert "Bert" not in alert.text and req.email not in alert.text
    assert rows(sessions, kind="new_request_alert", recipient=LEAD) == []
    [ack] = smtp_server.to(req.email)
    assert "111" not in ack.text


def test_only_what_the_patient_was_sent_is_announced(sessions, settings, smtp_server):
    req = request(sessions, settings)
    send_all(sessions, settings)

    [ack] = rows(sessions, request_id=req.request_id, kind="request_acknowledgement")
    [alert] = rows(sessions, request_id=req.request_id, kind="new_request_alert")
    assert ack.status == "sent" and alert.status == "sent" and alert.sent_at is not None
    with sessions() as session:
        announced = {e.payload["data"]["notification_id"]
                     for e in session.execute(select(outbox)).all()
                     if e.event_type == "notification.sent"}
    assert str(ack.id) in announced
    assert str(alert.id) not in announced  # a staff alert is notify's own business


def test_urgent_request_alerts_lead_and_tells_patient_to_seek_urgent_care(
        sessions, settings, smtp_server, gateway):
    email_req = request(sessions, settings, urgent=True, red_flags=("bladder_bowel",))
    sms_req = request(sessions, settings, channel="sms", urgent=True,
                      phone="+447400222333")
    phone_req = request(sessions, settings, channel="phone", red_flags=("night_pain",))
    send_all(sessions, settings)

    for req in (email_req, sms_req, phone_req):
        [lead] = [m for m in smtp_server.to(LEAD) if req.reference in m.text]
        assert lead.message["Subject"].startswith("URGENT")
        assert "bladder" not in lead.text.lower() and "night" not in lead.text.lower()
    [ack] = smtp_server.to(email_req.email)
    assert "NHS 111" in ack.text and "999" in ack.text
    assert "bladder_bowel" not in ack.text and "fusion" not in ack.text.lower()
    [sms] = [s for s in gateway.sent if s.to == "+447400222333"]
    assert "111" in sms.body and "999" in sms.body
    with sessions() as session:
        task = session.scalars(select(CallbackTask)
                               .where(CallbackTask.request_id == phone_req.request_id)).one()
        assert task.urgent


# 2. appointment confirmations

def test_booked_email_carries_ics_request_and_sms_is_short(sessions, settings, smtp_server,
                                                           gateway):
    email_req = request(sessions, settings)
    sms_req = request(sessions, settings, channel="sms", phone="+447400333444")
    booked = AppointmentBookedV1(**details(email_req), booked_by="staff")
    handle(sessions, settings, booked)
    handle(sessions, settings, AppointmentBookedV1(**details(sms_req), booked_by="patient"))
    send_all(sessions, settings)

    [mail] = [m for m in smtp_server.to(email_req.email) if "booked" in m.message["Subject"]]
    assert "Dana Smith" in mail.text and "Moorgate Clinic" in mail.text
    [cal] = calendars(mail)
    assert cal["METHOD"] == "REQUEST"
    [event] = cal.walk("VEVENT")
    assert str(event["UID"]) == f"{booked.appointment_id}@booking.clinic"
    assert event.decoded("DTSTART") == booked.starts_at
    assert "assessment" not in mail.text.lower() and "fusion" not in mail.text.lower()
    [sms] = [s for s in gateway.sent if s.to == "+447400333444" and "booked" in s.body]
    assert len(sms.body) <= 320 and sms_req.reference in sms.body


def test_rescheduled_and_cancelled_emails(sessions, settings, smtp_server):
    req = request(sessions, settings)
    first = details(req)
    handle(sessions, settings, AppointmentBookedV1(**first, booked_by="staff"))
    moved = AppointmentRescheduledV1(
        **details(req, starts_in=timedelta(hours=50)),
        previous_appointment_id=first["appointment_id"], previous_starts_at=first["starts_at"],
        rescheduled_by="patient")
    handle(sessions, settings, moved)
    handle(sessions, settings, AppointmentCancelledV1(
        **{**details(req), "appointment_id": moved.appointment_id,
           "starts_at": moved.starts_at, "ends_at": moved.ends_at}, cancelled_by="patient"))
    send_all(sessions, settings)

    mails = {m.message["Subject"].split(" (")[0]: m for m in smtp_server.to(req.email)}
    methods = [(c["METHOD"], str(c.walk("VEVENT")[0]["UID"]))
               for c in calendars(mails["Your appointment has moved"])]
    assert methods == [("REQUEST", f"{moved.appointment_id}@booking.clinic"),
                       ("CANCEL", f"{first['appointment_id']}@booking.clinic")]
    [cancel] = calendars(mails["Your appointment is cancelled"])
    assert cancel["METHOD"] == "CANCEL"
    assert str(cancel.walk("VEVENT")[0]["UID"]) == f"{moved.appointment_id}@booking.clinic"
    with sessions() as session:
        statuses = {a.appointment_id: (a.status, a.remind_at)
                    for a in session.scalars(select(Appointment))}
    assert statuses[first["appointment_id"]] == ("cancelled", None)
    assert statuses[moved.appointment_id] == ("cancelled", None)


@pytest.mark.parametrize(("email", "phone", "expected"), [
    ("given", MOBILE, ("email", "given")),
    (None, MOBILE, ("sms", MOBILE)),
    (None, "+442079460000", None),
])
def test_phone_patients_get_email_else_sms_if_mobile_else_nothing(sessions, settings, email,
                                                                  phone, expected):
    address = f"pat-{uuid.uuid4().hex[:8]}@example.org"
    req = request(sessions, settings, channel="phone", phone=phone,
                  email=address if email else None)
    with sessions.begin() as session:  # the form may leave e-mail empty for phone patients
        session.get(RequestContact, req.request_id).email = address if email else None
    handle(sessions, settings, AppointmentBookedV1(**details(req), booked_by="staff"))
    got = [(n.channel, n.recipient) for n in rows(sessions, kind="appointment_booked")]
    if expected is None:
        assert got == []
    else:
        assert got == [(expected[0], address if expected[1] == "given" else expected[1])]


# 3. reminders

def test_reminder_sent_once_moved_by_reschedule_dropped_by_cancel(sessions, settings,
                                                                  smtp_server):
    req = request(sessions, settings)
    first = details(req, starts_in=timedelta(hours=30))
    handle(sessions, settings, AppointmentBookedV1(**first, booked_by="staff"))
    with sessions() as session:
        row = session.get(Appointment, first["appointment_id"])
        assert row.remind_at == first["starts_at"] - timedelta(hours=24)

    loop = ReminderLoop(settings, sessions)
    assert loop.check_once(now=datetime.now(UTC)) == 0  # not due yet
    moved = AppointmentRescheduledV1(
        **details(req, starts_in=timedelta(hours=40)),
        previous_appointment_id=first["appointment_id"], previous_starts_at=first["starts_at"],
        rescheduled_by="staff")
    handle(sessions, settings, moved)
    at = first["starts_at"] - timedelta(hours=23)  # the old reminder would be due now
    assert loop.check_once(now=at) == 0
    later = moved.starts_at - timedelta(hours=23)
    barrier = threading.Barrier(2)
    counts: list[int] = []

    def work() -> None:
        barrier.wait()
        counts.append(ReminderLoop(settings, sessions).check_once(now=later))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(counts) == [0, 1]
    assert loop.check_once(now=later + timedelta(minutes=5)) == 0
    [reminder] = rows(sessions, kind="appointment_reminder")
    assert reminder.context["appointment_id"] == str(moved.appointment_id)
    send_all(sessions, settings)
    [mail] = [m for m in smtp_server.to(req.email) if "Reminder" in m.message["Subject"]]
    assert "Dana Smith" in mail.text

    other = details(req, starts_in=timedelta(hours=30))
    handle(sessions, settings, AppointmentBookedV1(**other, booked_by="staff"))
    handle(sessions, settings, AppointmentCancelledV1(**other, cancelled_by="staff"))
    assert loop.check_once(now=other["starts_at"] - timedelta(hours=1)) == 0


def test_no_reminder_when_booked_inside_the_window(sessions, settings):
    req = request(sessions, settings)
    soon = details(req, starts_in=timedelta(hours=3))
    handle(sessions, settings, AppointmentBookedV1(**soon, booked_by="staff"))
    with sessions() as session:
        assert session.get(Appointment, soon["appointment_id"]).remind_at is None


# 4. booking SLA escalation

def test_booking_sla_at_risk_and_breached_escalate(sessions, settings, smtp_server):
    req = request(sessions, settings, urgent=True)
    fields = {"request_id": req.request_id, "reference": req.reference,
              "appointment_by": req.appointment_by, "urgent": True}
    handle(sessions, settings, AppointmentSlaAtRiskV1(**fields))
    handle(sessions, settings, AppointmentSlaBreachedV1(**fields))
    send_all(sessions, settings)

    at_risk = rows(sessions, kind="appointment_sla_at_risk")
    breached = rows(sessions, kind="appointment_sla_breached")
    assert [n.recipient for n in at_risk] == [RECEPTION]
    assert sorted(n.recipient for n in breached) == sorted([RECEPTION, LEAD])
    assert all(n.status == "sent" for n in at_risk + breached)
    [mail] = [m for m in smtp_server.to(LEAD)
              if req.reference in m.text and "Booking BREACHED" in m.message["Subject"]]
    assert "URGENT" in mail.text and "fusion" not in mail.text.lower()


# 5. fallback

@pytest.fixture
def bouncing_settings(settings):
    port = free_port()
    controller = Controller(_Bouncer(), hostname="127.0.0.1", port=port)
    controller.start()
    yield settings.model_copy(update={"smtp_port": port})
    controller.stop()


def test_bounced_email_falls_back_to_sms_and_alerts_reception(sessions, bouncing_settings,
                                                              gateway):
    req = request(sessions, bouncing_settings, email="bounce-me@example.org",
                  phone="+447400555666")
    EmailDispatcher(bouncing_settings, sessions).dispatch_batch()
    SmsDispatcher(bouncing_settings, sessions).dispatch_batch()

    [failed] = rows(sessions, kind="request_acknowledgement", channel="email")
    [fallback] = rows(sessions, kind="request_acknowledgement", channel="sms")
    assert failed.status == "failed" and fallback.status == "sent"
    assert fallback.event_id == failed.event_id and fallback.recipient == "+447400555666"
    [sms] = [s for s in gateway.sent if s.to == "+447400555666"]
    assert req.reference in sms.body
    [alert] = rows(sessions, kind="delivery_fallback_alert")
    assert alert.recipient == RECEPTION and alert.context["fallback_channel"] == "sms"
    assert "+447400555666" not in str(alert.context) and "bounce" not in str(alert.context)
    with sessions() as session:
        events = [(e.event_type, e.payload["data"]["notification_id"])
                  for e in session.execute(select(outbox)).all()
                  if e.event_type.startswith("notification.")]
    assert ("notification.failed", str(failed.id)) in events
    assert ("notification.sent", str(fallback.id)) in events
    # nothing twice: running again owes and sends nothing new
    EmailDispatcher(bouncing_settings, sessions).dispatch_batch()
    SmsDispatcher(bouncing_settings, sessions).dispatch_batch()
    assert len([s for s in gateway.sent if s.to == "+447400555666"]) == 1


def test_invalid_number_falls_back_to_email(sessions, settings, gateway, smtp_server):
    gateway.invalid_numbers.add("+447400777888")
    req = request(sessions, settings, channel="sms", phone="+447400777888")
    SmsDispatcher(settings, sessions).dispatch_batch()
    EmailDispatcher(settings, sessions).dispatch_batch()

    [failed] = rows(sessions, kind="request_acknowledgement", channel="sms")
    [fallback] = rows(sessions, kind="request_acknowledgement", channel="email")
    assert failed.status == "failed" and fallback.status == "sent"
    [ack] = smtp_server.to(req.email)
    assert req.reference in ack.text
    assert [n.status for n in rows(sessions, kind="delivery_fallback_alert")] == ["sent"]


def test_no_other_channel_alerts_reception_only(sessions, bouncing_settings):
    req = request(sessions, bouncing_settings, email="bounce-x@example.org",
                  phone="+442079460000")
    EmailDispatcher(bouncing_settings, sessions).dispatch_batch()
    assert rows(sessions, kind="request_acknowledgement", channel="sms") == []
    [alert] = rows(sessions, kind="delivery_fallback_alert")
    assert alert.context["fallback_channel"] is None and alert.reference == req.reference


def test_erasure_forgets_contacts_and_appointments(sessions, settings):
    req = request(sessions, settings)
    handle(sessions, settings, AppointmentBookedV1(**details(req), booked_by="staff"))
    handle(sessions, settings, PatientErasedV1(request_ids=[req.request_id],
                                               erased_at=datetime.now(UTC)))
    with sessions() as session:
        assert session.get(RequestContact, req.request_id) is None
        assert session.scalars(select(Appointment)).all() == []


def test_several_dispatchers_share_a_burst_and_send_each_message_once(sessions, settings,
                                                                      smtp_server):
    requests = [request(sessions, settings) for _ in range(15)]
    dispatchers = [EmailDispatcher(settings, sessions) for _ in range(4)]
    tried: list[int] = []

    def drain(dispatcher: EmailDispatcher) -> None:
        while (handled := dispatcher.dispatch_batch()) > 0:
            tried.append(handled)
        dispatcher.stopped()

    threads = [threading.Thread(target=drain, args=(d,)) for d in dispatchers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    for req in requests:
        assert len(smtp_server.to(req.email)) == 1
        [alert] = [m for m in smtp_server.to(RECEPTION) if req.reference in m.text]
        assert alert is not None
    assert sum(tried) == 30  # 15 acknowledgements + 15 reception alerts, none tried twice
    assert {n.status for n in rows(sessions, kind="request_acknowledgement")} == {"sent"}


def test_alerts_claimed_together_reach_reception_as_one_digest(sessions, settings, smtp_server):
    """A burst: reception gets one e-mail listing every non-urgent request (each alert row is
    sent, with its own delivery attempt); an urgent alert still goes alone, as does each
    patient's acknowledgement."""
    calm = [request(sessions, settings) for _ in range(3)]
    urgent = request(sessions, settings, urgent=True, red_flags=("bladder_bowel",))
    before = len(smtp_server.to(RECEPTION))
    EmailDispatcher(settings, sessions).dispatch_batch()  # 9 due: fits one claim of 10

    mails = smtp_server.to(RECEPTION)[before:]
    [digest] = [m for m in mails if "new appointment requests" in str(m.message["Subject"])]
    assert str(digest.message["Subject"]).startswith("3 new appointment requests: ")
    for req in calm:
        assert req.reference in digest.text and req.reference in digest.html
    assert urgent.reference not in digest.text
    assert "fusion" not in digest.text.lower() and "Bert" not in digest.text
    [alone] = [m for m in mails if m is not digest]
    assert urgent.reference in alone.text and "URGENT" in alone.text
    for req in [*calm, urgent]:
        [ack] = smtp_server.to(req.email)
        assert req.reference in ack.text
    alerts = rows(sessions, kind="new_request_alert", recipient=RECEPTION)
    assert {a.status for a in alerts} == {"sent"} and len(alerts) == 4
    with sessions() as session:
        tried = session.scalars(select(DeliveryAttempt.notification_id)).all()
    assert all(tried.count(a.id) == 1 for a in alerts)


def test_a_digest_is_named_by_the_alerts_it_lists(settings):
    """The same alerts again: the same Message-ID (a resend is recognisably a copy); one alert
    more: another (so a mail system cannot drop it as a copy of the first digest)."""
    renderer = MessageRenderer(settings)
    now = datetime.now(UTC).isoformat()
    alerts = [Notification(id=uuid.uuid4(), event_id=uuid.uuid4(), kind="new_request_alert",
                           channel="email", recipient=RECEPTION, reference=f"R{n}",
                           context={"reference": f"R{n}", "urgent": False, "mode": "virtual",
                                    "site": None, "contact_channel": "email",
                                    "contact_by": now, "appointment_by": now})
              for n in range(3)]
    first = renderer.digest(alerts[:2]).parsed()["Message-ID"]
    assert renderer.digest(alerts[1::-1]).parsed()["Message-ID"] == first
    assert renderer.digest(alerts).parsed()["Message-ID"] != first

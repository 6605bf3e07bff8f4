"""notify and urgent requests (appointment.requested v2, with triage's reading of the free text).

An urgent request's contact clock runs at once and round the clock, whatever the clinic's
hours, and says so where it is shown; a calm one still waits for the opening. The urgent alert
goes alone to reception and the clinic lead and names the red-flag categories in plain words,
while no e-mail (nor text, nor notification row) carries what the patient wrote: a canary word
in the reason, the red flag's phrase and the pathway's reasons is looked for everywhere.
Real PostgreSQL, a real SMTP server and the fake Twilio gateway; the clock's `now` is injected.
"""

import json
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from clinic_shared.auth.principal import Role
from clinic_shared.db import make_engine, make_session_factory
from clinic_shared.messaging.contracts import (
    AppointmentRequestedV1,
    AppointmentRequestedV2,
    RedFlagFound,
    SuggestionReason,
    TriageReading,
    parse_data,
)
from clinic_shared.messaging.envelope import Envelope
from notify.adapters.tables import ContactClock, Notification, outbox
from notify.api.app import create_app
from notify.bootstrap import bootstrap
from notify.domain.contact_clock import ContactClockLoop
from notify.domain.dispatcher import EmailDispatcher, SmsDispatcher
from notify.domain.red_flags import category_title, plain_title
from notify.handlers import handlers
from notify.settings import NotifySettings
from tests.integration.test_notify_contact_back import token
from tests.support.contact_hours import write_hours
from tests.support.sms_gateway import FakeTwilio

LONDON = ZoneInfo("Europe/London")
HOUR = timedelta(hours=1)
RECEPTION = "desk@clinic.test"
LEAD = "lead@clinic.test"
CANARY = "zanzibarquux"  # in the patient's words only: it must reach no e-mail, text or row
# Sunday 22 November 2026, 17:30 GMT: reception's hours (weekdays 09-18) are closed until Monday
SUNDAY_EVENING = datetime(2026, 11, 22, 17, 30, tzinfo=LONDON)
MONDAY_OPENING = datetime(2026, 11, 23, 9, 0, tzinfo=LONDON)


@pytest.fixture
def database_url(migrated_database):
    return migrated_database("notify", "notify_urgent")


@pytest.fixture
def sessions(database_url):
    engine = make_engine(database_url, pool_size=6)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def gateway():
    server = FakeTwilio().start()
    yield server
    server.stop()


@pytest.fixture
def settings(database_url, auth_keys, infra, smtp_server, gateway, tmp_path):
    """Opening-hours mode everywhere: reception and every clinic weekdays 09:00-18:00."""
    return NotifySettings(
        _env_file=None, database_url=database_url, amqp_url=infra.amqp_url,
        auth_public_key=auth_keys[1], contact_at_risk_minutes=15,
        contact_hours_file=write_hours(tmp_path, "opening_hours"),
        smtp_host="127.0.0.1", smtp_port=smtp_server.port, smtp_starttls=False,
        reception_email=RECEPTION, clinic_lead_email=LEAD, clinic_name="Moorgate Physio",
        clinic_email="hello@clinic.test", sms_base_url=gateway.base_url,
        sms_account_sid=gateway.account_sid, sms_auth_token=gateway.auth_token,
        sms_from="+447700900000")


def reading(*flags: tuple[str, str]) -> TriageReading:
    """The engine's reading: urgent with these (category, phrase) red flags, else calm."""
    if flags:
        return TriageReading(
            pathway="urgent_review", urgent=True,
            red_flags=tuple(RedFlagFound(category=c, phrase=p) for c, p in flags),
            reasons=(SuggestionReason(rule="red_flag", phrases=(f"{CANARY} numb",)),))
    return TriageReading(pathway="rehab_physio", urgent=False, order=("rehab_physio",),
                         reasons=(SuggestionReason(rule="instability",
                                                   phrases=(f"{CANARY} gives way",)),))


def request(sessions, settings, arrived: datetime, *flags: tuple[str, str],
            channel: str = "email") -> AppointmentRequestedV2:
    """booking's v2 event for a request made at `arrived` (booking promises one hour), handed
    to notify as the consumer would: through the envelope and its contract."""
    data = AppointmentRequestedV2(
        request_id=uuid.uuid4(), reference=f"R{uuid.uuid4().hex[:7].upper()}",
        name="Bert Example", phone="+447400123456",
        email=f"pat-{uuid.uuid4().hex[:8]}@example.org", contact_channel=channel,
        mode="virtual", reason=f"Since my fusion I feel {CANARY} numb down there",
        urgent=bool(flags), requested_at=arrived, contact_by=arrived + HOUR,
        appointment_by=arrived + 24 * HOUR, manage_url="https://clinic.test/r/abc",
        reading=reading(*flags))
    envelope = Envelope.model_validate_json(Envelope.wrap(data, "booking").model_dump_json())
    parsed = parse_data(envelope)
    assert isinstance(parsed, AppointmentRequestedV2)  # v2 reaches the v1 type's handler
    with sessions.begin() as session:
        handlers(bootstrap(settings))["booking"][AppointmentRequestedV1.event_type](
            session, parsed, envelope)
    return data


def clock(sessions, data) -> ContactClock:
    with sessions() as session:
        return session.get_one(ContactClock, data.request_id)


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


# --- the clock --------------------------------------------------------------------------------

def test_an_urgent_request_on_a_sunday_evening_is_due_within_the_hour(sessions, settings):
    urgent = request(sessions, settings, SUNDAY_EVENING, ("cauda_equina", f"{CANARY} saddle"))
    calm = request(sessions, settings, SUNDAY_EVENING)

    hot = clock(sessions, urgent)
    assert hot.urgent
    assert (hot.started_at, hot.contact_by) == (utc(SUNDAY_EVENING), utc(SUNDAY_EVENING) + HOUR)
    assert hot.contact_by < utc(MONDAY_OPENING)  # not Monday 09:00 + 1 h
    assert hot.at_risk_due == utc(SUNDAY_EVENING) + timedelta(minutes=45)
    assert (hot.clock_mode, hot.clock_reason, hot.hours_key) == ("always", "urgent", "default")

    cold = clock(sessions, calm)
    assert not cold.urgent
    assert (cold.started_at, cold.contact_by) == (utc(MONDAY_OPENING), utc(MONDAY_OPENING) + HOUR)
    assert (cold.clock_mode, cold.clock_reason) == ("opening_hours", "clinic_hours")

    # booking's plain hour stands for the urgent one; only the calm one's deadline is announced
    with sessions() as session:
        announced = [payload["data"]["request_id"] for payload in session.scalars(
            select(outbox.c.payload).where(outbox.c.event_type == "contact.clock_started"))]
    assert announced == [str(calm.request_id)]

    # the patient's acknowledgement and reception's alert state the same deadline
    with sessions() as session:
        owed = session.scalars(select(Notification).where(
            Notification.request_id == urgent.request_id)).all()
    assert {n.kind for n in owed} == {"request_acknowledgement", "new_request_alert"}
    assert {n.context["contact_by"] for n in owed} == {hot.contact_by.isoformat()}

    # the loop warns at 18:15 and breaches at 18:30 on the Sunday; the calm one waits
    loop = ContactClockLoop(settings, sessions)
    assert loop.check_once(utc(SUNDAY_EVENING) + timedelta(minutes=44)) == 0
    assert loop.check_once(utc(SUNDAY_EVENING) + timedelta(minutes=45)) == 1
    assert loop.check_once(utc(SUNDAY_EVENING) + HOUR) == 1
    assert loop.check_once(utc(MONDAY_OPENING) + timedelta(minutes=44)) == 0
    assert clock(sessions, calm).at_risk_at is None


def test_the_clock_says_why_it_runs_round_the_clock(sessions, settings, auth_keys):
    urgent = request(sessions, settings, SUNDAY_EVENING, ("infection", f"{CANARY} fever"),
                     channel="phone")
    calm = request(sessions, settings, SUNDAY_EVENING, channel="phone")
    desk = token(auth_keys, Role.receptionist)
    with TestClient(create_app(settings)) as client:
        shown = client.get(f"/api/contact-clocks/{urgent.request_id}", headers=desk).json()
        waiting = client.get(f"/api/contact-clocks/{calm.request_id}", headers=desk).json()
        tasks = client.get("/api/callbacks", headers=desk).json()

    assert (shown["clock_mode"], shown["clock_reason"]) == ("always", "urgent")
    assert datetime.fromisoformat(shown["contact_by"]) == utc(SUNDAY_EVENING) + HOUR
    assert (waiting["clock_mode"], waiting["clock_reason"]) == ("opening_hours", "clinic_hours")
    assert [task["reference"] for task in tasks] == [urgent.reference, calm.reference]
    first, second = tasks
    assert first["urgent"] and (first["clock_mode"], first["clock_reason"]) == (
        "always", "urgent")
    assert datetime.fromisoformat(first["contact_by"]) == utc(SUNDAY_EVENING) + HOUR
    assert datetime.fromisoformat(first["clock_started_at"]) == utc(SUNDAY_EVENING)
    assert (second["clock_mode"], second["clock_reason"]) == ("opening_hours", "clinic_hours")
    assert CANARY not in json.dumps([shown, tasks])


# --- the alert --------------------------------------------------------------------------------

def test_the_urgent_alert_names_the_categories_and_carries_none_of_the_patients_words(
        sessions, settings, smtp_server, gateway):
    now = datetime.now(UTC)
    before = len(smtp_server.messages())
    calm = [request(sessions, settings, now) for _ in range(3)]
    urgent = request(sessions, settings, now, ("cauda_equina", f"{CANARY} saddle numbness"),
                     ("infection", f"hot and {CANARY} shivery"),
                     ("cauda_equina", f"cannot feel {CANARY} when wiping"))
    texted = request(sessions, settings, now, ("fracture", f"{CANARY} fall"), channel="sms")
    # 11 e-mail rows in two claims of 10; the calm three's alerts share the first
    EmailDispatcher(settings, sessions).dispatch_batch()
    EmailDispatcher(settings, sessions).dispatch_batch()
    SmsDispatcher(settings, sessions).dispatch_batch()

    sent = smtp_server.messages()[before:]
    vocabulary = getattr(settings, "triage_vocabulary_file", "")
    titles = [category_title(c, vocabulary) for c in ("cauda_equina", "infection")]
    assert titles[0].strip() and plain_title("cauda_equina") == "Cauda equina"

    # reception: one digest of the calm three; the urgent alert alone, to reception and lead
    to_desk = [m for m in sent if RECEPTION in m.recipients]
    [digest] = [m for m in to_desk if "new appointment requests" in str(m.message["Subject"])]
    assert all(req.reference in digest.text for req in calm)
    assert urgent.reference not in digest.text and texted.reference not in digest.text
    for recipient in (RECEPTION, LEAD):
        [alert] = [m for m in sent if recipient in m.recipients and urgent.reference in m.text]
        assert alert is not digest and len(alert.recipients) == 1
        assert str(alert.message["Subject"]).startswith("URGENT")
        for title in titles:
            assert title in alert.text and title in alert.html
            assert title in str(alert.message["Subject"])
        assert alert.text.count(titles[0]) == 1  # a category found twice is named once
        assert "on the board" in alert.text
    assert [m for m in sent if LEAD in m.recipients and texted.reference in m.text]
    assert not [m for m in sent if LEAD in m.recipients
                and any(req.reference in m.text for req in calm)]

    # the patient's acknowledgement: urgent advice, no categories, no symptoms
    [ack] = [m for m in sent if urgent.email in m.recipients]
    assert "111" in ack.text and "999" in ack.text
    assert all(title not in ack.text and title not in ack.html for title in titles)
    [sms] = [s for s in gateway.sent if texted.reference in s.body]
    assert "111" in sms.body and category_title("fracture", vocabulary) not in sms.body

    # the canary — the reason, the red flags' phrases, the reasons — is nowhere
    assert len(sent) == 9  # 3 calm acks + digest + urgent (2 alerts, ack) + texted (2 alerts)
    for mail in sent:
        whole = mail.message.as_string()
        assert CANARY not in whole and CANARY not in mail.text and CANARY not in mail.html
        assert "fusion" not in mail.text.lower() and "saddle" not in mail.text.lower()
        if RECEPTION in mail.recipients or LEAD in mail.recipients:
            assert "Bert" not in mail.text and "@example.org" not in mail.text
    assert all(CANARY not in s.body for s in gateway.sent)
    with sessions() as session:
        contexts = session.scalars(select(Notification.context)).all()
        alerts = session.scalars(select(Notification).where(
            Notification.request_id == urgent.request_id,
            Notification.kind == "new_request_alert")).all()
    assert sorted(a.recipient for a in alerts) == sorted([RECEPTION, LEAD])
    assert all(a.context["red_flag_categories"] == ["cauda_equina", "infection"]
               for a in alerts)
    assert contexts and CANARY not in json.dumps(contexts)

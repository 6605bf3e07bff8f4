"""One owner of the contact-back deadline: booking sets it as the request arrives, from the
clinic's hours and the urgency, and notify keeps it as it comes (contact.requested v2)."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session, sessionmaker

from booking.adapters.tables import AppointmentRequest
from booking.adapters.tables import outbox as booking_outbox
from booking.domain.request_form import AppointmentRequestCreate
from booking.domain.requests import submit_request
from booking.operators.demo_schedule import seed_reference_data
from booking.settings import BookingSettings
from clinic_shared.db import make_engine, make_session_factory
from clinic_shared.messaging.contracts import ContactRequestedV2
from clinic_shared.messaging.envelope import Envelope
from notify.adapters.tables import CallbackTask, ContactClock, Notification
from notify.adapters.tables import outbox as notify_outbox
from notify.bootstrap import bootstrap
from notify.handlers import on_contact_requested
from notify.settings import NotifySettings
from tests.support.contact_hours import write_hours

LONDON = ZoneInfo("Europe/London")
SUNDAY_EVENING = datetime(2026, 11, 29, 17, 31, tzinfo=LONDON)  # GMT
MONDAY_EIGHT = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # Moorgate and reception open at 07:00


@pytest.fixture
def booking_sessions(migrated_database) -> Iterator[sessionmaker[Session]]:
    engine = create_engine(migrated_database("booking", "deadline"))
    sessions = make_session_factory(engine)
    with sessions.begin() as db:
        seed_reference_data(db, demo_rota=False)
    yield sessions
    engine.dispose()


@pytest.fixture
def booking_settings(tmp_path: Path) -> BookingSettings:
    clock = tmp_path / "clock.txt"
    clock.write_text(SUNDAY_EVENING.isoformat(), encoding="utf-8")
    return BookingSettings(_env_file=None, clock_file=str(clock))


def form(**overrides: object) -> AppointmentRequestCreate:
    body: dict[str, object] = {
        "name": "Bert Example", "phone": "07400 123456", "email": "bert@example.org",
        "contact_channel": "phone", "mode": "clinic", "site": "moorgate",
        "reason": "Stiff knee since a fall", "consent": True}
    body.update(overrides)
    return AppointmentRequestCreate.model_validate(body)


def staged_contact_request(sessions: sessionmaker[Session],
                           request_id: uuid.UUID) -> ContactRequestedV2:
    with sessions() as db:
        payloads = db.scalars(select(booking_outbox.c.payload).where(
            booking_outbox.c.event_type == "contact.requested")).all()
    [payload] = [p for p in payloads if p["data"]["request_id"] == str(request_id)]
    assert payload["version"] == 2
    return ContactRequestedV2.model_validate(payload["data"])


@pytest.mark.parametrize(("overrides", "contact_by", "clock"), [
    # Sunday 17:31, closed: the hour runs from Monday's opening (the answer said 18:31 before)
    ({}, MONDAY_EIGHT, "opening_hours"),
    ({"mode": "virtual", "site": None}, MONDAY_EIGHT, "opening_hours"),  # reception's hours
    # a red flag ticked: the hour runs at once, round the clock
    ({"red_flags": {"fever": True}}, SUNDAY_EVENING + timedelta(hours=1), "always"),
])
def test_booking_sets_the_contact_deadline_once_from_the_hours_and_the_urgency(
        booking_sessions, booking_settings, overrides, contact_by, clock):
    stored, _ = submit_request(booking_sessions, form(**overrides), booking_settings)
    assert stored.created_at == SUNDAY_EVENING
    assert stored.contact_by == contact_by  # what the form's answer says
    with booking_sessions() as db:
        assert db.get_one(AppointmentRequest, stored.id).contact_by == contact_by
    told = staged_contact_request(booking_sessions, stored.id)
    assert (told.contact_by, told.contact_clock) == (contact_by, clock)
    assert told.contact_started_at == (SUNDAY_EVENING if clock == "always"
                                       else MONDAY_EIGHT - timedelta(hours=1))
    assert stored.appointment_by == SUNDAY_EVENING + timedelta(hours=24)


@pytest.fixture
def notify_sessions(migrated_database) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(migrated_database("notify", "deadline"), pool_size=2)
    yield make_session_factory(engine)
    engine.dispose()


def test_notify_keeps_the_deadline_booking_set_and_announces_none(
        notify_sessions, infra, auth_keys, tmp_path):
    # notify's own hours file would run the hour round the clock (Sunday 18:31): it must not
    # matter, booking's deadline stands
    settings = NotifySettings(_env_file=None, database_url="postgresql://unused",
                              amqp_url=infra.amqp_url, auth_public_key=auth_keys[1],
                              reception_email="desk@clinic.test",
                              clinic_lead_email="lead@clinic.test", contact_at_risk_minutes=15,
                              contact_hours_file=write_hours(tmp_path, "always"))
    data = ContactRequestedV2(
        request_id=uuid.uuid4(), reference="RSUN0001", name="Bert Example",
        phone="+447400123456", email="bert@example.org", contact_channel="phone",
        mode="clinic", site="moorgate", requested_at=SUNDAY_EVENING,
        contact_by=MONDAY_EIGHT, appointment_by=SUNDAY_EVENING + timedelta(hours=24),
        contact_started_at=MONDAY_EIGHT - timedelta(hours=1), contact_clock="opening_hours",
        contact_hours="moorgate")
    with notify_sessions.begin() as session:
        on_contact_requested(session, data, Envelope.wrap(data, "booking"),
                             bootstrap(settings))
    with notify_sessions() as session:
        clock = session.get_one(ContactClock, data.request_id)
        assert (clock.contact_by, clock.started_at, clock.clock_mode, clock.hours_key) == (
            MONDAY_EIGHT, MONDAY_EIGHT - timedelta(hours=1), "opening_hours", "moorgate")
        assert clock.at_risk_due == MONDAY_EIGHT - timedelta(minutes=15)
        [task] = session.scalars(select(CallbackTask).where(
            CallbackTask.request_id == data.request_id)).all()
        assert task.contact_by == MONDAY_EIGHT
        said = {n.context["contact_by"] for n in session.scalars(select(Notification).where(
            Notification.request_id == data.request_id))}
        assert said == {MONDAY_EIGHT.isoformat()}  # the acknowledgement and the desk's alert
        assert session.scalars(select(notify_outbox.c.event_type).where(
            notify_outbox.c.event_type == "contact.clock_started")).all() == []

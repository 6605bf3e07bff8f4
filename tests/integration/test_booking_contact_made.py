"""booking records the first contact-back notify reports (for the SLA figures)."""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from booking.adapters.tables import AppointmentRequest
from booking.bootstrap import bootstrap
from booking.handlers import handlers as booking_handlers
from booking.settings import BookingSettings
from clinic_shared.messaging.contracts import ContactClockStartedV1, ContactMadeV1
from clinic_shared.messaging.envelope import Envelope


def test_first_contact_is_kept_and_a_later_one_does_not_move_it(migrated_database):
    url = migrated_database("booking", "contact")
    engine = create_engine(url)
    now = datetime.now(UTC)
    request_id = uuid.uuid4()
    with Session(engine) as session, session.begin():
        request = AppointmentRequest(
            id=request_id, reference="TST-0009", name="T", email="t@example.org",
            contact_channel="phone", phone="+447400123456", mode="virtual", reason="r",
            consent=True, contact_by=now + timedelta(hours=1), appointment_by=now)
        session.add(request)
    from_notify = booking_handlers(bootstrap(BookingSettings(database_url=url)))["notify"]
    handler = from_notify[ContactMadeV1.event_type]
    for minutes in (20, 50):
        event = ContactMadeV1(request_id=request_id, channel="phone", outcome="reached",
                              by="reception", at=now + timedelta(minutes=minutes))
        with Session(engine) as session, session.begin():
            handler(session, event, Envelope.wrap(event, source="notify"))
    with Session(engine) as session:
        stored = session.get_one(AppointmentRequest, request_id)
        assert stored.contacted_at == now + timedelta(minutes=20)
    engine.dispose()


def test_the_deadline_notify_set_by_the_clinics_hours_replaces_the_plain_hour(
        migrated_database):
    url = migrated_database("booking", "clock_started")
    engine = create_engine(url)
    friday_evening = datetime(2026, 12, 18, 19, 0, tzinfo=UTC)
    request_id = uuid.uuid4()
    with Session(engine) as session, session.begin():
        session.add(AppointmentRequest(
            id=request_id, reference="TST-0010", name="T", email="t@example.org",
            contact_channel="email", mode="virtual", reason="r", consent=True,
            contact_by=friday_evening + timedelta(hours=1),
            appointment_by=friday_evening + timedelta(hours=24)))
    monday_ten = datetime(2026, 12, 21, 10, 0, tzinfo=UTC)
    event = ContactClockStartedV1(request_id=request_id, reference="TST-0010",
                                  contact_by=monday_ten, started_at=monday_ten
                                  - timedelta(hours=1), clock_mode="opening_hours")
    with Session(engine) as session, session.begin():
        from_notify = booking_handlers(bootstrap(BookingSettings(database_url=url)))["notify"]
        from_notify[event.event_type](session, event, Envelope.wrap(event, source="notify"))
    with Session(engine) as session:
        assert session.get_one(AppointmentRequest, request_id).contact_by == monday_ten
    engine.dispose()

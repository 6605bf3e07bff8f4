"""An e-mail inquiry answered from its entry stops notify's 1-hour clock (contact.answered)."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from clinic_shared.db import make_engine, make_session_factory
from clinic_shared.messaging.contracts import ContactAnsweredV1, ContactRequestedV1
from clinic_shared.messaging.envelope import Envelope
from notify.adapters.tables import ContactClock, outbox
from notify.bootstrap import bootstrap
from notify.domain.errors import ClockNotYetKnown
from notify.handlers import on_contact_answered, on_contact_requested
from notify.settings import NotifySettings
from tests.support.contact_hours import write_hours


@pytest.fixture
def sessions(migrated_database):
    engine = make_engine(migrated_database("notify", "notify_answered"), pool_size=2)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def settings(tmp_path) -> NotifySettings:
    return NotifySettings(_env_file=None, reception_email="desk@clinic.test",
                          contact_hours_file=write_hours(tmp_path, "always"))


def answered(request_id: uuid.UUID, at: datetime) -> ContactAnsweredV1:
    return ContactAnsweredV1(request_id=request_id, reference="ABC-DEFG", by="reception",
                             at=at)


def test_an_emailed_answer_stops_the_clock_and_is_announced(sessions, settings) -> None:
    now = datetime.now(UTC)
    request = ContactRequestedV1(
        request_id=uuid.uuid4(), reference="ABC-DEFG", name="Bert Example",
        phone="+447400123456", email="bert@example.org", contact_channel="phone",
        mode="virtual", requested_at=now, contact_by=now + timedelta(hours=1),
        appointment_by=now + timedelta(hours=24))
    with sessions.begin() as session:
        on_contact_requested(session, request, Envelope.wrap(request, "booking"),
                             bootstrap(settings))
    at = now + timedelta(minutes=12)
    with sessions.begin() as session:
        data = answered(request.request_id, at)
        on_contact_answered(session, data, Envelope.wrap(data, "booking"), bootstrap(settings))

    with sessions() as session:
        clock = session.get(ContactClock, request.request_id)
        assert (clock.contacted_at, clock.contact_outcome) == (at, "message_sent")
        [made] = session.scalars(select(outbox.c.payload).where(
            outbox.c.event_type == "contact.made")).all()
    assert made["data"]["outcome"] == "message_sent"
    assert made["data"]["channel"] == "email"


def test_an_answer_before_its_request_is_retried(sessions, settings) -> None:
    data = answered(uuid.uuid4(), datetime.now(UTC))
    with pytest.raises(ClockNotYetKnown), sessions.begin() as session:
        on_contact_answered(session, data, Envelope.wrap(data, "booking"), bootstrap(settings))

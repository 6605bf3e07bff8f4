"""Once called back, an entry is placed in the queue by its appointment deadline."""

import uuid
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from clinic_shared.auth.principal import Principal, Role
from clinic_shared.auth.tokens import TokenIssuer
from clinic_shared.messaging.contracts import (
    AppointmentRequestedV1,
    ContactClockStartedV1,
    ContactMadeV1,
)
from clinic_shared.messaging.envelope import Envelope
from referral.adapters.tables import TriageEntry
from tests.support.apps import build_app
from tests.support.referral_handlers import HANDLERS, NOTIFY_HANDLERS

NOW = datetime.now(UTC)


def entry(reference: str, contact_in: int, appointment_in: int) -> TriageEntry:
    return TriageEntry(
        id=uuid.uuid4(), request_id=uuid.uuid4(), reference=reference, patient_name="T",
        email="t@example.org", contact_channel="phone", mode="virtual", reason="r",
        urgent=False, status="new", requested_at=NOW,
        contact_by=NOW + timedelta(minutes=contact_in),
        appointment_by=NOW + timedelta(minutes=appointment_in), source_event_id=uuid.uuid4())


def test_called_back_entry_moves_behind_ones_still_waiting_for_a_call(
        migrated_database, infra, auth_keys, tmp_path):

    url = migrated_database("referral", "queue")
    engine = create_engine(url)
    first, second = entry("AAA-1111", 10, 600), entry("BBB-2222", 40, 700)
    first_request = first.request_id
    with Session(engine) as session, session.begin():
        session.add_all([first, second])
    app = build_app("referral", database_url=url, amqp_url=infra.amqp_url, keys=auth_keys,
                    mail_dir=tmp_path)
    token = TokenIssuer(auth_keys[0], "clinic", "clinic-staff").issue(
        Principal(subject="desk", role=Role.receptionist))
    api = TestClient(app, headers={"Authorization": f"Bearer {token}"})

    def queue() -> list[str]:
        return [e["reference"] for e in api.get("/api/triage-entries").json()]

    assert queue() == ["AAA-1111", "BBB-2222"]
    called = ContactMadeV1(request_id=first_request, channel="phone", outcome="reached",
                           by="desk", at=NOW)
    with Session(engine) as session, session.begin():
        NOTIFY_HANDLERS[ContactMadeV1.event_type](session, called,
                                                   Envelope.wrap(called, source="notify"))
    assert queue() == ["BBB-2222", "AAA-1111"]
    engine.dispose()


def requested(request_id: uuid.UUID, reference: str) -> AppointmentRequestedV1:
    return AppointmentRequestedV1(
        request_id=request_id, reference=reference, name="T", email="t@example.org",
        contact_channel="email", mode="virtual", reason="Stiff back", requested_at=NOW,
        contact_by=NOW + timedelta(hours=1), appointment_by=NOW + timedelta(hours=24))


def test_notifys_deadline_by_the_clinics_hours_wins_whichever_event_comes_first(
        migrated_database):
    engine = create_engine(migrated_database("referral", "clock_started"))
    next_opening = NOW + timedelta(hours=14)

    def deliver(data, source: str) -> None:
        handlers = NOTIFY_HANDLERS if source == "notify" else HANDLERS
        with Session(engine) as session, session.begin():
            handlers[data.event_type](session, data, Envelope.wrap(data, source=source))

    def contact_by(request_id: uuid.UUID) -> datetime:
        with Session(engine) as session:
            return session.scalars(select(TriageEntry.contact_by)
                                   .where(TriageEntry.request_id == request_id)).one()

    for order in (("booking", "notify"), ("notify", "booking")):
        request_id = uuid.uuid4()
        started = ContactClockStartedV1(
            request_id=request_id, reference="CCC-3333", contact_by=next_opening,
            started_at=next_opening - timedelta(hours=1), clock_mode="opening_hours")
        events = {"booking": requested(request_id, f"R{order[0][:3].upper()}-0001"),
                  "notify": started}
        for source in order:
            deliver(events[source], source)
        assert contact_by(request_id) == next_opening, order
    engine.dispose()


def test_a_contact_reported_before_the_entry_arrives_is_not_lost(migrated_database):
    engine = create_engine(migrated_database("referral", "early_contact"))
    request_id = uuid.uuid4()
    called = ContactMadeV1(request_id=request_id, channel="phone", outcome="reached",
                           by="desk", at=NOW + timedelta(minutes=5))
    for data, source, handlers in ((called, "notify", NOTIFY_HANDLERS),
                                   (requested(request_id, "DDD-4444"), "booking", HANDLERS)):
        with Session(engine) as session, session.begin():
            handlers[data.event_type](session, data, Envelope.wrap(data, source=source))
    with Session(engine) as session:
        entry = session.scalars(select(TriageEntry)
                                .where(TriageEntry.request_id == request_id)).one()
        assert entry.contacted_at == NOW + timedelta(minutes=5)
    engine.dispose()

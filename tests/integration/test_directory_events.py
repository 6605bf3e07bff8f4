"""The therapist directory and assignments as events: referral stages them, booking applies them.

referral's API runs in-process on a freshly migrated database; booking's handlers are called
directly (and through the idempotent consumer's `handle`) on a database of their own.
"""

import uuid
from datetime import UTC, datetime, time, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from booking.adapters.tables import AppointmentRequest, Clinic, SlotOfferRow, WorkingPattern
from booking.adapters.tables import Therapist as BookingTherapist
from booking.adapters.tables import inbox as booking_inbox
from booking.adapters.tables import outbox as booking_outbox
from booking.bootstrap import bootstrap
from booking.domain.errors import TherapistNotKnownYet
from booking.handlers import handlers as booking_handlers
from booking.handlers import on_therapist_changed
from booking.settings import BookingSettings
from clinic_shared.auth.principal import Principal, Role
from clinic_shared.auth.tokens import TokenIssuer
from clinic_shared.db import make_session_factory
from clinic_shared.messaging.connection import AmqpConfig
from clinic_shared.messaging.consumer import EventConsumer, Outcome, Subscription
from clinic_shared.messaging.contracts import (
    AppointmentRequestedV1,
    ReferralAssignedV1,
    ReferralAssignedV2,
    TherapistChangedV1,
)
from clinic_shared.messaging.envelope import Envelope
from clinic_shared.messaging.topology import Topology
from referral.adapters.tables import TriageEntry, audit
from referral.adapters.tables import outbox as referral_outbox
from tests.support.apps import build_app
from tests.support.referral_handlers import on_appointment_requested

EVERY_DAY = {day: ["08:00", "20:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


# --- fixtures ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def referral_url(migrated_database) -> str:
    url = migrated_database("referral", "directory_referral")
    return url


@pytest.fixture(scope="module")
def referral_engine(referral_url):
    engine = create_engine(referral_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def referral_sessions(referral_engine):
    return make_session_factory(referral_engine)


@pytest.fixture(scope="module")
def referral(referral_url, infra, auth_keys):
    app = build_app("referral", database_url=referral_url, amqp_url=infra.amqp_url,
                    keys=auth_keys)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def staff(auth_keys, role: Role, subject: str = "lead") -> dict[str, str]:
    token = TokenIssuer(auth_keys[0], "clinic", "clinic-staff").issue(
        Principal(subject=subject, role=role))
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def admin(auth_keys) -> dict[str, str]:
    return staff(auth_keys, Role.admin)


@pytest.fixture(scope="module")
def booking_settings() -> BookingSettings:
    return BookingSettings(_env_file=None)


@pytest.fixture
def booking_sessions(migrated_database):
    url = migrated_database("booking", "directory_booking")
    engine = create_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


def outbox_events(sessions, table, event_type: str) -> list[dict]:
    with sessions() as session:
        return [row.payload for row in session.execute(
            select(table.c.payload).where(table.c.event_type == event_type)
            .order_by(table.c.id))]


def therapist_events(referral_sessions, therapist_id: str) -> list[dict]:
    return [payload for payload in outbox_events(referral_sessions, referral_outbox,
                                                 TherapistChangedV1.event_type)
            if payload["data"]["therapist_id"] == therapist_id]


def audit_actions(referral_sessions, record_id: str) -> list[tuple[str, str, str]]:
    with referral_sessions() as session:
        return [(row.actor, row.action, row.record_type) for row in session.execute(
            select(audit).where(audit.c.record_id == record_id).order_by(audit.c.id))]


NEW_THERAPIST = {"name": "Sam Example", "disciplines": ["rehab_physio"], "sites": ["moorgate"],
                 "modes": ["clinic", "virtual"], "capacity": 12}


# --- referral: the directory announces every change -------------------------------------------

def test_creating_a_therapist_stages_therapist_changed(referral, referral_sessions, admin):
    created = referral.post("/api/therapists", json=NEW_THERAPIST, headers=admin)
    assert created.status_code == 201, created.text
    body = created.json()
    assert {k: body[k] for k in NEW_THERAPIST} == NEW_THERAPIST
    assert body["active"] is True

    [event] = therapist_events(referral_sessions, body["id"])
    assert event["type"] == "therapist.changed" and event["source"] == "referral"
    assert event["data"] == {"therapist_id": body["id"], "name": "Sam Example",
                             "disciplines": ["rehab_physio"], "sites": ["moorgate"],
                             "modes": ["clinic", "virtual"], "active": True,
                             "change": "registered"}
    assert audit_actions(referral_sessions, body["id"]) == [("lead", "create", "therapist")]
    listed = referral.get("/api/therapists", headers=admin).json()
    assert body["id"] in [t["id"] for t in listed]


def test_updating_a_therapist_stages_the_whole_entry(referral, referral_sessions, admin):
    therapist = referral.post("/api/therapists", json=NEW_THERAPIST, headers=admin).json()
    changed = referral.patch(f"/api/therapists/{therapist['id']}",
                             json={"active": False, "sites": ["moorgate", "kensington"]},
                             headers=admin)
    assert changed.status_code == 200, changed.text
    assert changed.json()["active"] is False
    assert changed.json()["capacity"] == 12  # left out: kept

    created_event, update_event = therapist_events(referral_sessions, therapist["id"])
    assert update_event["data"] == {**created_event["data"], "active": False,
                                    "sites": ["moorgate", "kensington"], "change": "updated"}
    assert update_event["occurred_at"] > created_event["occurred_at"]
    assert [action for _, action, _ in audit_actions(referral_sessions, therapist["id"])] == [
        "create", "update"]
    listed = referral.get("/api/therapists", headers=admin).json()
    assert therapist["id"] not in [t["id"] for t in listed], "inactive: not in the directory"

    unchanged = referral.patch(f"/api/therapists/{therapist['id']}",
                               json={"active": False}, headers=admin)
    assert unchanged.status_code == 200
    assert len(therapist_events(referral_sessions, therapist["id"])) == 2, (
        "a change that changes nothing is not announced")


@pytest.mark.parametrize(("body", "field"), [
    ({**NEW_THERAPIST, "disciplines": []}, "disciplines"),
    ({**NEW_THERAPIST, "disciplines": ["acupuncture"]}, "disciplines.0"),
    ({**NEW_THERAPIST, "modes": ["teleport"]}, "modes.0"),
    ({**NEW_THERAPIST, "sites": ["Moorgate Clinic"]}, "sites.0"),
    ({**NEW_THERAPIST, "sites": []}, "sites"),
    ({**NEW_THERAPIST, "name": "   "}, "name"),
    ({**NEW_THERAPIST, "name": "Sam\u0000"}, "name"),
    ({**NEW_THERAPIST, "capacity": -1}, "capacity"),
    ({**NEW_THERAPIST, "colour": "blue"}, "colour"),
])
def test_invalid_therapist_is_refused_naming_the_field(referral, referral_sessions, admin,
                                                       body, field):
    before = len(outbox_events(referral_sessions, referral_outbox,
                               TherapistChangedV1.event_type))
    refused = referral.post("/api/therapists", json=body, headers=admin)
    assert refused.status_code == 422, refused.text
    assert field in [error["field"] for error in refused.json()["detail"]]
    assert len(outbox_events(referral_sessions, referral_outbox,
                             TherapistChangedV1.event_type)) == before


@pytest.mark.parametrize(("body", "field"), [
    ({"name": None}, "name"),
    ({"disciplines": []}, "disciplines"),
    ({"modes": ["home_visit"], "sites": []}, "sites"),
    ({"active": "perhaps"}, "active"),
])
def test_invalid_change_is_refused_naming_the_field(referral, admin, body, field):
    therapist = referral.post("/api/therapists", json=NEW_THERAPIST, headers=admin).json()
    refused = referral.patch(f"/api/therapists/{therapist['id']}", json=body, headers=admin)
    assert refused.status_code == 422, refused.text
    assert field in [error["field"] for error in refused.json()["detail"]]


def test_changing_an_unknown_therapist_is_404_and_only_admins_may(referral, admin, auth_keys):
    assert referral.patch(f"/api/therapists/{uuid.uuid4()}", json={"active": False},
                          headers=admin).status_code == 404
    desk = staff(auth_keys, Role.receptionist, "reception")
    assert referral.post("/api/therapists", json=NEW_THERAPIST, headers=desk).status_code == 403


# --- referral: site and postcode travel from the request to the assignment --------------------

def requested_event(**overrides) -> tuple[AppointmentRequestedV1, Envelope]:
    now = datetime.now(UTC)
    data = AppointmentRequestedV1(**{
        "request_id": uuid.uuid4(), "reference": f"T{uuid.uuid4().hex[:9].upper()}",
        "name": "Test Patient", "email": "test@example.org", "contact_channel": "email",
        "mode": "home_visit", "reason": "stiff back", "requested_at": now,
        "contact_by": now + timedelta(hours=1), "appointment_by": now + timedelta(hours=24),
        "site": "moorgate", "postcode": "EC2Y 5AS", **overrides})
    return data, Envelope.wrap(data, source="booking")


def test_referral_handler_stores_site_and_postcode(referral_sessions):
    data, envelope = requested_event()
    with referral_sessions.begin() as session:
        on_appointment_requested(session, data, envelope)
    with referral_sessions() as session:
        entry = session.scalars(select(TriageEntry).where(
            TriageEntry.request_id == data.request_id)).one()
        assert (entry.site, entry.postcode, entry.mode) == ("moorgate", "EC2Y 5AS", "home_visit")


def test_assignment_stages_referral_assigned_with_mode_site_and_postcode(
        referral, referral_sessions, admin, auth_keys):
    therapist = referral.post("/api/therapists", json={
        **NEW_THERAPIST, "name": "Pat Visiting", "disciplines": ["manual_therapy"],
        "modes": ["home_visit"]}, headers=admin).json()
    data, envelope = requested_event()
    with referral_sessions.begin() as session:
        on_appointment_requested(session, data, envelope)
    with referral_sessions() as session:
        entry_id = session.scalars(select(TriageEntry.id).where(
            TriageEntry.request_id == data.request_id)).one()
    desk = staff(auth_keys, Role.receptionist, "reception")
    entry = referral.get(f"/api/triage-entries/{entry_id}", headers=desk).json()
    assert (entry["site"], entry["postcode"]) == ("moorgate", "EC2Y 5AS")

    assigned = referral.post(f"/api/triage-entries/{entry_id}/referrals", headers=desk,
                             json={"discipline": "manual_therapy",
                                   "therapist_id": therapist["id"]})
    assert assigned.status_code == 201, assigned.text
    [event] = [e for e in outbox_events(referral_sessions, referral_outbox,
                                        ReferralAssignedV1.event_type)
               if e["data"]["referral_id"] == assigned.json()["id"]]
    sent = ReferralAssignedV2.model_validate(event["data"])
    assert sent.request_id == data.request_id
    assert (sent.therapist_id, sent.therapist_name) == (uuid.UUID(therapist["id"]),
                                                        "Pat Visiting")
    assert (sent.discipline, sent.mode, sent.site) == ("manual_therapy", "home_visit", "moorgate")
    assert "EC2Y" not in str(event), "the patient's home postcode stays in referral and booking"


# --- booking: the directory's copy ------------------------------------------------------------

def changed(therapist_id: uuid.UUID, at: datetime, **overrides) -> tuple[TherapistChangedV1,
                                                                          Envelope]:
    data = TherapistChangedV1(**{
        "therapist_id": therapist_id, "name": "Priya Example", "disciplines": ["manual_therapy"],
        "sites": ["moorgate"], "modes": ["clinic", "home_visit"], "active": True, **overrides})
    envelope = Envelope.wrap(data, source="referral").model_copy(update={"occurred_at": at})
    return data, envelope


def booking_copy(sessions, therapist_id: uuid.UUID) -> tuple | None:
    with sessions() as session:
        t = session.get(BookingTherapist, therapist_id)
        return None if t is None else (t.name, t.disciplines, t.sites, t.modes, t.active,
                                       t.updated_at)


def test_booking_keeps_the_newest_entry_whatever_the_order(booking_sessions, booking_settings):
    therapist_id = uuid.uuid4()
    deps = bootstrap(booking_settings)
    t0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

    def apply(data, envelope) -> None:
        with booking_sessions.begin() as session:
            on_therapist_changed(session, data, envelope, deps)

    apply(*changed(therapist_id, t0))
    first = booking_copy(booking_sessions, therapist_id)
    assert first == ("Priya Example", ["manual_therapy"], ["moorgate"], ["clinic", "home_visit"],
                     True, t0)
    apply(*changed(therapist_id, t0))  # the same event again (handler called directly)
    assert booking_copy(booking_sessions, therapist_id) == first

    later = t0 + timedelta(minutes=5)
    apply(*changed(therapist_id, later, name="Priya Shah", active=False))
    newest = booking_copy(booking_sessions, therapist_id)
    assert newest == ("Priya Shah", ["manual_therapy"], ["moorgate"], ["clinic", "home_visit"],
                      False, later)

    apply(*changed(therapist_id, t0 + timedelta(minutes=1), name="Stale Name", active=True))
    assert booking_copy(booking_sessions, therapist_id) == newest, "an older event won"


def test_booking_consumer_applies_a_redelivered_therapist_event_once(booking_sessions,
                                                                     booking_settings):
    topology = Topology("unused.")
    consumer = EventConsumer(
        service="booking",
        subscription=Subscription("booking", topology.queue("booking", "referral"),
                                  booking_handlers(bootstrap(booking_settings))["referral"]),
        session_factory=booking_sessions, inbox=booking_inbox,
        amqp=AmqpConfig("amqp://nobody:nobody@127.0.0.1:1/%2F"), topology=topology)
    therapist_id = uuid.uuid4()
    _, envelope = changed(therapist_id, datetime.now(UTC))
    body = envelope.model_dump_json().encode()
    assert consumer.handle(body) is Outcome.processed
    first = booking_copy(booking_sessions, therapist_id)
    assert consumer.handle(body) is Outcome.duplicate
    assert booking_copy(booking_sessions, therapist_id) == first


# --- booking: an assignment becomes offers ----------------------------------------------------

def add_request(sessions, **columns) -> AppointmentRequest:
    now = datetime.now(UTC)
    request = AppointmentRequest(**{
        "reference": f"T{uuid.uuid4().hex[:9].upper()}", "name": "Test Patient",
        "email": "t@example.org", "contact_channel": "email", "mode": "clinic",
        "reason": "stiff back", "consent": True, "urgent": False, "status": "requested",
        "contact_by": now + timedelta(hours=1), "appointment_by": now + timedelta(hours=24),
        **columns})
    with sessions.begin() as session:
        session.add(request)
    return request


def add_clinic_and_rota(sessions, therapist_id: uuid.UUID) -> None:
    with sessions.begin() as session:
        session.add(Clinic(id="moorgate", name="Moorgate clinic", address="1 Example Court",
                           postcode="EC2Y 5AS", opening_hours=EVERY_DAY,
                           home_visit_districts=["EC1", "EC2"]))
        session.flush()
        session.add_all(WorkingPattern(therapist_id=therapist_id, weekday=day,
                                       starts=time(8), ends=time(20), mode="clinic",
                                       site_id="moorgate") for day in range(7))


def assigned(request: AppointmentRequest, therapist_id: uuid.UUID,
             mode: str = "clinic") -> tuple[ReferralAssignedV1, Envelope]:
    data = ReferralAssignedV1(
        referral_id=uuid.uuid4(), request_id=request.id, therapist_id=therapist_id,
        therapist_name="Priya Example", discipline="manual_therapy", mode=mode,
        site="moorgate", assigned_at=datetime.now(UTC))
    return data, Envelope.wrap(data, source="referral")


def offers_for(sessions, request_id: uuid.UUID) -> list[SlotOfferRow]:
    with sessions() as session:
        return list(session.scalars(select(SlotOfferRow).where(
            SlotOfferRow.request_id == request_id).order_by(SlotOfferRow.starts_at)))


def test_assignment_produces_offers_and_announces_them(booking_sessions, booking_settings):
    therapist_id = uuid.uuid4()
    handlers = booking_handlers(bootstrap(booking_settings))["referral"]
    with booking_sessions.begin() as session:
        handlers[TherapistChangedV1.event_type](session, *changed(therapist_id,
                                                                  datetime.now(UTC)))
    add_clinic_and_rota(booking_sessions, therapist_id)
    request = add_request(booking_sessions)

    with booking_sessions.begin() as session:
        handlers[ReferralAssignedV1.event_type](session, *assigned(request, therapist_id))

    offers = offers_for(booking_sessions, request.id)
    assert len(offers) == booking_settings.offers_per_assignment
    assert {(o.therapist_id, o.mode, o.site_id) for o in offers} == {
        (therapist_id, "clinic", "moorgate")}
    assert all(o.starts_at <= request.appointment_by for o in offers), "inside the promise"
    [event] = outbox_events(booking_sessions, booking_outbox, "appointment.offered")
    assert event["data"]["request_id"] == str(request.id)
    assert [o["offer_id"] for o in event["data"]["offers"]] == [str(o.id) for o in offers]
    assert {o["therapist_name"] for o in event["data"]["offers"]} == {"Priya Example"}


def test_assignment_to_a_therapist_booking_has_not_heard_of_is_retried(booking_sessions,
                                                                       booking_settings):
    request = add_request(booking_sessions)
    from_referral = booking_handlers(bootstrap(booking_settings))["referral"]
    handler = from_referral[ReferralAssignedV1.event_type]
    with pytest.raises(TherapistNotKnownYet), booking_sessions.begin() as session:
        handler(session, *assigned(request, uuid.uuid4()))
    assert offers_for(booking_sessions, request.id) == []


def test_assignment_for_a_closed_or_missing_request_is_skipped(booking_sessions,
                                                               booking_settings):
    therapist_id = uuid.uuid4()
    handlers = booking_handlers(bootstrap(booking_settings))["referral"]
    with booking_sessions.begin() as session:
        handlers[TherapistChangedV1.event_type](session, *changed(therapist_id,
                                                                  datetime.now(UTC)))
    add_clinic_and_rota(booking_sessions, therapist_id)
    now = datetime.now(UTC)
    cancelled = add_request(booking_sessions, status="cancelled", cancelled_at=now)
    erased = add_request(booking_sessions, erased_at=now)
    missing = AppointmentRequest(id=uuid.uuid4())
    for request in (cancelled, erased, missing):
        with booking_sessions.begin() as session:
            handlers[ReferralAssignedV1.event_type](session, *assigned(request, therapist_id))
        assert offers_for(booking_sessions, request.id) == []
    assert outbox_events(booking_sessions, booking_outbox, "appointment.offered") == []

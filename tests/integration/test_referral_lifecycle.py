"""A referral's lifecycle in referral: accept, booking's appointment events, treatment,
discharge; caseloads; ranking, capacity and automatic assignment.

referral's API runs in-process on a freshly migrated database; booking's events are fed to
the handlers the booking consumer runs.
"""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from clinic_shared.auth.principal import Principal, Role
from clinic_shared.auth.tokens import TokenIssuer
from clinic_shared.db import make_session_factory
from clinic_shared.messaging.contracts import (
    AppointmentBookedV1,
    AppointmentCancelledV1,
    AppointmentRequestCancelledV1,
    AppointmentRequestedV1,
    AppointmentRescheduledV1,
    ReferralAcceptedV1,
    ReferralDischargedV1,
)
from clinic_shared.messaging.envelope import Envelope
from referral.adapters.tables import TriageEntry, audit, outbox
from referral.domain import lifecycle
from tests.support.apps import build_app
from tests.support.referral_handlers import HANDLERS, on_appointment_requested

LONG_REASON = ("Stiff lower back months after a lumbar fusion at L5/S1, and the right hip "
               "after keyhole surgery; weak on one side, cannot walk far or sit for long, "
               "and I want to get back to running.")


@pytest.fixture(scope="module")
def url(migrated_database) -> str:
    url = migrated_database("referral", "referral_lifecycle")
    return url


@pytest.fixture(scope="module")
def sessions(url):
    engine = create_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


def _client(url, infra, auth_keys, **settings):
    app = build_app("referral", database_url=url, amqp_url=infra.amqp_url, keys=auth_keys,
                    **settings)
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client(url, infra, auth_keys):
    with _client(url, infra, auth_keys) as test_client:
        yield test_client


def token(auth_keys, role: Role, subject: str, therapist_id: str | None = None) -> dict:
    issued = TokenIssuer(auth_keys[0], "clinic", "clinic-staff").issue(Principal(
        subject=subject, role=role,
        therapist_id=uuid.UUID(therapist_id) if therapist_id else None))
    return {"Authorization": f"Bearer {issued}"}


@pytest.fixture(scope="module")
def desk(auth_keys):
    return token(auth_keys, Role.receptionist, "jules")


@pytest.fixture(scope="module")
def lead(auth_keys):
    return token(auth_keys, Role.admin, "lead")


def feed(sessions, data) -> None:
    with sessions.begin() as session:
        handlers = dict(HANDLERS)  # appointment events are on booking's queue too
        handlers[data.event_type](session, data, Envelope.wrap(data, "booking"))


def request_arrives(sessions, reason: str = "My ankle keeps giving way, feels unstable",
                    phone: str | None = "+447400123456", email: str | None = "bert@example.org",
                    **answers) -> tuple[uuid.UUID, uuid.UUID]:
    now = datetime.now(UTC)
    data = AppointmentRequestedV1(
        request_id=uuid.uuid4(), reference="R" + uuid.uuid4().hex[:7].upper(),
        name="Bert Example", phone=phone, email=email, contact_channel="email",
        mode="clinic", site="moorgate", reason=reason, requested_at=now - timedelta(days=3),
        contact_by=now + timedelta(hours=1), appointment_by=now + timedelta(hours=24),
        **answers)
    with sessions.begin() as session:
        on_appointment_requested(session, data, Envelope.wrap(data, "booking"))
    with sessions() as session:
        entry_id = session.scalars(select(TriageEntry.id)
                                   .where(TriageEntry.request_id == data.request_id)).one()
    return entry_id, data.request_id


def new_therapist(client, lead, name: str, disciplines: list[str], capacity: int = 20,
                  sites: tuple[str, ...] = ("moorgate",)) -> str:
    response = client.post("/api/therapists", headers=lead, json={
        "name": name, "disciplines": disciplines, "sites": list(sites), "modes": ["clinic"],
        "capacity": capacity})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def triage_and_assign(client, desk, entry_id, therapist: str,
                      pathway: str = "rehab_physio") -> dict:
    triaged = client.post(f"/api/triage-entries/{entry_id}/triage", headers=desk,
                          json={"pathway": pathway, "reason": "desk decision"})
    assert triaged.status_code == 200, triaged.text
    assigned = client.post(f"/api/triage-entries/{entry_id}/referrals", headers=desk,
                           json={"discipline": pathway, "therapist_id": therapist})
    assert assigned.status_code == 201, assigned.text
    return assigned.json()


def appointment(request_id, therapist: str, starts_at: datetime, **extra):
    return dict(appointment_id=uuid.uuid4(), request_id=request_id, reference="R1",
                therapist_id=uuid.UUID(therapist), therapist_name="T", mode="clinic",
                site="moorgate", place="Moorgate clinic", appointment_type="assessment",
                starts_at=starts_at, ends_at=starts_at + timedelta(minutes=45), **extra)


def outbox_events(sessions, event_type: str, referral_id: str) -> list[dict]:
    with sessions() as session:
        return [row.payload["data"] for row in session.execute(
            select(outbox.c.payload).where(outbox.c.event_type == event_type))
            if row.payload["data"]["referral_id"] == referral_id]


def entry_status(client, desk, entry_id) -> str:
    return client.get(f"/api/triage-entries/{entry_id}", headers=desk).json()["status"]


# --- the table --------------------------------------------------------------------------------

def test_the_transition_table_is_closed_and_terminal_states_go_nowhere():
    states = set(lifecycle.TRANSITIONS)
    assert set(lifecycle.ORDER) | {"cancelled"} == states
    assert all(targets <= states for targets in lifecycle.TRANSITIONS.values())
    assert lifecycle.TRANSITIONS["discharged"] == lifecycle.TRANSITIONS["cancelled"] == set()
    assert lifecycle.entry_status("triaged", ["booked", "accepted"]) == "accepted"
    assert lifecycle.entry_status("triaged", ["cancelled", "discharged"]) == "discharged"
    assert lifecycle.entry_status("new", []) == "new"


# --- accept, book, treat, discharge -----------------------------------------------------------

def test_a_referral_goes_from_assigned_to_discharged(client, sessions, desk, lead, auth_keys):
    therapist = new_therapist(client, lead, "Rae Rehab", ["rehab_physio"])
    other = new_therapist(client, lead, "Otto Other", ["rehab_physio"])
    mine = token(auth_keys, Role.therapist, "rae", therapist)
    entry_id, request_id = request_arrives(sessions, LONG_REASON)
    referral = triage_and_assign(client, desk, entry_id, therapist)
    rid = referral["id"]
    assert referral["status"] == "assigned" and entry_status(client, desk, entry_id) == "assigned"

    # another therapist cannot see it, let alone accept it
    stranger = token(auth_keys, Role.therapist, "otto", other)
    assert client.post(f"/api/referrals/{rid}/accept", headers=stranger).status_code == 404
    assert client.post(f"/api/referrals/{rid}/accept", headers=desk).status_code == 403
    # discharging before accepting is an illegal transition that names both states
    early = client.post(f"/api/referrals/{rid}/discharge", headers=mine,
                        json={"outcome": "goals_met"})
    assert early.status_code == 409
    assert "assigned" in early.json()["detail"] and "discharged" in early.json()["detail"]

    accepted = client.post(f"/api/referrals/{rid}/accept", headers=mine)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted" and accepted.json()["accepted_at"]
    again = client.post(f"/api/referrals/{rid}/accept", headers=mine)
    assert again.status_code == 409 and "accepted → accepted" in again.json()["detail"]
    assert len(outbox_events(sessions, ReferralAcceptedV1.event_type, rid)) == 1

    # booking books, reschedules, cancels
    soon = datetime.now(UTC) + timedelta(days=1)
    first = appointment(request_id, therapist, soon, booked_by="patient")
    feed(sessions, AppointmentBookedV1(**first))
    feed(sessions, AppointmentBookedV1(**first))  # a repeat changes nothing
    caseload = client.get(f"/api/therapists/{therapist}/caseload", headers=mine).json()
    item = next(i for i in caseload if i["referral"]["id"] == rid)
    assert item["status"] == "booked"
    assert item["next_appointment"]["id"] == str(first["appointment_id"])
    moved = appointment(request_id, therapist, soon + timedelta(days=1), rescheduled_by="staff",
                        previous_appointment_id=first["appointment_id"],
                        previous_starts_at=soon)
    feed(sessions, AppointmentRescheduledV1(**moved))
    item = next(i for i in client.get(f"/api/therapists/{therapist}/caseload",
                                      headers=mine).json() if i["referral"]["id"] == rid)
    assert item["status"] == "booked"
    assert item["next_appointment"]["id"] == str(moved["appointment_id"])
    assert entry_status(client, desk, entry_id) == "booked"
    cancelled = {k: v for k, v in moved.items()
                 if k not in ("rescheduled_by", "previous_appointment_id", "previous_starts_at")}
    feed(sessions, AppointmentCancelledV1(**cancelled, cancelled_by="patient"))
    item = next(i for i in client.get(f"/api/therapists/{therapist}/caseload",
                                      headers=mine).json() if i["referral"]["id"] == rid)
    assert item["status"] == "accepted" and item["next_appointment"] is None

    # treatment starts only once the first appointment has happened
    later = appointment(request_id, therapist, datetime.now(UTC) + timedelta(hours=2),
                        booked_by="staff")
    feed(sessions, AppointmentBookedV1(**later))
    too_soon = client.post(f"/api/referrals/{rid}/start-treatment", headers=desk)
    assert too_soon.status_code == 409 and "not happened" in too_soon.json()["detail"]
    past = appointment(request_id, therapist, datetime.now(UTC) - timedelta(minutes=50),
                       booked_by="staff")
    feed(sessions, AppointmentBookedV1(**past))
    started = client.post(f"/api/referrals/{rid}/start-treatment", headers=desk)
    assert started.status_code == 200, started.text
    assert started.json()["status"] == "in_treatment"

    bad = client.post(f"/api/referrals/{rid}/discharge", headers=mine,
                      json={"outcome": "cured-by-magic"})
    assert bad.status_code == 422
    done = client.post(f"/api/referrals/{rid}/discharge", headers=mine,
                       json={"outcome": "goals_met", "note": "Walking 5 km pain-free"})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "discharged" and done.json()["outcome"] == "goals_met"
    events = outbox_events(sessions, ReferralDischargedV1.event_type, rid)
    assert [e["outcome"] for e in events] == ["goals_met"]
    assert "note" not in events[0]
    assert entry_status(client, desk, entry_id) == "discharged"
    # a late booking event cannot reopen a discharged referral
    feed(sessions, AppointmentBookedV1(**appointment(request_id, therapist, soon,
                                                     booked_by="staff")))
    detail = client.get(f"/api/referrals/{rid}", headers=mine).json()
    assert detail["referral"]["status"] == "discharged"
    with sessions() as session:
        actions = {a for (a,) in session.execute(select(audit.c.action).where(
            audit.c.record_id == rid))}
    assert {"accept", "start-treatment", "discharge"} <= actions


def test_a_booking_before_acceptance_books_and_a_withdrawn_request_cancels(
        client, sessions, desk, lead):
    therapist = new_therapist(client, lead, "Bea Booked", ["rehab_physio"])
    entry_id, request_id = request_arrives(sessions)
    rid = triage_and_assign(client, desk, entry_id, therapist)["id"]
    feed(sessions, AppointmentBookedV1(**appointment(
        request_id, therapist, datetime.now(UTC) + timedelta(days=1), booked_by="patient")))
    assert client.get(f"/api/referrals/{rid}", headers=desk).json()["referral"]["status"] \
        == "booked"
    feed(sessions, AppointmentRequestCancelledV1(request_id=request_id, reference="R1",
                                                 cancelled_at=datetime.now(UTC),
                                                 cancelled_by="patient"))
    assert client.get(f"/api/referrals/{rid}", headers=desk).json()["referral"]["status"] \
        == "cancelled"
    assert entry_status(client, desk, entry_id) == "cancelled"
    # a cancelled entry cannot be assigned any more
    refused = client.post(f"/api/triage-entries/{entry_id}/referrals", headers=desk,
                          json={"discipline": "rehab_physio", "therapist_id": therapist})
    assert refused.status_code == 409 and "cancelled → assigned" in refused.json()["detail"]


# --- caseloads --------------------------------------------------------------------------------

def test_caseload_items_carry_pathway_summary_status_and_waiting_time(client, sessions, desk,
                                                                      lead, auth_keys):
    therapist = new_therapist(client, lead, "Cass Caseload", ["rehab_physio"], capacity=3)
    entry_id, _ = request_arrives(sessions, LONG_REASON)
    triage_and_assign(client, desk, entry_id, therapist)
    items = client.get(f"/api/therapists/{therapist}/caseload",
                       headers=token(auth_keys, Role.therapist, "cass", therapist)).json()
    assert len(items) == 1
    item = items[0]
    assert item["pathway"] == "rehab_physio" and item["status"] == "assigned"
    assert item["reason_summary"].startswith("Stiff lower back")
    assert len(item["reason_summary"]) <= 120 and item["reason_summary"].endswith("…")
    assert item["days_since_request"] == 3

    loads = {load["therapist"]["id"]: load
             for load in client.get("/api/caseloads", headers=lead).json()}
    assert loads[therapist]["active_referrals"] == 1 and loads[therapist]["headroom"] == 2
    assert loads[therapist]["by_status"] == {"assigned": 1}
    assert client.get("/api/caseloads", headers=desk).status_code == 403


# --- ranking, capacity, automatic assignment ----------------------------------------------------

def test_ranking_prefers_continuity_then_site_then_headroom_and_capacity_is_enforced(
        client, sessions, desk, lead):
    tag = uuid.uuid4().hex[:6]
    phone = "+4474009" + str(uuid.uuid4().int)[:5]
    email = f"returning-{tag}@example.org"
    full = new_therapist(client, lead, f"Full {tag}", ["manual_therapy"], capacity=1)
    away = new_therapist(client, lead, f"Away {tag}", ["manual_therapy"], capacity=50,
                         sites=("kensington",))
    near = new_therapist(client, lead, f"Near {tag}", ["manual_therapy"], capacity=10)
    before = new_therapist(client, lead, f"Before {tag}", ["manual_therapy"], capacity=5)
    rehab_only = new_therapist(client, lead, f"Rehab {tag}", ["rehab_physio"])

    earlier, _ = request_arrives(sessions, "Stiff neck", phone=phone, email=None)
    triage_and_assign(client, desk, earlier, before, pathway="manual_therapy")
    filler, _ = request_arrives(sessions, "Stiff neck", phone="+447400000001", email=None)
    triage_and_assign(client, desk, filler, full, pathway="manual_therapy")

    entry_id, _ = request_arrives(sessions, "Stiff neck again", phone=phone, email=email)
    ranked = client.get(f"/api/triage-entries/{entry_id}/therapists", headers=desk,
                        params={"discipline": "manual_therapy"})
    assert ranked.status_code == 200, ranked.text
    ours = [r for r in ranked.json() if r["therapist"]["name"].endswith(tag)]
    names = [r["therapist"]["id"] for r in ours]
    assert names == [before, near, away]  # full has no room, rehab_only the wrong discipline
    assert ours[0]["continuity"] and "treated this patient before" in ours[0]["reasons"]
    assert ours[1]["site_match"] and not ours[2]["site_match"]
    assert ours[1]["headroom"] == 10 and [r["rank"] for r in ranked.json()][:1] == [1]
    assert full not in names and rehab_only not in names

    client.post(f"/api/triage-entries/{entry_id}/triage", headers=desk,
                json={"pathway": "manual_therapy", "reason": "desk decision"})
    wrong = client.post(f"/api/triage-entries/{entry_id}/referrals", headers=desk,
                        json={"discipline": "manual_therapy", "therapist_id": rehab_only})
    assert wrong.status_code == 422
    over = client.post(f"/api/triage-entries/{entry_id}/referrals", headers=desk,
                       json={"discipline": "manual_therapy", "therapist_id": full})
    assert over.status_code == 409
    assert "1 active referrals, capacity 1" in over.json()["detail"]


def test_a_returning_patient_is_known_by_their_e_mail_in_any_case(client, sessions, desk, lead):
    """Bert wrote "Bert.Returning@…" the first time and "bert.returning@…" now, from another
    phone: reception is still shown the therapist who treated him."""
    tag = uuid.uuid4().hex[:6]
    before = new_therapist(client, lead, f"Before {tag}", ["manual_therapy"], capacity=5)
    other = new_therapist(client, lead, f"Other {tag}", ["manual_therapy"], capacity=50)
    earlier, _ = request_arrives(sessions, "Stiff neck", phone=None,
                                 email=f"Bert.Returning-{tag}@Example.org")
    triage_and_assign(client, desk, earlier, before, pathway="manual_therapy")

    entry_id, _ = request_arrives(sessions, "Stiff neck again", phone="+447400765432",
                                  email=f"bert.returning-{tag}@example.org")
    ranked = client.get(f"/api/triage-entries/{entry_id}/therapists", headers=desk,
                        params={"discipline": "manual_therapy"}).json()
    ours = {r["therapist"]["id"]: r for r in ranked if r["therapist"]["name"].endswith(tag)}
    assert ours[before]["continuity"] and "treated this patient before" in ours[before]["reasons"]
    assert not ours[other]["continuity"]
    assert ranked.index(ours[before]) < ranked.index(ours[other])


def test_auto_assign_gives_each_discipline_to_its_top_ranked_therapist(url, infra, auth_keys,
                                                                        sessions, desk, lead):
    with _client(url, infra, auth_keys, auto_assign=True) as auto:
        tag = uuid.uuid4().hex[:6]
        rehab = new_therapist(auto, lead, f"Auto rehab {tag}", ["rehab_physio"], capacity=900)
        manual = new_therapist(auto, lead, f"Auto manual {tag}", ["manual_therapy"],
                               capacity=900)
        entry_id, _ = request_arrives(sessions, LONG_REASON, after_surgery=True,
                                      surgery="spinal fusion", phone=None,
                                      email=f"new-{tag}@example.org")
        result = auto.post(f"/api/triage-entries/{entry_id}/triage", headers=desk,
                           json={"pathway": "both"})
        assert result.status_code == 200, result.text
        referrals = result.json()["episode"]["referrals"]
        assert {r["discipline"]: r["therapist_id"] for r in referrals} == {
            "rehab_physio": rehab, "manual_therapy": manual}
        assert {r["status"] for r in referrals} == {"assigned"}
        assert result.json()["entry"]["status"] == "assigned"

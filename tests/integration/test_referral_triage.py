"""Triage in referral: the suggestion stored on the entry, confirm or override (who and why),
episodes with linked referrals, claims that expire, and the override report.

referral's API runs in-process on a freshly migrated database; entries arrive through the
`appointment.requested` handler, as from booking.
"""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, update

from clinic_shared.auth.principal import Principal, Role
from clinic_shared.auth.tokens import TokenIssuer
from clinic_shared.db import make_session_factory
from clinic_shared.messaging.contracts import AppointmentRequestedV1, ReferralTriagedV1
from clinic_shared.messaging.envelope import Envelope
from referral.handlers import on_appointment_requested
from referral.models import TriageEntry, audit, outbox
from tests.support.apps import build_app

BERT = ("I am currently going through rehab post spinal fusion and right hip key hole. I'm in "
        "desperate need to get back to good flexibility, fitness and mobility levels.")


@pytest.fixture(scope="module")
def url(migrated_database) -> str:
    url = migrated_database("referral", "referral_triage")
    return url


@pytest.fixture(scope="module")
def sessions(url):
    engine = create_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def client(url, infra, auth_keys):
    app = build_app("referral", database_url=url, amqp_url=infra.amqp_url, keys=auth_keys,
                    claim_minutes=10)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def token(auth_keys, role: Role, subject: str, therapist_id: uuid.UUID | None = None) -> dict:
    issued = TokenIssuer(auth_keys[0], "clinic", "clinic-staff").issue(
        Principal(subject=subject, role=role, therapist_id=therapist_id))
    return {"Authorization": f"Bearer {issued}"}


@pytest.fixture(scope="module")
def desk(auth_keys):
    return token(auth_keys, Role.receptionist, "jules")


@pytest.fixture(scope="module")
def other_desk(auth_keys):
    return token(auth_keys, Role.receptionist, "sam")


@pytest.fixture(scope="module")
def lead(auth_keys):
    return token(auth_keys, Role.admin, "lead")


def request_arrives(sessions, reason: str, **answers) -> uuid.UUID:
    now = datetime.now(UTC)
    data = AppointmentRequestedV1(
        request_id=uuid.uuid4(), reference="R" + uuid.uuid4().hex[:7].upper(),
        name="Bert Example", phone="+447400123456", email="bert@example.org",
        contact_channel="email", mode="clinic", site="moorgate", reason=reason,
        requested_at=now, contact_by=now + timedelta(hours=1),
        appointment_by=now + timedelta(hours=24), **answers)
    with sessions.begin() as session:
        on_appointment_requested(session, data, Envelope.wrap(data, "booking"))
    with sessions() as session:
        return session.scalars(select(TriageEntry.id)
                               .where(TriageEntry.request_id == data.request_id)).one()


def new_therapist(client, lead, name: str, disciplines: list[str]) -> str:
    response = client.post("/api/therapists", headers=lead, json={
        "name": name, "disciplines": disciplines, "sites": ["moorgate"], "modes": ["clinic"]})
    assert response.status_code == 201, response.text
    return response.json()["id"]


# --- the suggestion on the entry --------------------------------------------------------------

def test_the_entry_carries_the_suggestion_and_its_reasons(client, sessions, desk):
    entry_id = request_arrives(sessions, BERT, after_surgery=True,
                               surgery="Lumbar fusion L5/S1", body_areas=("lower_back", "hip"))
    entry = client.get(f"/api/triage-entries/{entry_id}", headers=desk).json()
    assert entry["suggested_pathway"] == "both"
    assert entry["body_areas"] == ["lower_back", "hip"]
    assert entry["surgery"] == "Lumbar fusion L5/S1"
    rules = {reason["rule"]: reason["matched"] for reason in entry["suggestion_reasons"]}
    assert "body_area:lower_back" in rules["post-op-spinal"]
    assert "word:fusion" in rules["post-op-spinal"]


# --- confirm / override -----------------------------------------------------------------------

def test_confirming_both_opens_an_episode_with_two_linked_referrals_rehab_first(
        client, sessions, desk, lead, auth_keys):
    entry_id = request_arrives(sessions, BERT, after_surgery=True, surgery="spinal fusion")
    response = client.post(f"/api/triage-entries/{entry_id}/triage", headers=desk,
                           json={"pathway": "both"})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["entry"]["status"] == "triaged"
    assert result["entry"]["triaged_by"] == "jules"
    assert result["entry"]["overridden"] is False
    episode = result["episode"]
    assert [r["discipline"] for r in episode["referrals"]] == ["rehab_physio", "manual_therapy"]
    assert {r["episode_id"] for r in episode["referrals"]} == {episode["id"]}
    assert {r["status"] for r in episode["referrals"]} == {"triaged"}

    with sessions() as session:
        events = [row.payload["data"] for row in session.execute(
            select(outbox.c.payload).where(outbox.c.event_type == ReferralTriagedV1.event_type))
            if row.payload["data"]["triage_entry_id"] == str(entry_id)]
        audited = session.execute(select(audit.c.actor, audit.c.action).where(
            audit.c.record_id == str(entry_id))).all()
    assert len(events) == 1
    assert events[0]["pathway"] == "both" and events[0]["suggested"] == "both"
    assert events[0]["episode_id"] == episode["id"]
    assert ("jules", "triage") in audited

    # both therapists, once assigned, see the whole episode; a third does not
    rehab = new_therapist(client, lead, "Rae Rehab", ["rehab_physio"])
    manual = new_therapist(client, lead, "Manu Manual", ["manual_therapy"])
    stranger = new_therapist(client, lead, "Stan Stranger", ["manual_therapy"])
    for discipline, therapist in (("rehab_physio", rehab), ("manual_therapy", manual)):
        assigned = client.post(f"/api/triage-entries/{entry_id}/referrals", headers=desk,
                               json={"discipline": discipline, "therapist_id": therapist})
        assert assigned.status_code == 201, assigned.text
        assert assigned.json()["episode_id"] == episode["id"]
    for therapist in (rehab, manual):
        seen = client.get(f"/api/episodes/{episode['id']}", headers=token(
            auth_keys, Role.therapist, f"t-{therapist}", uuid.UUID(therapist)))
        assert seen.status_code == 200, seen.text
        assert {r["therapist_id"] for r in seen.json()["referrals"]} == {rehab, manual}
    hidden = client.get(f"/api/episodes/{episode['id']}", headers=token(
        auth_keys, Role.therapist, "t-stranger", uuid.UUID(stranger)))
    assert hidden.status_code == 404


def test_overriding_needs_a_reason_and_records_it(client, sessions, desk):
    entry_id = request_arrives(sessions, "My neck is stiff and I can't turn my head")
    refused = client.post(f"/api/triage-entries/{entry_id}/triage", headers=desk,
                          json={"pathway": "rehab_physio"})
    assert refused.status_code == 422
    assert "reason" in refused.text
    done = client.post(f"/api/triage-entries/{entry_id}/triage", headers=desk, json={
        "pathway": "rehab_physio", "reason": "Hypermobile: needs control work, not mobilising"})
    assert done.status_code == 200, done.text
    entry = done.json()["entry"]
    assert entry["overridden"] is True
    assert entry["override_reason"] == "Hypermobile: needs control work, not mobilising"
    assert [r["discipline"] for r in done.json()["episode"]["referrals"]] == ["rehab_physio"]


def test_triaging_twice_is_an_illegal_transition(client, sessions, desk):
    entry_id = request_arrives(sessions, "Knee gives way on the stairs")
    assert client.post(f"/api/triage-entries/{entry_id}/triage", headers=desk,
                       json={"pathway": "rehab_physio"}).status_code == 200
    again = client.post(f"/api/triage-entries/{entry_id}/triage", headers=desk,
                        json={"pathway": "rehab_physio"})
    assert again.status_code == 409
    assert "triaged" in again.json()["detail"]


def test_the_override_report_counts_per_suggested_pathway_and_rule(client, sessions, desk,
                                                                   lead):
    before = {(row["suggested_pathway"], row["rule"]): row for row in client.get(
        "/api/reports/suggestion-overrides", headers=lead).json()}
    for pathway, reason in (("manual_therapy", None), ("both", "Weak glutes too"),
                            ("both", "Weak glutes too")):
        entry_id = request_arrives(sessions, "Lower back is stiff in the mornings")
        response = client.post(f"/api/triage-entries/{entry_id}/triage", headers=desk,
                               json={"pathway": pathway, "reason": reason})
        assert response.status_code == 200, response.text
    after = {(row["suggested_pathway"], row["rule"]): row for row in client.get(
        "/api/reports/suggestion-overrides", headers=lead).json()}
    old = before.get(("manual_therapy", "stiffness"),
                     {"triaged": 0, "overridden": 0, "overridden_to": {}})
    new = after[("manual_therapy", "stiffness")]
    assert new["triaged"] - old["triaged"] == 3
    assert new["overridden"] - old["overridden"] == 2
    assert new["overridden_to"]["both"] - old["overridden_to"].get("both", 0) == 2
    assert client.get("/api/reports/suggestion-overrides", headers=desk).status_code == 403


# --- claims -----------------------------------------------------------------------------------

def test_a_claim_keeps_others_off_until_released_or_expired(client, sessions, desk, other_desk,
                                                            lead):
    entry_id = request_arrives(sessions, "Hip clicking when I run")
    claimed = client.post(f"/api/triage-entries/{entry_id}/claim", headers=desk)
    assert claimed.status_code == 200, claimed.text
    until = datetime.fromisoformat(claimed.json()["claimed_until"])
    assert timedelta(minutes=9) < until - datetime.now(UTC) <= timedelta(minutes=10)

    taken = client.post(f"/api/triage-entries/{entry_id}/claim", headers=other_desk)
    assert taken.status_code == 409
    assert "jules holds this entry until" in taken.json()["detail"]
    working = client.post(f"/api/triage-entries/{entry_id}/triage", headers=other_desk,
                          json={"pathway": "rehab_physio"})
    assert working.status_code == 409
    assert client.post(f"/api/triage-entries/{entry_id}/release",
                       headers=other_desk).status_code == 409

    # expired: anyone may take it
    with sessions.begin() as session:
        session.execute(update(TriageEntry).where(TriageEntry.id == entry_id)
                        .values(claimed_until=datetime.now(UTC) - timedelta(seconds=1)))
    assert client.post(f"/api/triage-entries/{entry_id}/claim",
                       headers=other_desk).status_code == 200
    # released by its holder: the first receptionist may work it again
    assert client.post(f"/api/triage-entries/{entry_id}/release",
                       headers=other_desk).status_code == 200
    assert client.post(f"/api/triage-entries/{entry_id}/triage", headers=desk,
                       json={"pathway": "rehab_physio"}).status_code == 200


def test_working_an_unclaimed_entry_claims_it_for_whoever_works_it(client, sessions, desk,
                                                                     other_desk, lead):
    entry_id = request_arrives(sessions, "Stiff neck after a long flight")
    triaged = client.post(f"/api/triage-entries/{entry_id}/triage", headers=desk,
                          json={"pathway": "manual_therapy"})
    assert triaged.status_code == 200, triaged.text
    assert triaged.json()["entry"]["claimed_by"] == "jules"
    therapist = new_therapist(client, lead, "Tom Manual", ["manual_therapy"])
    second = client.post(f"/api/triage-entries/{entry_id}/referrals", headers=other_desk,
                         json={"discipline": "manual_therapy", "therapist_id": therapist})
    assert second.status_code == 409
    assert "jules holds this entry" in second.json()["detail"]
    assert client.post(f"/api/triage-entries/{entry_id}/referrals", headers=desk, json={
        "discipline": "manual_therapy", "therapist_id": therapist}).status_code == 201


def test_two_receptionists_racing_for_a_therapists_last_place_one_gets_it(
        client, sessions, desk, other_desk, lead):
    therapist = new_therapist(client, lead, "Alex Lastplace", ["rehab_physio"])
    assert client.patch(f"/api/therapists/{therapist}", headers=lead,
                        json={"capacity": 1}).status_code == 200
    entries = []
    for who in (desk, other_desk):
        entry_id = request_arrives(sessions, "Weak core after back surgery")
        assert client.post(f"/api/triage-entries/{entry_id}/triage", headers=who,
                           json={"pathway": "rehab_physio"}).status_code == 200
        entries.append((entry_id, who))
    gate = threading.Barrier(2)

    def assign(entry_id, who):
        gate.wait()
        return client.post(f"/api/triage-entries/{entry_id}/referrals", headers=who,
                           json={"discipline": "rehab_physio", "therapist_id": therapist})

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda pair: assign(*pair), entries))
    assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
    refused = next(a for a in answers if a.status_code == 409)
    assert "Alex Lastplace is at capacity: 1 active referrals, capacity 1" in refused.json()[
        "detail"]
    loads = {load["therapist"]["id"]: load for load in
             client.get("/api/caseloads", headers=lead).json()}
    assert loads[therapist]["active_referrals"] == 1 and loads[therapist]["headroom"] == 0


# --- the queue --------------------------------------------------------------------------------

def test_the_queue_filters_by_site_mode_status_and_discipline(client, sessions, desk):
    rehab_entry = request_arrives(sessions, "My ankle keeps giving way, feels unstable")
    manual_entry = request_arrives(sessions, "Stiff upper back, can't turn to reverse the car")
    listed = client.get("/api/triage-entries", headers=desk, params={
        "site": "moorgate", "mode": "clinic", "status": "new", "discipline": "rehab_physio",
        "limit": 500}).json()
    ids = {entry["id"] for entry in listed}
    assert str(rehab_entry) in ids and str(manual_entry) not in ids
    assert client.get("/api/triage-entries", headers=desk,
                      params={"site": "canary-wharf"}).json() == []
    assert client.get("/api/triage-entries", headers=desk,
                      params={"mode": "teleport"}).status_code == 422

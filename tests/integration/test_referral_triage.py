"""Triage in referral: the engine's reading stored on the entry (booking's v2 reading, or the
engine run here on a v1 event), red flags that top the queue in the patient's words, confirm or
override (who and why, an "unsure" or "urgent_review" suggestion included), episodes with linked
referrals, claims that expire, and the override report.

referral's API runs in-process on a freshly migrated database; entries arrive through the
`appointment.requested` handler, as from booking. Most tests send a v2 event with a reading of
their own, so they test referral and not the clinic's vocabulary.
"""

import html as html_text
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
from clinic_shared.messaging.contracts import (
    AppointmentRequestedV1,
    AppointmentRequestedV2,
    PatientErasedV1,
    RedFlagFound,
    ReferralTriagedV1,
    SuggestionReason,
    TriageReading,
)
from clinic_shared.messaging.envelope import Envelope
from clinic_shared.triage import FormAnswers, triage_engine
from referral.adapters.tables import TriageEntry, audit, outbox
from tests.support.apps import build_app
from tests.support.referral_handlers import (
    handlers_for,
    on_appointment_requested,
    on_patient_erased,
)

BERT = ("I am currently going through rehab post spinal fusion and right hip key hole. I'm in "
        "desperate need to get back to good flexibility, fitness and mobility levels. I have "
        "lost a lot of flexibility, mobility and strength.")
CAUDA_EQUINA = RedFlagFound(category="cauda_equina",
                            phrase="can't feel anything when I wipe")


def reading(pathway: str, *reasons: tuple[str, tuple[str, ...]],
            red_flags: tuple[RedFlagFound, ...] = ()) -> TriageReading:
    """A reading as booking's engine would send it."""
    order = {"both": ("rehab_physio", "manual_therapy"), "manual_therapy": ("manual_therapy",),
             "rehab_physio": ("rehab_physio",)}.get(pathway, ())
    return TriageReading(pathway=pathway, urgent=bool(red_flags), red_flags=red_flags,
                         order=order, reasons=tuple(SuggestionReason(rule=rule, phrases=words)
                                                    for rule, words in reasons))


MANUAL = reading("manual_therapy", ("stiffness", ("stiff",)))
REHAB = reading("rehab_physio", ("instability", ("gives way",)))


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


def request_arrives(sessions, reason: str, read: TriageReading | None = REHAB,
                    **answers) -> uuid.UUID:
    """An appointment request reaches referral: v2 with `read` as booking's reading, or v1
    (an older booking) when `read` is None."""
    now = datetime.now(UTC)
    fields = dict(
        request_id=uuid.uuid4(), reference="R" + uuid.uuid4().hex[:7].upper(),
        name="Bert Example", phone="+447400123456", email="bert@example.org",
        contact_channel="email", mode="clinic", site="moorgate", reason=reason,
        requested_at=now, contact_by=now + timedelta(hours=1),
        appointment_by=now + timedelta(hours=24), **answers)
    data = (AppointmentRequestedV1(**fields) if read is None
            else AppointmentRequestedV2(**fields, urgent=read.urgent, reading=read))
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


# --- the reading on the entry -----------------------------------------------------------------

def test_booking_s_reading_is_stored_and_shown(client, sessions, desk):
    read = reading("both", ("post_op", ("ticked: I had surgery",)),
                   ("stiffness", ("lost a lot of flexibility",)),
                   ("weakness", ("strength",)))
    entry_id = request_arrives(sessions, BERT, read, after_surgery=True,
                               surgery="Lumbar fusion L5/S1", body_areas=("lower_back", "hip"))
    entry = client.get(f"/api/triage-entries/{entry_id}", headers=desk).json()
    assert entry["suggested_pathway"] == "both"
    assert entry["urgent"] is False and entry["red_flags_found"] == []
    assert entry["body_areas"] == ["lower_back", "hip"]
    assert entry["surgery"] == "Lumbar fusion L5/S1"
    assert entry["suggestion_reasons"] == [
        {"rule": "post_op", "phrases": ["ticked: I had surgery"]},
        {"rule": "stiffness", "phrases": ["lost a lot of flexibility"]},
        {"rule": "weakness", "phrases": ["strength"]}]
    with sessions() as session:
        stored = session.get(TriageEntry, entry_id)
        assert stored.suggested_order == ["rehab_physio", "manual_therapy"]
        assert stored.suggestion_rules == ["post_op", "stiffness", "weakness"]

    page = client.get(f"/board/{entry_id}", headers={**desk, "accept": "text/html"})
    assert page.status_code == 200
    assert "Suggested pathway: Both" in page.text
    assert "\u201clost a lot of flexibility\u201d" in page.text  # the patient's own words
    assert "ticked on the form: I had surgery" in page.text


def test_a_v1_request_is_read_by_the_engine_here(client, sessions, desk):
    entry_id = request_arrives(sessions, BERT, None, after_surgery=True,
                               surgery="spinal fusion", body_areas=("lower_back", "hip"))
    entry = client.get(f"/api/triage-entries/{entry_id}", headers=desk).json()
    expected = triage_engine("").read(BERT, FormAnswers(
        after_surgery=True, surgery="spinal fusion", body_areas=["lower_back", "hip"]))
    assert entry["suggested_pathway"] == expected.pathway == "both"
    assert entry["suggestion_reasons"] == [
        {"rule": reason.rule, "phrases": list(reason.phrases)} for reason in expected.reasons]
    quoted = [phrase for reason in expected.reasons for phrase in reason.phrases
              if not phrase.startswith("ticked: ")]
    assert quoted and all(phrase.lower() in (BERT + " spinal fusion").lower()
                          for phrase in quoted), quoted

    # the red-flag questions ticked on an old form are red flags too: urgent, with the answer
    ticked = request_arrives(sessions, "Back pain since Monday", None, urgent=True,
                             red_flags=("saddle_numbness",))
    entry = client.get(f"/api/triage-entries/{ticked}", headers=desk).json()
    assert entry["urgent"] is True and entry["suggested_pathway"] == "urgent_review"
    assert [flag["phrase"] for flag in entry["red_flags_found"]] == ["ticked: saddle numbness"]


def test_the_worker_s_handlers_read_v1_with_the_engine_they_were_given(sessions):
    engine = triage_engine("")
    handle = handlers_for(engine)[AppointmentRequestedV1.event_type]
    now = datetime.now(UTC)
    data = AppointmentRequestedV1(
        request_id=uuid.uuid4(), reference="RWORKER1", name="Bert Example",
        email="bert@example.org", contact_channel="email", mode="virtual", reason=BERT,
        requested_at=now, contact_by=now + timedelta(hours=1),
        appointment_by=now + timedelta(hours=24))
    with sessions.begin() as session:
        handle(session, data, Envelope.wrap(data, "booking"))
    with sessions() as session:
        entry = session.scalars(select(TriageEntry)
                                .where(TriageEntry.request_id == data.request_id)).one()
    assert entry.suggested_pathway == engine.read(BERT, FormAnswers()).pathway


def test_an_urgent_entry_tops_the_queue_with_its_red_flag_in_the_patients_words(
        client, sessions, desk):
    request_arrives(sessions, "Stiff neck", MANUAL)
    urgent_id = request_arrives(
        sessions, "Since yesterday I can't feel anything when I wipe and my back hurts",
        reading("urgent_review", red_flags=(CAUDA_EQUINA,)))
    queue = client.get("/api/triage-entries", headers=desk, params={"limit": 500}).json()
    assert queue[0]["urgent"] is True
    ours = next(entry for entry in queue if entry["id"] == str(urgent_id))
    assert all(entry["urgent"] for entry in queue[:queue.index(ours) + 1])
    assert ours["suggested_pathway"] == "urgent_review"
    assert ours["red_flags_found"] == [{"category": "cauda_equina",
                                        "phrase": "can't feel anything when I wipe"}]

    title = triage_engine("").title("cauda_equina")
    html = {**desk, "accept": "text/html"}
    board = client.get("/board/queue", headers=html).text
    rows = board.split('<tr class="queue-entry')
    urgent_rows = [row for row in rows[1:] if 'data-urgent="true"' in row]
    assert urgent_rows and all('data-urgent="true"' not in row
                               for row in rows[1 + len(urgent_rows):])
    ours_row = next(row for row in urgent_rows if str(urgent_id) in row)
    assert title in ours_row
    assert "\u201ccan&#39;t feel anything when I wipe\u201d" in ours_row
    assert f'class="suggestion">{title}<' in ours_row

    page = client.get(f"/board/{urgent_id}", headers=html).text
    assert 'id="red-flags"' in page and title in page
    assert triage_engine("").advice("cauda_equina") in html_text.unescape(page)
    assert "Suggested pathway: Urgent medical review" in page


def test_erasure_leaves_none_of_the_patients_words_in_the_reading(sessions):
    entry_id = request_arrives(sessions, "I can't feel anything when I wipe",
                               reading("urgent_review", ("stiffness", ("stiff",)),
                                       red_flags=(CAUDA_EQUINA,)))
    with sessions() as session:
        request_id = session.get(TriageEntry, entry_id).request_id
    data = PatientErasedV1(request_ids=[request_id], erased_at=datetime.now(UTC))
    with sessions.begin() as session:
        on_patient_erased(session, data, Envelope.wrap(data, "booking"))
    with sessions() as session:
        entry = session.get(TriageEntry, entry_id)
        assert entry.red_flags_found == [] and entry.suggestion_reasons == []
        assert entry.urgent is True  # the counts survive


# --- confirm / override -----------------------------------------------------------------------

def test_confirming_both_opens_an_episode_with_two_linked_referrals_rehab_first(
        client, sessions, desk, lead, auth_keys):
    entry_id = request_arrives(sessions, BERT, reading("both", ("post_op", ("fusion",))),
                               after_surgery=True, surgery="spinal fusion")
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
    entry_id = request_arrives(sessions, "My neck is stiff and I can't turn my head", MANUAL)
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
        entry_id = request_arrives(sessions, "Lower back is stiff in the mornings", MANUAL)
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
    assert new["chosen"]["manual_therapy"] - old.get("chosen", {}).get("manual_therapy", 0) == 1
    assert client.get("/api/reports/suggestion-overrides", headers=desk).status_code == 403


# --- suggestions that are not a pathway --------------------------------------------------------

def test_after_an_unsure_suggestion_reception_picks_a_pathway_without_a_reason(
        client, sessions, desk, lead):
    before = {(row["suggested_pathway"], row["rule"]): row for row in client.get(
        "/api/reports/suggestion-overrides", headers=lead).json()}
    entry_id = request_arrives(sessions, "Hello, what do you offer?", reading("unsure"))
    html = {**desk, "accept": "text/html"}
    page = client.get(f"/board/{entry_id}", headers=html).text
    assert "Suggested pathway: Unsure \u2014 ask the patient" in page
    assert "ask the patient, then choose" in page
    assert ' checked' not in page.split('id="decision"')[1].split("</fieldset>")[0], (
        "no pathway may be chosen for reception when the engine was unsure")
    # every discipline could be needed: ranking covers both until reception decides
    assert client.get(f"/api/triage-entries/{entry_id}/therapists",
                      headers=desk).status_code == 200

    done = client.post(f"/api/triage-entries/{entry_id}/triage", headers=desk,
                       json={"pathway": "manual_therapy"})
    assert done.status_code == 200, done.text
    assert done.json()["entry"]["overridden"] is False
    assert done.json()["entry"]["suggested_pathway"] == "unsure"
    assert [r["discipline"] for r in done.json()["episode"]["referrals"]] == ["manual_therapy"]
    with sessions() as session:
        events = [row.payload["data"] for row in session.execute(
            select(outbox.c.payload).where(outbox.c.event_type == ReferralTriagedV1.event_type))
            if row.payload["data"]["triage_entry_id"] == str(entry_id)]
    assert events == [events[0]] and events[0]["pathway"] == "manual_therapy"
    assert events[0]["overridden"] is False

    report = client.get("/api/reports/suggestion-overrides", headers=lead)
    assert report.status_code == 200, report.text
    row = {(r["suggested_pathway"], r["rule"]): r for r in report.json()}[("unsure", "(none)")]
    old = before.get(("unsure", "(none)"), {"triaged": 0, "overridden": 0, "chosen": {}})
    assert row["triaged"] - old["triaged"] == 1
    assert row["overridden"] == old["overridden"] == 0
    assert row["chosen"]["manual_therapy"] - old["chosen"].get("manual_therapy", 0) == 1
    assert "Triaged as Manual therapy" in client.get(f"/board/{entry_id}", headers=html).text


def test_after_urgent_review_a_therapy_pathway_is_an_override_with_a_reason(
        client, sessions, desk, lead):
    entry_id = request_arrives(sessions, "I can't feel anything when I wipe",
                               reading("urgent_review", red_flags=(CAUDA_EQUINA,)))
    refused = client.post(f"/api/triage-entries/{entry_id}/triage", headers=desk,
                          json={"pathway": "both"})
    assert refused.status_code == 422 and "reason" in refused.text
    for undecided in ("unsure", "urgent_review"):
        not_a_pathway = client.post(f"/api/triage-entries/{entry_id}/triage", headers=desk,
                                    json={"pathway": undecided, "reason": "x"})
        assert not_a_pathway.status_code == 422
        assert not_a_pathway.json()["detail"][0]["field"] == "pathway"
    done = client.post(f"/api/triage-entries/{entry_id}/triage", headers=desk, json={
        "pathway": "both", "reason": "Seen in A&E: cauda equina ruled out, rehab needed"})
    assert done.status_code == 200, done.text
    assert done.json()["entry"]["overridden"] is True
    assert [r["discipline"] for r in done.json()["episode"]["referrals"]] == [
        "rehab_physio", "manual_therapy"]
    rows = {(r["suggested_pathway"], r["rule"]): r for r in client.get(
        "/api/reports/suggestion-overrides", headers=lead).json()}
    assert rows[("urgent_review", "(none)")]["overridden_to"]["both"] >= 1


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
    entry_id = request_arrives(sessions, "Stiff neck after a long flight", MANUAL)
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
    manual_entry = request_arrives(sessions, "Stiff upper back, can't turn to reverse the car",
                                   MANUAL)
    listed = client.get("/api/triage-entries", headers=desk, params={
        "site": "moorgate", "mode": "clinic", "status": "new", "discipline": "rehab_physio",
        "limit": 500}).json()
    ids = {entry["id"] for entry in listed}
    assert str(rehab_entry) in ids and str(manual_entry) not in ids
    assert client.get("/api/triage-entries", headers=desk,
                      params={"site": "canary-wharf"}).json() == []
    assert client.get("/api/triage-entries", headers=desk,
                      params={"mode": "teleport"}).status_code == 422

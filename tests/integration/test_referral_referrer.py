"""A FHIR referral on reception's side: `appointment.requested` v4 carries who referred, the
triage entry keeps it, the board and the entry page show it; a form's entry has none; erasure
removes the referrer's reference for the patient."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from clinic_shared.auth.principal import Principal, Role
from clinic_shared.auth.tokens import TokenIssuer
from clinic_shared.db import make_session_factory
from clinic_shared.messaging.contracts import (
    AppointmentRequestedV3,
    AppointmentRequestedV4,
    PatientErasedV1,
    Referrer,
    TriageReading,
)
from clinic_shared.messaging.envelope import Envelope
from tests.support.apps import build_app
from tests.support.referral_handlers import on_appointment_requested, on_patient_erased

REFERRER = Referrer(client_id="gp-hackney", client_name="Hackney GP system",
                    name="Dr Nia Jones", organisation="Hackney Wick Surgery",
                    discipline="rehab_physio", priority="urgent",
                    identifier="https://gp.example/referrals|R-1234")


@pytest.fixture(scope="module")
def url(migrated_database) -> str:
    return migrated_database("referral", "referrer")


@pytest.fixture(scope="module")
def sessions(url):
    engine = create_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def client(url, infra, auth_keys):
    app = build_app("referral", database_url=url, amqp_url=infra.amqp_url, keys=auth_keys)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def desk(auth_keys) -> dict[str, str]:
    issued = TokenIssuer(auth_keys[0], "clinic", "clinic-staff").issue(
        Principal(subject="jules", role=Role.receptionist))
    return {"Authorization": f"Bearer {issued}"}


def arrives(sessions, referrer: Referrer | None) -> uuid.UUID:
    now = datetime.now(UTC)
    fields = dict(
        request_id=uuid.uuid4(), reference="F" + uuid.uuid4().hex[:7].upper(),
        name="Ada Sample", email="ada@example.org", contact_channel="email", mode="virtual",
        reason="Sore knee after a fall", urgent=referrer is not None, requested_at=now,
        contact_by=now + timedelta(hours=1), appointment_by=now + timedelta(hours=24),
        reading=TriageReading(pathway="rehab_physio", urgent=False, order=("rehab_physio",)))
    data = (AppointmentRequestedV3(**fields) if referrer is None
            else AppointmentRequestedV4(**fields, referrer=referrer))
    with sessions.begin() as session:
        on_appointment_requested(session, data, Envelope.wrap(data, "booking"))
    return data.request_id


def entry_of(sessions, request_id: uuid.UUID):
    with sessions() as session:
        return session.execute(text(
            "SELECT id, referrer, referrer IS NULL AS none FROM triage_entries "
            "WHERE request_id = :r"), {"r": request_id}).one()


def test_reception_sees_who_referred_and_why(sessions, client, desk):
    entry = entry_of(sessions, arrives(sessions, REFERRER))
    assert entry.referrer == REFERRER.model_dump(mode="json")
    [listed] = [e for e in client.get("/api/triage-entries", headers=desk).json()
                if e["id"] == str(entry.id)]
    assert listed["referrer"]["organisation"] == "Hackney Wick Surgery"
    page = client.get(f"/board/{entry.id}", headers=desk).text
    assert "Dr Nia Jones, Hackney Wick Surgery" in page
    assert "The referrer's reason" in page and "Sore knee after a fall" in page
    assert 'id="referrer-discipline">Rehab physio<' in page
    board = client.get("/board", headers=desk).text
    assert "Referred by Hackney Wick Surgery" in board


def test_a_forms_entry_has_no_referrer(sessions, client, desk):
    entry = entry_of(sessions, arrives(sessions, None))
    assert entry.none, "SQL NULL, not JSON null"
    page = client.get(f"/board/{entry.id}", headers=desk).text
    assert 'id="referrer"' not in page and "What they told us" in page


def test_erasure_removes_the_referrers_reference_for_the_patient(sessions):
    request_id = arrives(sessions, REFERRER)
    data = PatientErasedV1(request_ids=[request_id], erased_at=datetime.now(UTC))
    with sessions.begin() as session:
        on_patient_erased(session, data, Envelope.wrap(data, "booking"))
    referrer = entry_of(sessions, request_id).referrer
    assert "identifier" not in referrer and referrer["organisation"] == "Hackney Wick Surgery"

"""Staff's notes on an entry: added and read through the API with their author, refused clearly
when empty or too long (nothing written), gone when the patient is erased."""

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from clinic_shared.auth.principal import Principal, Role
from clinic_shared.auth.tokens import TokenIssuer
from clinic_shared.db import make_engine, make_session_factory
from clinic_shared.messaging.contracts import PatientErasedV1
from clinic_shared.messaging.envelope import Envelope
from referral.adapters.tables import EntryNote
from tests.integration.test_board_queue import entry
from tests.support.apps import build_app
from tests.support.referral_handlers import on_patient_erased


@pytest.fixture
def setup(migrated_database, infra, auth_keys, tmp_path):
    url = migrated_database("referral", "notes")
    sessions = make_session_factory(make_engine(url))
    app = build_app("referral", database_url=url, amqp_url=infra.amqp_url, keys=auth_keys,
                    mail_dir=tmp_path)
    token = TokenIssuer(auth_keys[0], "clinic", "clinic-staff").issue(
        Principal(subject="jules", role=Role.receptionist))
    return sessions, TestClient(app, headers={"Authorization": f"Bearer {token}"})


def test_a_note_is_kept_with_its_author_and_refused_when_empty(setup):
    sessions, desk = setup
    new = entry("NTE-1111")
    with sessions.begin() as session:
        session.add(new)
    added = desk.post(f"/api/triage-entries/{new.id}/notes",
                      json={"text": "  Prefers calls after 5pm  "})
    assert added.status_code == 201, added.text
    assert added.json()["author"] == "jules" and added.json()["body"] == "Prefers calls after 5pm"
    for bad in ("   ", "x" * 2001, "a\x00b"):
        refused = desk.post(f"/api/triage-entries/{new.id}/notes", json={"text": bad})
        assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == [
            "body", "text"]
    assert [n["body"] for n in desk.get(f"/api/triage-entries/{new.id}/notes").json()] == [
        "Prefers calls after 5pm"]
    missing = desk.post("/api/triage-entries/00000000-0000-0000-0000-000000000000/notes",
                        json={"text": "hello"})
    assert missing.status_code == 404

    data = PatientErasedV1(request_ids=[new.request_id], erased_at=datetime.now(UTC))
    with sessions.begin() as session:
        on_patient_erased(session, data, Envelope.wrap(data, "booking"))
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(EntryNote)) == 0
    assert desk.get(f"/api/triage-entries/{new.id}/notes").status_code == 404

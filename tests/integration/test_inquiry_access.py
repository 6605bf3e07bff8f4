"""Who opens an e-mail conversation (booking's API) and an entry's page (referral's): the desk
any; a physio (therapist) an e-mail inquiry nobody is assigned to yet, as the clinic's physios
share the inquiries mailbox, and the entries referred to them; another physio's entry, or a
request made on the form that is not theirs, answers as a missing one (404), and every read is
in the audit trail."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session, sessionmaker

from booking.adapters.mailbox import MailboxReader
from booking.adapters.tables import AppointmentRequest, outbox
from booking.adapters.tables import audit as booking_audit
from booking.api.app import create_app
from booking.bootstrap import bootstrap
from booking.handlers import handlers
from booking.operators.demo_schedule import demo_therapist_id, seed_reference_data
from booking.settings import BookingSettings
from clinic_shared.auth.principal import Principal, Role
from clinic_shared.auth.tokens import TokenIssuer
from clinic_shared.db import make_session_factory
from clinic_shared.messaging.contracts import ReferralAssignedV2
from clinic_shared.messaging.envelope import Envelope
from referral.adapters.tables import Referral, Therapist, TriageEntry
from referral.adapters.tables import audit as referral_audit
from tests.support.apps import build_app
from tests.support.contact_hours import write_hours
from tests.support.imap_server import PASSWORD, ImapServer, private_dovecot

PRIYA, TOM = demo_therapist_id("priya"), demo_therapist_id("tom")
NOW = datetime.now(UTC)


def token(auth_keys, role: Role, therapist_id: uuid.UUID | None = None) -> dict[str, str]:
    subject = f"test-{role.value}-{str(therapist_id)[:4]}"
    issued = TokenIssuer(auth_keys[0], "clinic", "clinic-staff").issue(
        Principal(subject=subject, role=role, therapist_id=therapist_id))
    return {"Authorization": f"Bearer {issued}", "accept": "text/html"}


# --- booking: the conversation's API ----------------------------------------------------------

@pytest.fixture(scope="module")
def dovecot() -> Iterator[ImapServer]:
    with private_dovecot() as server:
        yield server


@pytest.fixture
def settings(migrated_database, dovecot: ImapServer, auth_keys, smtp_server,
             tmp_path: Path) -> BookingSettings:
    url = migrated_database("booking", "inquiry_access")
    engine = create_engine(url)
    with make_session_factory(engine).begin() as db:
        seed_reference_data(db)  # Priya and Tom, whom referral assigns
    engine.dispose()
    return BookingSettings(
        database_url=url, contact_hours_file=write_hours(tmp_path, "always"),
        inquiries_imap_host="127.0.0.1", inquiries_imap_port=dovecot.port,
        inquiries_imap_ssl=False, inquiries_imap_user=f"inq-{uuid.uuid4().hex[:8]}",
        inquiries_imap_password=PASSWORD,
        inquiries_address="London Physio Clinics <inquiries@clinic.example>",
        inquiries_smtp_host="127.0.0.1", inquiries_smtp_port=smtp_server.port,
        inquiries_smtp_starttls=False, auth_public_key=auth_keys[1])


@pytest.fixture
def sessions(settings: BookingSettings) -> Iterator[sessionmaker[Session]]:
    engine = create_engine(settings.database_url)
    yield make_session_factory(engine)
    engine.dispose()


def inquiry(dovecot: ImapServer, settings: BookingSettings, sessions: sessionmaker[Session],
            sender: str) -> uuid.UUID:
    """An e-mail into the mailbox, read: its request's id."""
    dovecot.deliver(settings.inquiries_imap_user, (
        f"From: Bert Example <{sender}>\r\nTo: inquiries@clinic.example\r\n"
        f"Subject: Post op rehab\r\nMessage-ID: <{uuid.uuid4().hex}@example.org>\r\n\r\n"
        "Stiff lower back after a spinal fusion, can someone help?\r\n").encode())
    MailboxReader(settings, sessions).read_waiting()
    with sessions() as db:
        return db.scalars(select(AppointmentRequest.id).where(
            AppointmentRequest.email == sender)).one()


def assign(settings: BookingSettings, sessions: sessionmaker[Session], request_id: uuid.UUID,
           therapist_id: uuid.UUID) -> None:
    """referral assigned the request to `therapist_id`: booking hears it as from the broker."""
    data = ReferralAssignedV2(referral_id=uuid.uuid4(), request_id=request_id,
                              therapist_id=therapist_id, therapist_name="Tom",
                              discipline="rehab_physio", mode="virtual", assigned_at=NOW)
    on_assigned = handlers(bootstrap(settings))["referral"][data.event_type]
    with sessions.begin() as db:
        on_assigned(db, data, Envelope.wrap(data, source="referral"))


def test_a_physio_answers_an_open_email_inquiry_but_not_another_physios(
        dovecot, settings, sessions, auth_keys) -> None:
    open_one = inquiry(dovecot, settings, sessions, f"bert.{uuid.uuid4().hex[:6]}@example.org")
    toms = inquiry(dovecot, settings, sessions, f"kay.{uuid.uuid4().hex[:6]}@example.org")
    assign(settings, sessions, toms, TOM)
    priya, tom = token(auth_keys, Role.therapist, PRIYA), token(auth_keys, Role.therapist, TOM)
    desk = token(auth_keys, Role.receptionist)

    def emails(request_id: uuid.UUID) -> str:
        return f"/api/appointment-requests/{request_id}/emails"

    with TestClient(create_app(settings)) as api:
        # nobody is assigned to Bert's e-mail yet: any physio opens it and answers
        read = api.get(emails(open_one), headers=priya)
        assert read.status_code == 200 and read.json()[0]["direction"] == "in"
        answered = api.post(emails(open_one), headers=priya,
                            json={"text": "Hi Bert, let me hook you up with Moorgate."})
        assert answered.status_code == 201, answered.text
        assert answered.json()["sent_by"].startswith("test-therapist")
        # Kay's is Tom's: Priya learns nothing of it (as if it did not exist), Tom answers it
        for refused in (api.get(emails(toms), headers=priya),
                        api.post(emails(toms), headers=priya, json={"text": "Hi"})):
            assert refused.status_code == 404, refused.text
            assert "Kay" not in refused.text and "spinal" not in refused.text
        assert api.get(emails(toms), headers=tom).status_code == 200
        assert api.post(emails(toms), headers=tom, json={"text": "Hi Kay"}).status_code == 201
        # once Bert's is assigned to Tom, it is no longer Priya's to open
        assign(settings, sessions, open_one, TOM)
        assert api.get(emails(open_one), headers=priya).status_code == 404
        assert api.get(emails(open_one), headers=tom).status_code == 200
        # the desk opens both, whoever they are assigned to
        assert api.get(emails(toms), headers=desk).status_code == 200
        # a physio without a therapist id (not in the directory) opens none
        nobody = token(auth_keys, Role.therapist)
        assert api.get(emails(toms), headers=nobody).status_code == 404

    with sessions() as db:
        told = db.scalars(select(outbox.c.payload).where(
            outbox.c.event_type == "appointment.requested")).all()
    # referral hears how each came in (its entry page applies the same rule)
    assert {(p["version"], p["data"]["arrived_by"]) for p in told} == {(4, "email")}
    with sessions() as db:
        reads = db.execute(select(booking_audit.c.actor, booking_audit.c.action).where(
            booking_audit.c.record_type == "inquiry_emails")).all()
    actors = [(actor.split("-")[1], action) for actor, action in reads]
    assert actors.count(("therapist", "read")) == 3  # the three reads that were allowed
    assert actors.count(("therapist", "answer")) == 2
    assert ("receptionist", "read") in actors


def test_a_physio_opens_no_request_made_on_the_form_that_is_not_theirs(
        settings, sessions, auth_keys) -> None:
    with TestClient(create_app(settings)) as api:
        made = api.post("/api/appointment-requests", json={
            "name": "Pat Form", "email": "pat@example.org", "contact_channel": "email",
            "mode": "virtual", "reason": "Sore shoulder", "consent": True})
        assert made.status_code == 201, made.text
        request_id = made.json()["id"]
        path = f"/api/appointment-requests/{request_id}/emails"
        priya = token(auth_keys, Role.therapist, PRIYA)
        assert api.get(path, headers=priya).status_code == 404
        assert api.post(path, headers=priya, json={"text": "Hi"}).status_code == 404
        assert api.get(path, headers=token(auth_keys, Role.receptionist)).json() == []
        assign(settings, sessions, uuid.UUID(request_id), PRIYA)
        assert api.get(path, headers=priya).status_code == 200  # referred to her: hers


# --- referral: the entry page -----------------------------------------------------------------

def entry(reference: str, arrived_by: str, email: str = "pat@example.org") -> TriageEntry:
    return TriageEntry(
        id=uuid.uuid4(), request_id=uuid.uuid4(), reference=reference, arrived_by=arrived_by,
        patient_name="Pat Example", email=email, contact_channel="email", mode="virtual",
        reason=f"Stiff back ({reference})", urgent=False, status="new", requested_at=NOW,
        contact_by=NOW + timedelta(hours=1), appointment_by=NOW + timedelta(hours=24),
        source_event_id=uuid.uuid4())


def test_a_physio_opens_the_entry_page_of_open_email_inquiries_and_their_own(
        migrated_database, infra, auth_keys, tmp_path) -> None:
    url = migrated_database("referral", "entry_access")
    engine = create_engine(url)
    by_email, toms, on_form, priyas = (entry("EML-0001", "email"), entry("EML-0002", "email"),
                                       entry("FRM-0003", "form"), entry("FRM-0004", "form"))
    with Session(engine, expire_on_commit=False) as db, db.begin():
        db.add_all([by_email, toms, on_form, priyas])
        db.add_all([Therapist(id=t, name=n, disciplines=["rehab_physio"], sites=["moorgate"],
                              modes=["virtual"], capacity=5)
                    for t, n in ((PRIYA, "Priya"), (TOM, "Tom"))])
        db.flush()
        db.add_all([Referral(triage_entry_id=toms.id, discipline="rehab_physio",
                             status="assigned", therapist_id=TOM),
                    Referral(triage_entry_id=priyas.id, discipline="rehab_physio",
                             status="assigned", therapist_id=PRIYA)])
    app = build_app("referral", database_url=url, amqp_url=infra.amqp_url, keys=auth_keys,
                    mail_dir=tmp_path)
    priya = TestClient(app, headers=token(auth_keys, Role.therapist, PRIYA))
    desk = TestClient(app, headers=token(auth_keys, Role.receptionist))

    opened = priya.get(f"/board/{by_email.id}")
    assert opened.status_code == 200 and "Stiff back (EML-0001)" in opened.text
    assert 'id="emails"' in opened.text  # where she answers
    # the same patient's other requests: only those she may open are listed
    assert "FRM-0004" in opened.text and "FRM-0003" not in opened.text
    assert "EML-0002" not in opened.text
    assert priya.get(f"/board/{priyas.id}").status_code == 200
    for hidden in (toms, on_form):
        refused = priya.get(f"/board/{hidden.id}")
        assert refused.status_code == 404
        assert hidden.reference not in refused.text and "Stiff back" not in refused.text
    assert all(desk.get(f"/board/{e.id}").status_code == 200
               for e in (by_email, toms, on_form, priyas))
    assert priya.get(f"/board/{by_email.id}/work").status_code == 403  # the desk's work panel
    # her caseload lists the e-mail inquiries nobody is assigned to, to open and answer
    listed = priya.get("/caseload")
    assert listed.status_code == 200
    assert f'/board/{by_email.id}">EML-0001' in listed.text
    assert 'data-reference="EML-0002"' not in listed.text  # Tom's
    assert 'data-reference="FRM-0003"' not in listed.text  # on the form, nobody's yet
    with Session(engine) as db:
        read = set(db.scalars(select(referral_audit.c.record_id).where(
            referral_audit.c.actor.like("test-therapist%"),
            referral_audit.c.record_type == "triage_entry",
            referral_audit.c.action == "read")))
    assert read == {str(by_email.id), str(priyas.id)}
    engine.dispose()

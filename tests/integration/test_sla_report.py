"""The clinic lead's SLA figures from the events referral hears: shares by clinic and channel,
waiting requests left out, breaches with causes (missing → "unknown"), duplicates harmless."""

import uuid
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from clinic_shared.auth.principal import Principal, Role
from clinic_shared.auth.tokens import TokenIssuer
from clinic_shared.messaging.contracts import (
    AppointmentBookedV1,
    AppointmentSlaBreachedV1,
    ContactMadeV1,
    ContactSlaBreachedV1,
)
from clinic_shared.messaging.envelope import Envelope, EventData
from referral.adapters.tables import SlaBreach, SlaMark, TriageEntry
from tests.support.apps import build_app
from tests.support.referral_handlers import HANDLERS, NOTIFY_HANDLERS

NOW = datetime.now(UTC).replace(microsecond=0)
SCRIPT = "<script>window.pwned = 1</script>"


def entry(reference: str, mode: str, channel: str, site: str | None = None,
          contact_in: int = 60, appointment_in: int = 24 * 60,
          status: str = "new") -> TriageEntry:
    """An entry requested just now (minus the hour its deadlines may already have passed)."""
    requested = NOW - timedelta(minutes=max(0, 60 - contact_in))
    return TriageEntry(
        id=uuid.uuid4(), request_id=uuid.uuid4(), reference=reference, patient_name="T",
        email="t@example.org", contact_channel=channel, mode=mode, site=site, reason="r",
        urgent=False, status=status, requested_at=requested,
        contact_by=NOW + timedelta(minutes=contact_in),
        appointment_by=NOW + timedelta(minutes=appointment_in), source_event_id=uuid.uuid4())


def deliver(engine, handlers, data: EventData, source: str, at: datetime = NOW) -> None:
    envelope = Envelope.wrap(data, source).model_copy(update={"occurred_at": at})
    with Session(engine) as session, session.begin():
        handlers[data.event_type](session, data, envelope)


def booked(e: TriageEntry) -> AppointmentBookedV1:
    return AppointmentBookedV1(
        appointment_id=uuid.uuid4(), request_id=e.request_id, reference=e.reference,
        therapist_id=uuid.uuid4(), therapist_name="P", mode=e.mode, site=e.site,
        place="Moorgate clinic", appointment_type="initial_assessment",
        starts_at=NOW + timedelta(hours=3), ends_at=NOW + timedelta(hours=4), booked_by="staff")


def test_shares_breaches_and_the_dashboard(migrated_database, infra, auth_keys, tmp_path):
    url = migrated_database("referral", "sla")
    engine = create_engine(url)
    kept = entry("AAA-1111", "clinic", "email", site="moorgate")
    late = entry("BBB-2222", "virtual", "phone", contact_in=-30, appointment_in=-5)
    waiting = entry("CCC-3333", "home_visit", "sms")
    withdrawn = entry("DDD-4444", "clinic", "phone", site="moorgate", contact_in=-10,
                      appointment_in=-1, status="cancelled")
    with Session(engine, expire_on_commit=False) as session, session.begin():
        session.add_all([kept, late, waiting, withdrawn])

    contact = NOTIFY_HANDLERS
    # kept: called in time (a later call and a repeat change nothing), booked in time
    for at in (NOW - timedelta(minutes=20), NOW - timedelta(minutes=25), NOW):
        deliver(engine, contact, ContactMadeV1(request_id=kept.request_id, channel="phone",
                                               outcome="reached", by="desk", at=at), "notify")
    deliver(engine, HANDLERS, booked(kept), "booking", at=NOW - timedelta(minutes=10))
    # late: called after its deadline, never booked; both clocks reported it (twice)
    deliver(engine, contact, ContactMadeV1(request_id=late.request_id, channel="phone",
                                           outcome="no_answer", by="desk", at=NOW), "notify")
    for _ in range(2):
        deliver(engine, contact, ContactSlaBreachedV1(
            request_id=late.request_id, reference=late.reference, contact_by=late.contact_by,
            urgent=False, cause="no_answer", channel="phone"), "notify")
        deliver(engine, HANDLERS, AppointmentSlaBreachedV1(
            request_id=late.request_id, reference=late.reference,
            appointment_by=late.appointment_by, urgent=False, cause=SCRIPT), "booking")
    # withdrawn: never called; its breach came without a cause (an older notify)
    deliver(engine, contact, ContactSlaBreachedV1(
        request_id=withdrawn.request_id, reference=withdrawn.reference,
        contact_by=withdrawn.contact_by, urgent=False), "notify")

    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(SlaBreach)) == 3
        mark = session.get(SlaMark, kept.request_id)
        assert mark is not None and mark.first_contacted_at == NOW - timedelta(minutes=25)

    app = build_app("referral", database_url=url, amqp_url=infra.amqp_url, keys=auth_keys,
                    mail_dir=tmp_path)
    issuer = TokenIssuer(auth_keys[0], "clinic", "clinic-staff")

    def client(role: Role) -> TestClient:
        token = issuer.issue(Principal(subject=f"t-{role.value}", role=role))
        return TestClient(app, headers={"Authorization": f"Bearer {token}",
                                        "accept": "text/html"})

    lead = client(Role.admin)
    report = lead.get("/api/reports/sla", params={"days": 2}).json()
    total = report["total"]
    assert total["requests"] == 4
    # contact: kept met; late (called late) and withdrawn (never) missed; waiting not counted
    assert total["contacted_within_1h"] == {"met": 1, "missed": 2, "pending": 1,
                                            "at_risk": 0}
    assert total["contacted_share"] == round(1 / 3, 4)
    # booking: kept met, late missed, waiting pending, the withdrawn one does not count
    assert total["booked_within_24h"] == {"met": 1, "missed": 1, "pending": 1, "at_risk": 0}
    assert total["booked_share"] == 0.5
    clinics = {g["key"]: g for g in report["by_clinic"]}
    assert set(clinics) == {"moorgate", "virtual", "home_visit"}
    assert clinics["moorgate"]["label"] == "Moorgate"
    assert clinics["moorgate"]["contacted_share"] == 0.5
    assert clinics["virtual"]["label"] == "Virtual (video)"
    assert clinics["virtual"]["booked_share"] == 0.0
    assert clinics["home_visit"]["contacted_share"] is None  # all still waiting
    channels = {g["key"]: g["requests"] for g in report["by_channel"]}
    assert channels == {"email": 1, "phone": 2, "sms": 1}
    assert sum(day["requests"] for day in report["by_day"]) == 4
    assert len(report["by_day"]) == 2
    causes = {(c["kind"], c["cause"]): c["breaches"] for c in report["breach_causes"]}
    assert causes == {("contact", "no_answer"): 1, ("contact", "unknown"): 1,
                      ("appointment", SCRIPT): 1}
    breach = next(b for b in report["breaches"] if b["reference"] == "BBB-2222"
                  and b["kind"] == "contact")
    assert breach["channel"] == "phone" and breach["clinic"] == "Virtual (video)"

    page = lead.get("/dashboard", params={"days": 2})
    assert page.status_code == 200
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;" in page.text
    assert SCRIPT not in page.text
    assert 'role="img"' in page.text and "<table" in page.text

    assert client(Role.receptionist).get("/api/reports/sla").status_code == 403
    refused = client(Role.therapist).get("/dashboard")
    assert refused.status_code == 403 and "Not allowed" in refused.text
    assert lead.get("/api/reports/sla", params={"days": 0}).status_code == 422
    engine.dispose()

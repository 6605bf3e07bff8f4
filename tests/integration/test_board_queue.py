"""The board's polled queue fragment: 204 while nothing changed (no patient data read or
audited), the new queue when an entry arrives; the entry's work panel ranks therapists."""

import uuid
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from clinic_shared.auth.principal import Principal, Role
from clinic_shared.auth.tokens import TokenIssuer
from referral.models import Referral, Therapist, TriageEntry, audit
from tests.support.apps import build_app

NOW = datetime.now(UTC)


def entry(reference: str) -> TriageEntry:
    return TriageEntry(
        id=uuid.uuid4(), request_id=uuid.uuid4(), reference=reference,
        patient_name="<b>Pat</b>", email="t@example.org", contact_channel="phone",
        mode="clinic", site="moorgate", reason="Stiff <script>x()</script>", urgent=False,
        status="triaged", pathway="manual_therapy", requested_at=NOW,
        contact_by=NOW + timedelta(hours=1), appointment_by=NOW + timedelta(hours=24),
        source_event_id=uuid.uuid4())


def test_the_queue_fragment_answers_204_until_something_changes(migrated_database, infra,
                                                                auth_keys, tmp_path):
    url = migrated_database("referral", "board")
    engine = create_engine(url)
    with Session(engine) as session, session.begin():
        session.add(entry("AAA-1111"))
    app = build_app("referral", database_url=url, amqp_url=infra.amqp_url, keys=auth_keys,
                    mail_dir=tmp_path)
    token = TokenIssuer(auth_keys[0], "clinic", "clinic-staff").issue(
        Principal(subject="desk", role=Role.receptionist))
    desk = TestClient(app, headers={"Authorization": f"Bearer {token}", "accept": "text/html"})

    def audited() -> int:
        with Session(engine) as session:
            return session.scalar(select(func.count()).select_from(audit)) or 0

    first = desk.get("/board/queue")
    assert first.status_code == 200 and 'data-reference="AAA-1111"' in first.text
    version = first.headers["X-Board-Version"]
    before = audited()
    assert desk.get("/board/queue", params={"since": version}).status_code == 204
    assert audited() == before, "an idle poll read (and audited) patient data"

    with Session(engine) as session, session.begin():
        session.add(second := entry("BBB-2222"))
        second_id = second.id
    changed = desk.get("/board/queue", params={"since": version})
    assert changed.status_code == 200 and 'data-reference="BBB-2222"' in changed.text
    assert changed.headers["X-Board-Version"] != version

    # the work panel: a referral triage made waiting for a therapist lists the suitable ones
    work = desk.get(f"/board/{second_id}/work")
    assert work.status_code == 200 and "Confirm the pathway first" in work.text
    with Session(engine) as session, session.begin():
        session.add(Therapist(id=uuid.uuid4(), name="Priya <i>Shah</i>",
                              disciplines=["manual_therapy"], sites=["moorgate"],
                              modes=["clinic"], capacity=5))
        session.add(Referral(triage_entry_id=second_id, discipline="manual_therapy",
                             status="triaged", therapist_id=None))
    work = desk.get(f"/board/{second_id}/work")
    assert "Assign Priya &lt;i&gt;Shah&lt;/i&gt;" in work.text
    assert "works at moorgate" in work.text
    assert work.headers["Cache-Control"] == "no-store"
    page = desk.get(f"/board/{second_id}")
    assert "Stiff &lt;script&gt;x()&lt;/script&gt;" in page.text
    assert "&lt;b&gt;Pat&lt;/b&gt;" in page.text and "<b>Pat</b>" not in page.text

    therapist = TestClient(app, headers={"accept": "text/html", "Authorization": "Bearer " +
                                         TokenIssuer(auth_keys[0], "clinic", "clinic-staff")
                                         .issue(Principal(subject="t", role=Role.therapist))})
    assert therapist.get("/board/queue").status_code == 403
    anonymous = TestClient(app, follow_redirects=False).get(
        "/board/queue", headers={"accept": "text/html"})
    assert anonymous.status_code == 303
    engine.dispose()

"""The board's polled queue fragment: 204 while nothing changed (no patient data read or
audited), the new queue when an entry arrives; the entry's work panel ranks therapists; an
urgent entry tops the board with its red flags in the patient's words, and suggestions read in
plain words."""

import uuid
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from clinic_shared.auth.principal import Principal, Role
from clinic_shared.auth.tokens import TokenIssuer
from clinic_shared.triage import triage_engine
from referral.adapters.tables import Referral, Therapist, TriageEntry, audit
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


def test_an_urgent_entry_tops_the_board_with_its_red_flag_and_the_suggestion_in_plain_words(
        migrated_database, infra, auth_keys, tmp_path):
    url = migrated_database("referral", "board_red_flags")
    engine = create_engine(url)
    calm, unsure, urgent = entry("CCC-3333"), entry("DDD-4444"), entry("EEE-5555")
    calm.status = unsure.status = urgent.status = "new"
    calm.pathway = unsure.pathway = urgent.pathway = None
    calm.suggested_pathway = "manual_therapy"
    calm.suggestion_reasons = [{"rule": "stiffness", "phrases": ["Stiff"]}]
    unsure.suggested_pathway = "unsure"
    unsure.contact_by = calm.contact_by + timedelta(minutes=10)
    urgent.urgent, urgent.suggested_pathway = True, "urgent_review"
    urgent.contact_by = calm.contact_by + timedelta(minutes=30)  # later, and still first
    urgent.red_flags_found = [{"category": "cauda_equina",
                               "phrase": "numb <b>down there</b>"},
                              {"category": "cauda_equina", "phrase": "ticked: saddle numbness"}]
    urgent_id, calm_id = urgent.id, calm.id
    with Session(engine) as session, session.begin():
        session.add_all([calm, unsure, urgent])
    app = build_app("referral", database_url=url, amqp_url=infra.amqp_url, keys=auth_keys,
                    mail_dir=tmp_path)
    token = TokenIssuer(auth_keys[0], "clinic", "clinic-staff").issue(
        Principal(subject="desk", role=Role.receptionist))
    desk = TestClient(app, headers={"Authorization": f"Bearer {token}", "accept": "text/html"})
    title = triage_engine("").title("cauda_equina")

    board = desk.get("/board")
    assert board.status_code == 200
    rows = board.text.split('<tr class="queue-entry')[1:]
    assert [row.split('data-reference="')[1][:8] for row in rows] == [
        "EEE-5555", "CCC-3333", "DDD-4444"]
    assert title in rows[0]
    assert "\u201cnumb &lt;b&gt;down there&lt;/b&gt;\u201d" in rows[0]  # their words, as text
    assert "ticked on the form: saddle numbness" in rows[0]
    assert f'class="suggestion">{title}<' in rows[0]  # the urgent category
    assert 'class="suggestion">Manual therapy<' in rows[1] and title not in rows[1]
    assert 'class="suggestion">Unsure \u2014 ask the patient<' in rows[2]

    page = desk.get(f"/board/{urgent_id}")
    assert page.status_code == 200
    assert 'id="red-flags"' in page.text and title in page.text
    assert "\u201cnumb &lt;b&gt;down there&lt;/b&gt;\u201d" in page.text
    assert "Suggested pathway: Urgent medical review" in page.text
    assert "Why a therapy pathway is right now" in page.text
    calm_page = desk.get(f"/board/{calm_id}").text
    assert 'id="red-flags"' not in calm_page
    assert "\u201cStiff\u201d" in calm_page
    engine.dispose()


def test_a_long_view_shows_its_first_fifty_rows_and_more_on_asking(migrated_database, infra,
                                                                   auth_keys, tmp_path):
    """A busy morning: 60 open entries. The board opens on the 50 that break first (fast at any
    volume), says how many the view holds, and "show more" brings the rest, in the URL."""
    url = migrated_database("referral", "board-pages")
    engine = create_engine(url)
    with Session(engine) as session, session.begin():
        for i in range(60):
            row = entry(f"PAGE-{i:04d}")
            row.contact_by = NOW + timedelta(minutes=10 + i)  # PAGE-0000 breaks first
            session.add(row)
    app = build_app("referral", database_url=url, amqp_url=infra.amqp_url, keys=auth_keys,
                    mail_dir=tmp_path)
    token = TokenIssuer(auth_keys[0], "clinic", "clinic-staff").issue(
        Principal(subject="desk", role=Role.receptionist))
    desk = TestClient(app, headers={"Authorization": f"Bearer {token}", "accept": "text/html"})

    first = desk.get("/board")
    assert first.status_code == 200
    assert first.text.count('class="queue-entry') == 50
    assert 'data-reference="PAGE-0049"' in first.text
    assert 'data-reference="PAGE-0050"' not in first.text
    assert "(the first 50 shown)" in first.text and "Show 10 more" in first.text
    assert 'href="/board?shown=100"' in first.text

    more = desk.get("/board", params={"shown": "100"})
    assert more.text.count('class="queue-entry') == 60 and "Show" not in more.text.split(
        "</table>")[1].split("</main>")[0]
    # the live fragment keeps the view's length
    assert desk.get("/board/queue", params={"shown": "100"}).text.count(
        'class="queue-entry') == 60

    refused = desk.get("/board", params={"shown": "7"})
    assert refused.status_code == 422 and "shown" in refused.text
    engine.dispose()

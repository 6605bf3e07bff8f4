"""Taking in an appointment request: concurrent retries with one Idempotency-Key store one
request; the form's limits count what they did before (bad forms and retries included); the
clinics are read as they are at that moment."""

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from booking.adapters.tables import AppointmentRequest, Clinic, outbox
from booking.api.app import create_app
from booking.domain.request_form import AppointmentRequestCreate
from booking.domain.requests import submit_request
from booking.settings import BookingSettings
from clinic_shared.db import make_session_factory
from tests.support.waiting import wait_until


def form(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "Bert Example", "phone": None,
        "email": f"bert.{uuid.uuid4().hex[:8]}@example.org", "contact_channel": "email",
        "mode": "virtual", "reason": "stiff lower back", "consent": True,
    }
    body.update(overrides)
    return body


@pytest.fixture
def database(seeded_booking_database) -> str:
    return seeded_booking_database("intake")


@pytest.fixture
def sessions(database) -> Iterator[sessionmaker[Session]]:
    engine = create_engine(database, pool_size=12)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def api(database, auth_keys) -> Iterator[TestClient]:
    app = create_app(BookingSettings(database_url=database, auth_public_key=auth_keys[1],
                                     form_limit_per_address=5, form_limit_per_contact=2))
    with TestClient(app) as client:
        yield client


def test_concurrent_retries_with_one_key_store_one_request(sessions) -> None:
    parsed = AppointmentRequestCreate.model_validate(form())
    key = str(uuid.uuid4())
    start = threading.Barrier(10)

    def submit(_: int) -> tuple[uuid.UUID, bool]:
        start.wait()
        request, created = submit_request(sessions, parsed, BookingSettings(), key)
        return request.id, created

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(submit, range(10)))
    assert len({request_id for request_id, _ in answers}) == 1
    assert sum(created for _, created in answers) == 1
    with sessions() as db:
        assert db.scalar(select(func.count()).select_from(AppointmentRequest)
                         .where(AppointmentRequest.idempotency_key == key)) == 1
        # one request's two events: appointment.requested and contact.requested
        assert db.scalar(select(func.count()).select_from(outbox)) == 2


def test_bad_forms_retries_and_unserved_places_count_towards_the_address_limit(api) -> None:
    url = "/api/appointment-requests"
    assert api.post(url, json={"name": ""}).status_code == 422
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = form()
    first = api.post(url, json=body, headers=key)
    assert first.status_code == 201
    again = api.post(url, json=body, headers=key)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    nowhere = api.post(url, json=form(mode="clinic", site="atlantis"))
    assert nowhere.status_code == 422
    assert nowhere.json()["detail"][0]["field"] == "site"
    assert api.post(url, json=form()).status_code == 201  # the fifth in ten minutes
    for refused in (api.post(url, json=form()), api.post(url, json={"name": ""})):
        assert refused.status_code == 429
        assert 0 < int(refused.headers["Retry-After"]) <= 600
        assert "try again later" in refused.json()["detail"]


def test_the_contact_limit_counts_each_phone_and_email(database, auth_keys) -> None:
    app = create_app(BookingSettings(database_url=database, auth_public_key=auth_keys[1],
                                     form_limit_per_contact=2))
    url = "/api/appointment-requests"
    with TestClient(app) as api:
        same = form()
        assert [api.post(url, json=same).status_code for _ in range(3)] == [201, 201, 429]
        refused = api.post(url, json=same)
        assert refused.status_code == 429
        assert 0 < int(refused.headers["Retry-After"]) <= 3600
        assert api.post(url, json=form()).status_code == 201  # another e-mail address is fine


def test_a_clinic_is_read_as_it_is_when_the_request_arrives(api, sessions) -> None:
    url = "/api/appointment-requests"
    with sessions.begin() as db:
        db.add(Clinic(id="bank", name="Bank", address="1 Threadneedle St", postcode="EC2R 8AH",
                      opening_hours={}, home_visit_districts=[]))
    assert api.post(url, json=form(mode="clinic", site="bank")).status_code == 201
    with sessions.begin() as db:
        db.execute(update(Clinic).where(Clinic.id == "bank").values(active=False))
    refused = api.post(url, json=form(mode="clinic", site="bank"))
    assert refused.status_code == 422
    [error] = refused.json()["detail"]
    assert error["field"] == "site" and "moorgate" in error["msg"]


def test_the_page_form_counts_towards_the_same_address_limit(api) -> None:
    bad = api.post("/", data={"name": ""})
    assert bad.status_code == 422 and "Enter your name" in bad.text
    good = {"name": "Bert Example", "email": "bert.page@example.org", "contact_channel": "email",
            "mode": "virtual", "reason": "stiff lower back", "consent": "yes"}
    sent = api.post("/", data=good, follow_redirects=False)
    assert sent.status_code == 303 and "/my-request/" in sent.headers["location"]
    assert [api.post("/api/appointment-requests", json=form()).status_code
            for _ in range(4)] == [201, 201, 201, 429]
    assert api.post("/", data=good, follow_redirects=False).status_code == 429


def test_the_page_form_keeps_the_per_contact_limit_too(api) -> None:
    same = {"name": "Bert Example", "email": "bert.again@example.org",
            "contact_channel": "email", "mode": "virtual", "reason": "stiff lower back",
            "consent": "yes"}
    answers = [api.post("/", data=same, follow_redirects=False).status_code for _ in range(3)]
    assert answers == [303, 303, 429]  # two per contact per hour in this app
    other = {**same, "email": "someone.else@example.org"}
    assert api.post("/", data=other, follow_redirects=False).status_code == 303


def test_a_reference_already_taken_is_drawn_again_in_a_new_transaction(sessions,
                                                                        monkeypatch) -> None:
    drawn = iter(["AAA-AAAA", "AAA-AAAA", "BBB-BBBB"])
    monkeypatch.setattr("booking.domain.requests.new_reference", lambda: next(drawn))
    counted: list[int] = []

    def admit(conn: object) -> None:
        counted.append(1)

    first, _ = submit_request(sessions, AppointmentRequestCreate.model_validate(form()),
                              BookingSettings(), admit=admit)
    second, created = submit_request(sessions, AppointmentRequestCreate.model_validate(form()),
                                     BookingSettings(), admit=admit)
    assert created and (first.reference, second.reference) == ("AAA-AAAA", "BBB-BBBB")
    assert len(counted) == 3  # the second request's first attempt rolled back, then again
    with sessions() as db:
        events = db.execute(select(outbox.c.payload).where(
            outbox.c.event_type == "appointment.requested")).scalars().all()
        stored = db.get(AppointmentRequest, second.id)
    assert sorted(e["data"]["reference"] for e in events) == ["AAA-AAAA", "BBB-BBBB"]
    assert stored is not None and stored.reference == "BBB-BBBB"
    [event] = [e for e in events if e["data"]["request_id"] == str(second.id)]
    assert event["data"]["requested_at"] == stored.created_at.isoformat().replace("+00:00", "Z")


def test_pooled_sessions_the_server_ended_do_not_fail_the_next_request(api, database) -> None:
    """The API pings a pooled connection only when the server said something on it: a
    restart (every session ended) is still unseen by the next patient."""
    url = "/api/appointment-requests"
    assert api.post(url, json=form()).status_code == 201
    others = ("FROM pg_stat_activity WHERE datname = current_database() "
              "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
    admin = create_engine(database, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            assert conn.execute(text(f"SELECT count(pg_terminate_backend(pid)) {others}")
                                ).scalar_one() >= 1
            wait_until(lambda: not conn.execute(text(f"SELECT count(*) {others}")).scalar_one(),
                       message="the sessions to end")
    finally:
        admin.dispose()
    assert api.post(url, json=form()).status_code == 201


def test_the_intake_stages_its_event_as_add_event_would(sessions) -> None:
    """booking's intake writes its outbox rows in the statement that stores the request: each
    row is the one clinic_shared.messaging.outbox.add_event writes, but for the event's own id
    and time."""
    from clinic_shared.correlation import correlation_id_var
    from clinic_shared.messaging.contracts import AppointmentRequestedV4, ContactRequestedV2
    from clinic_shared.messaging.outbox import add_event

    parsed = AppointmentRequestCreate.model_validate(form(
        red_flags={"fever": True}, body_areas=["knee"], after_surgery=True, surgery="knee op",
        surgery_date="2024-02-03", preferred_times=["weekend"]))
    token = correlation_id_var.set("stage-event-test")
    try:
        stored, _ = submit_request(sessions, parsed, BookingSettings(), "stage-event-key")
        with sessions() as db:
            [intake, contact] = db.execute(select(outbox).order_by(outbox.c.event_type)
                                           ).all()
        data = AppointmentRequestedV4.model_validate(intake.payload["data"])
        to_notify = ContactRequestedV2.model_validate(contact.payload["data"])
        with sessions.begin() as db:
            shared = add_event(db, outbox, data, source="booking")
            shared_contact = add_event(db, outbox, to_notify, source="booking")
    finally:
        correlation_id_var.reset(token)
    with sessions() as db:
        [again] = db.execute(select(outbox).where(outbox.c.event_id == shared.id)).all()
        [contact_again] = db.execute(
            select(outbox).where(outbox.c.event_id == shared_contact.id)).all()
        request = db.get(AppointmentRequest, stored.id)

    def comparable(row: object) -> dict[str, object]:
        values = dict(row._mapping)  # type: ignore[attr-defined]
        for column in ("id", "event_id", "created_at", "available_at"):
            values.pop(column)
        values["payload"] = {k: v for k, v in values["payload"].items()
                             if k not in ("id", "occurred_at")}
        return values

    assert comparable(intake) == comparable(again)
    assert comparable(contact) == comparable(contact_again)
    assert to_notify.urgent and to_notify.request_id == request.id
    assert intake.sent_at is None and intake.attempts == 0
    assert request is not None and str(request.id) == intake.payload["data"]["request_id"]
    assert (request.red_flags, request.body_areas, request.idempotency_key) == (
        ["fever"], ["knee"], "stage-event-key")
    assert intake.payload["version"] == 4 and data.reading.urgent and request.urgent
    assert request.red_flag_categories == list(dict.fromkeys(
        flag.category for flag in data.reading.red_flags)), "the ticked fever, read once"

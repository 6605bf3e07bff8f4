"""Idempotency-Key as the IETF draft describes it: the same key and body replay the first
answer; the same key with a different body is a 422 naming the header, and changes nothing."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from booking.adapters.tables import Appointment, AppointmentRequest, Therapist, WorkingPattern
from clinic_shared.auth.principal import Principal, Role
from clinic_shared.auth.tokens import TokenIssuer
from clinic_shared.db import make_session_factory
from tests.support.apps import build_app

FORM_URL = "/api/appointment-requests"


@pytest.fixture(scope="module")
def database(seeded_booking_database) -> str:
    return seeded_booking_database("idempotency")


@pytest.fixture(scope="module")
def sessions(database) -> Iterator[sessionmaker[Session]]:
    engine = create_engine(database)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def api(database, infra, auth_keys) -> Iterator[TestClient]:
    app = build_app("booking", database_url=database, amqp_url=infra.amqp_url, keys=auth_keys,
                    form_limit_per_address=1000, form_limit_per_contact=1000)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def desk(auth_keys) -> dict[str, str]:
    token = TokenIssuer(auth_keys[0], "clinic", "clinic-staff").issue(
        Principal(subject="reception", role=Role.receptionist))
    return {"Authorization": f"Bearer {token}"}


def form(email: str, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "Bert Example", "phone": "07400 123456", "email": email,
        "contact_channel": "email", "mode": "virtual", "reason": "stiff lower back",
        "consent": True,
    }
    body.update(overrides)
    return body


def count(sessions: sessionmaker[Session], model: type, **where: object) -> int:
    with sessions() as db:
        return db.scalar(select(func.count()).select_from(model).filter_by(**where))


def refused_for_reuse(response) -> None:
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["field"] == "Idempotency-Key"
    assert "different request body" in error["msg"]


def test_a_key_with_the_same_form_replays_the_first_answer(api, sessions) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = form("bert.same@example.org")
    first = api.post(FORM_URL, json=body, headers=key)
    assert first.status_code == 201
    # the same form, its keys in another order and the phone number spaced another way
    again = api.post(FORM_URL, json=dict(reversed(form(
        "bert.same@example.org", phone="+447400123456").items())), headers=key)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert count(sessions, AppointmentRequest, email="bert.same@example.org") == 1


def test_a_key_reused_with_another_form_is_refused_and_changes_nothing(api, sessions) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = api.post(FORM_URL, json=form("ada.first@example.org"), headers=key)
    assert first.status_code == 201
    for other in (form("ada.first@example.org", reason="a sore knee since Tuesday"),
                  form("someone.else@example.org")):
        refused_for_reuse(api.post(FORM_URL, json=other, headers=key))
    assert count(sessions, AppointmentRequest, email="someone.else@example.org") == 0
    with sessions() as db:
        stored = db.get_one(AppointmentRequest, uuid.UUID(first.json()["id"]))
        assert stored.reason == "stiff lower back"
    assert api.post(FORM_URL, json=form("ada.first@example.org"), headers=key).json()["id"] \
        == first.json()["id"]


@pytest.fixture
def bookable(sessions) -> tuple[uuid.UUID, uuid.UUID]:
    """A request and a therapist who works online every day, all day."""
    now = datetime.now(UTC)
    with sessions.begin() as db:
        therapist = Therapist(id=uuid.uuid4(), name="Priya", disciplines=["rehab_physio"],
                              sites=[], modes=["virtual"], active=True)
        db.add(therapist)
        db.flush()
        db.add_all(WorkingPattern(therapist_id=therapist.id, weekday=weekday,
                                  starts=time(0, 0), ends=time(23, 59), mode="virtual")
                   for weekday in range(7))
        request = AppointmentRequest(
            id=uuid.uuid4(), reference=f"IDM-{uuid.uuid4().hex[:4].upper()}", name="P",
            email="p@example.org", contact_channel="email", mode="virtual", reason="r",
            consent=True, contact_by=now, appointment_by=now + timedelta(hours=24))
        db.add(request)
        return request.id, therapist.id


def test_a_booking_key_reused_for_another_time_is_refused(api, sessions, desk,
                                                          bookable) -> None:
    request_id, therapist_id = bookable
    day = (datetime.now(UTC) + timedelta(days=2)).replace(hour=10, minute=0, second=0,
                                                          microsecond=0)
    body = {"request_id": str(request_id), "therapist_id": str(therapist_id),
            "starts_at": day.isoformat(), "mode": "virtual"}
    headers = {**desk, "Idempotency-Key": str(uuid.uuid4())}
    first = api.post("/api/appointments", json=body, headers=headers)
    assert first.status_code == 201, first.text
    later = {**body, "starts_at": (day + timedelta(hours=3)).isoformat()}
    refused_for_reuse(api.post("/api/appointments", json=later, headers=headers))
    assert count(sessions, Appointment, request_id=request_id) == 1
    again = api.post("/api/appointments", json=body, headers=headers)
    assert again.status_code == 200 and again.json() == first.json()

"""Strict input: a yes is JSON `true`, a date is ISO 8601 text, a home visit has a postcode.

Each refusal is a 422 naming the field, and nothing is stored; the page form (form-encoded, its
tick boxes "yes") keeps working.
"""

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select

from booking.adapters.tables import AppointmentRequest
from booking.operators.demo_schedule import seed_reference_data
from clinic_shared.auth.principal import Principal, Role
from clinic_shared.auth.tokens import TokenIssuer
from clinic_shared.db import make_session_factory
from tests.support.apps import service_apps

FORM_URL = "/api/appointment-requests"


def form(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "Bert Example", "email": f"bert.{uuid.uuid4().hex[:8]}@example.org",
        "contact_channel": "email", "mode": "virtual", "reason": "stiff lower back",
        "consent": True,
    }
    body.update(overrides)
    return body


@pytest.fixture(scope="module")
def databases(make_database):
    made: dict[str, str] = {}

    def make(service: str) -> str:
        made[service] = make_database(service)
        return made[service]

    return made, make


@pytest.fixture(scope="module")
def clients(databases, infra, auth_keys, tmp_path_factory):
    made, make = databases
    apps = service_apps(make, infra.amqp_url, auth_keys, tmp_path_factory.mktemp("sink"),
                        booking={"form_limit_per_address": 1000,
                                 "form_limit_per_contact": 1000})
    engine = create_engine(made["booking"])
    with make_session_factory(engine).begin() as db:
        seed_reference_data(db, demo_rota=False)  # the clinics and the districts they visit
    engine.dispose()
    return {name: TestClient(app, raise_server_exceptions=False) for name, app in apps.items()}


@pytest.fixture(scope="module")
def admin(auth_keys) -> dict[str, str]:
    token = TokenIssuer(auth_keys[0], "clinic", "clinic-staff").issue(
        Principal(subject="lead", role=Role.admin))
    return {"Authorization": f"Bearer {token}"}


def stored_requests(databases) -> int:
    engine = create_engine(databases[0]["booking"])
    try:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(AppointmentRequest.__table__))
    finally:
        engine.dispose()


def refused_fields(response) -> list[str]:
    assert response.status_code == 422, response.text
    return [error["field"] for error in response.json()["detail"]]


@pytest.mark.parametrize("consent", ["yes", "true", "on", 1, "1"])
def test_consent_is_only_the_json_value_true(clients, databases, consent) -> None:
    before = stored_requests(databases)
    response = clients["booking"].post(FORM_URL, json=form(consent=consent))
    assert refused_fields(response) == ["consent"]
    assert stored_requests(databases) == before


def test_consent_true_is_taken(clients) -> None:
    assert clients["booking"].post(FORM_URL, json=form(consent=True)).status_code == 201


@pytest.mark.parametrize(("overrides", "field"), [
    ({"after_surgery": "yes"}, "after_surgery"),
    ({"after_surgery": 1}, "after_surgery"),
    ({"red_flags": {"fever": "no"}}, "red_flags.fever"),
    ({"red_flags": {"saddle_numbness": 0}}, "red_flags.saddle_numbness"),
    ({"surgery_date": 1704067200}, "surgery_date"),  # midnight, 1 January 2024
    ({"surgery_date": "1704067200"}, "surgery_date"),
])
def test_no_text_or_number_is_read_as_a_yes_or_a_date(clients, databases, overrides,
                                                      field) -> None:
    before = stored_requests(databases)
    response = clients["booking"].post(FORM_URL, json=form(**overrides))
    assert refused_fields(response) == [field]
    assert stored_requests(databases) == before


def test_iso_dates_and_json_booleans_are_taken(clients) -> None:
    response = clients["booking"].post(FORM_URL, json=form(
        after_surgery=True, surgery="lumbar fusion", surgery_date="2026-06-01",
        red_flags={"fever": False}))
    assert response.status_code == 201, response.text


def test_a_home_visit_needs_a_postcode(clients, databases) -> None:
    before = stored_requests(databases)
    response = clients["booking"].post(FORM_URL, json=form(mode="home_visit"))
    assert refused_fields(response) == ["postcode"]
    assert "postcode" in response.json()["detail"][0]["msg"]
    assert stored_requests(databases) == before
    visited = clients["booking"].post(FORM_URL, json=form(mode="home_visit", postcode="EC2Y 9AE"))
    assert visited.status_code == 201, visited.text


def test_the_page_form_without_a_home_visit_postcode_says_so(clients, databases) -> None:
    before = stored_requests(databases)
    page = clients["booking"].post("/", data={
        "name": "Bert Example", "email": "bert.page@example.org", "contact_channel": "email",
        "mode": "home_visit", "reason": "stiff lower back", "consent": "yes"})
    assert page.status_code == 422
    assert "give the postcode where we should visit you" in page.text.lower()
    assert stored_requests(databases) == before


def test_the_page_form_still_takes_its_tick_boxes(clients) -> None:
    page = clients["booking"].post("/", data={
        "name": "Bert Example", "email": "bert.ticks@example.org", "contact_channel": "email",
        "mode": "virtual", "reason": "stiff lower back", "after_surgery": "yes",
        "surgery_date": "2026-06-01", "consent": "yes"}, follow_redirects=False)
    assert page.status_code == 303, page.text


@pytest.mark.parametrize("start", ["0.5", "1700000000", "nan"])
def test_a_slot_search_start_is_a_date_time_not_a_number(clients, admin, start) -> None:
    response = clients["booking"].get("/api/slots", params={"start": start}, headers=admin)
    assert refused_fields(response) == ["query.start"]
    assert "ISO 8601" in response.json()["detail"][0]["msg"]


def test_a_slot_search_start_in_iso_8601_is_taken(clients, admin) -> None:
    response = clients["booking"].get("/api/slots", params={"start": "2027-03-28T09:00:00Z"},
                                      headers=admin)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("service", ["booking", "referral", "notify"])
def test_the_audit_trail_since_is_a_date_time_not_a_number(clients, admin, service) -> None:
    response = clients[service].get("/api/audit-events", params={"since": "0.5"}, headers=admin)
    assert refused_fields(response) == ["query.since"]


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/appointments", {"request_id": str(uuid.uuid4()), "therapist_id": str(uuid.uuid4()),
                           "starts_at": 1900000000, "mode": "virtual"}, "starts_at"),
    ("/api/appointments", {"request_id": str(uuid.uuid4()), "therapist_id": str(uuid.uuid4()),
                           "starts_at": "1900000000", "mode": "virtual"}, "starts_at"),
    (f"/api/therapists/{uuid.uuid4()}/exceptions",
     {"starts_at": 1900000000, "ends_at": "2030-03-17T10:00:00Z", "reason": "leave"},
     "starts_at"),
    (f"/api/appointments/{uuid.uuid4()}/reschedule", {"starts_at": 1900000000.5},
     "starts_at"),
])
def test_staff_bodies_take_no_number_for_a_date_time(clients, admin, path, body, field) -> None:
    response = clients["booking"].post(path, json=body, headers=admin)
    assert refused_fields(response) == [field]


def test_a_rota_time_is_text_not_seconds(clients, admin) -> None:
    response = clients["booking"].put(
        f"/api/therapists/{uuid.uuid4()}/working-patterns", headers=admin,
        json=[{"weekday": 0, "starts": 32400, "ends": "17:00", "mode": "virtual"}])
    assert refused_fields(response) == ["0.starts"]


@pytest.mark.parametrize("active", ["no", 0, "false"])
def test_a_therapist_is_not_deactivated_by_a_word_or_a_number(clients, admin, active) -> None:
    response = clients["referral"].patch(f"/api/therapists/{uuid.uuid4()}",
                                         json={"active": active}, headers=admin)
    assert refused_fields(response) == ["active"]


def test_the_suggestion_tick_box_is_a_json_boolean(clients, admin) -> None:
    response = clients["referral"].post("/api/suggestions", headers=admin,
                                        json={"text": "stiff back", "after_surgery": "yes"})
    assert refused_fields(response) == ["after_surgery"]

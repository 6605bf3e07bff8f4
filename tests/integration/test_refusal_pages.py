"""A refusal a person meets in a browser (404, 405, 413, 429, 500) is a page in the clinic's look
saying what to do next; API calls and other clients keep their JSON."""

import re

import pytest
from fastapi.testclient import TestClient

from tests.support.apps import service_apps

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
JSON = {"Accept": "application/json"}


@pytest.fixture(scope="module")
def clients(make_database, infra, auth_keys, tmp_path_factory):
    apps = service_apps(make_database, infra.amqp_url, auth_keys,
                        tmp_path_factory.mktemp("sink"),
                        booking={"form_limit_per_address": 1, "max_body_bytes": 4096})

    def fails() -> None:
        raise RuntimeError("a bug")

    for app in apps.values():  # a route with a bug, as a page and as an API
        app.add_api_route("/a-page-with-a-bug", fails)
        app.add_api_route("/api/a-route-with-a-bug", fails)
    return {name: TestClient(app, raise_server_exceptions=False) for name, app in apps.items()}


def assert_clinic_page(response, status: int, heading: str) -> str:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert f"<h1>{heading}</h1>" in page
    assert 'href="/static/clinic.css"' in page, "the clinic's own look"
    assert "020 7946 0000" in page, "who to call"
    assert "detail" not in page
    return page


@pytest.mark.parametrize("service", ["booking", "referral", "notify"])
def test_a_missing_page_is_a_page_for_a_browser_and_json_for_the_rest(clients, service) -> None:
    client = clients[service]
    assert_clinic_page(client.get("/no-such-page", headers=BROWSER), 404, "Page not found")
    assert client.get("/no-such-page", headers=JSON).json() == {"detail": "Not Found"}
    api = client.get("/api/no-such-thing", headers=BROWSER)
    assert api.status_code == 404 and api.json() == {"detail": "Not Found"}, "APIs keep JSON"


def test_the_start_page_is_offered_where_there_is_one(clients) -> None:
    booking = clients["booking"].get("/no-such-page", headers=BROWSER).text
    assert '<a href="/">Back to the request form</a>' in booking
    assert "<a href" not in clients["notify"].get("/no-such-page", headers=BROWSER).text.split(
        "<main")[1].split("</main>")[0], "notify has no pages to send anyone to"


def test_a_wrong_method_is_a_page(clients) -> None:
    page = clients["referral"].get("/sign-out", headers=BROWSER)
    assert_clinic_page(page, 405, "This page cannot be used like that")


def test_a_failure_is_a_page_for_a_browser_and_json_for_an_api(clients) -> None:
    page = assert_clinic_page(clients["booking"].get("/a-page-with-a-bug", headers=BROWSER), 500,
                              "Sorry, something went wrong on our side")
    assert "a bug" not in page and "RuntimeError" not in page
    api = clients["booking"].get("/api/a-route-with-a-bug", headers=BROWSER)
    assert api.status_code == 500 and api.json() == {"detail": "Internal server error"}


def test_an_oversized_form_is_a_page_and_an_oversized_api_body_json(clients) -> None:
    booking = clients["booking"]
    too_long = {"name": "Bert Example", "reason": "x" * 5000}
    page = assert_clinic_page(booking.post("/", data=too_long, headers=BROWSER), 413,
                              "What you sent is too long")
    assert "shorten your longest answer" in page
    api = booking.post("/api/appointment-requests", json=too_long, headers=JSON)
    assert api.status_code == 413 and "larger than 4096 bytes" in api.json()["detail"]


def test_the_form_over_its_limit_is_a_page_saying_when_to_try_again(clients) -> None:
    booking = clients["booking"]
    first = booking.post("/", data={"name": ""}, headers=BROWSER)  # a mistake counts too
    assert first.status_code == 422 and "Enter your name" in first.text
    refused = booking.post("/", data={"name": ""}, headers=BROWSER)
    page = assert_clinic_page(refused, 429, "Too many attempts")
    assert 0 < int(refused.headers["Retry-After"]) <= 600
    assert re.search(r"Please try again in \d+ minutes? \(after \d\d:\d\d\)\.", page)
    assert "In an emergency call 999" in page
    api = booking.post("/api/appointment-requests", json={"name": ""}, headers=JSON)
    assert api.status_code == 429 and "try again later" in api.json()["detail"]

"""Inputs the fuzzer found that once gave 500s: each is now a clear 4xx naming what is wrong."""

import pytest
from fastapi.testclient import TestClient

from clinic_shared.auth.principal import Principal, Role
from clinic_shared.auth.tokens import TokenIssuer
from tests.support.apps import service_apps

FORM = {"name": "Bert\u0000", "phone": "07400 123456", "contact_channel": "sms",
        "mode": "virtual", "reason": "stiff back", "consent": True}


@pytest.fixture(scope="module")
def clients(make_database, infra, auth_keys, tmp_path_factory):
    apps = service_apps(make_database, infra.amqp_url, auth_keys,
                        tmp_path_factory.mktemp("sink"))
    return {name: TestClient(app, raise_server_exceptions=False) for name, app in apps.items()}


def admin(auth_keys) -> dict[str, str]:
    token = TokenIssuer(auth_keys[0], "clinic", "clinic-staff").issue(
        Principal(subject="lead", role=Role.admin))
    return {"Authorization": f"Bearer {token}"}


def test_nul_character_in_the_form_names_the_field(clients) -> None:
    response = clients["booking"].post("/api/appointment-requests", json=FORM)
    assert response.status_code == 422
    assert [(e["field"], e["msg"]) for e in response.json()["detail"]] == [
        ("name", "must not contain NUL characters")]


@pytest.mark.parametrize("service", ["booking", "referral", "notify"])
def test_nul_character_in_a_query_names_the_parameter(clients, auth_keys, service) -> None:
    response = clients[service].get("/api/audit-events", params={"actor": "\u0000"},
                                    headers=admin(auth_keys))
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "actor"


@pytest.mark.parametrize("username", ["u" * 300, "\u0000", "reception\u0000"])
def test_impossible_usernames_are_just_wrong_credentials(clients, username) -> None:
    response = clients["referral"].post("/api/auth/token",
                                        data={"username": username, "password": "x"})
    assert response.status_code == 401

"""What the API says when its database or broker does not answer: 503, naming which, no 500."""

import pytest
from fastapi.testclient import TestClient

from booking.api import create_app
from booking.settings import BookingSettings
from tests.support.ports import free_port

FORM = {"name": "Bert Example", "phone": "07400 123456", "contact_channel": "sms",
        "mode": "virtual", "reason": "stiff back", "consent": True}


@pytest.fixture
def closed_port() -> int:
    return free_port()  # nothing listens there


@pytest.fixture
def client(auth_keys):
    def make(**settings: str) -> TestClient:
        app = create_app(BookingSettings(auth_public_key=auth_keys[1], **settings))
        return TestClient(app, raise_server_exceptions=False)

    return make


def test_database_down_gives_503_on_readyz_and_on_submit(infra, closed_port, client):
    api = client(database_url=f"postgresql+psycopg://postgres@127.0.0.1:{closed_port}/booking",
                 amqp_url=infra.amqp_url)
    ready = api.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["down"] == ["database"]

    submitted = api.post("/api/appointment-requests", json=FORM)
    assert submitted.status_code == 503
    assert "may not have been saved" in submitted.json()["detail"]
    assert submitted.headers["Retry-After"]
    assert api.get("/healthz").status_code == 200


def test_broker_down_is_named_on_readyz(migrated_database, closed_port, client):

    url = migrated_database("booking", "readyz")
    api = client(database_url=url, amqp_url=f"amqp://guest:guest@127.0.0.1:{closed_port}/%2F")
    ready = api.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["down"] == ["broker"]
    assert ready.json()["checks"] == {"database": "ok", "broker": "down"}
    assert api.post("/api/appointment-requests", json=FORM).status_code == 201

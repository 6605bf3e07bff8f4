"""What the API says when its database or broker does not answer: 503 without the database;
still ready without the broker (the outbox holds the events), which /readyz and /metrics name."""

from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from booking.api.app import create_app
from booking.settings import BookingSettings
from tests.support.ports import free_port
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import wait_until

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


def test_broker_down_is_named_on_readyz_but_the_api_stays_ready(migrated_database, closed_port,
                                                                client):
    url = migrated_database("booking", "readyz")
    api = client(database_url=url, amqp_url=f"amqp://guest:guest@127.0.0.1:{closed_port}/%2F")
    ready = api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["down"] == ["broker"]
    assert ready.json()["checks"] == {"database": "ok", "broker": "down"}
    assert 'broker_connected{service="booking"} 0.0' in api.get("/metrics").text
    assert api.post("/api/appointment-requests", json=FORM).status_code == 201


@pytest.fixture
def broker_proxy(infra):
    upstream = urlsplit(infra.amqp_url)
    proxy = TcpProxy(upstream.hostname or "127.0.0.1", upstream.port or 5672).start()
    yield proxy
    proxy.stop()


def test_probes_share_one_broker_connection_that_follows_an_outage(migrated_database, infra,
                                                                  broker_proxy, auth_keys):
    """A kubelet probing every few seconds opens no connection per probe, and a broker outage
    never takes the API out of its Service: the body and the metric say the broker is down."""
    upstream = urlsplit(infra.amqp_url)
    amqp_url = upstream._replace(netloc=f"{upstream.netloc.rsplit('@', 1)[0]}@127.0.0.1:"
                                        f"{broker_proxy.port}").geturl()
    app = create_app(BookingSettings(auth_public_key=auth_keys[1], amqp_url=amqp_url,
                                     database_url=migrated_database("booking", "probes")))

    def broker_state(api: TestClient) -> str:
        ready = api.get("/readyz")
        assert ready.status_code == 200, ready.text
        return ready.json()["checks"]["broker"]

    with TestClient(app, raise_server_exceptions=False) as api:
        wait_until(lambda: broker_state(api) == "ok", timeout=10, message="broker connected")
        for _ in range(10):
            assert broker_state(api) == "ok"
        assert broker_proxy.accepted == 1

        broker_proxy.block()
        wait_until(lambda: broker_state(api) == "down", timeout=10, message="broker seen down")
        assert 'broker_connected{service="booking"} 0.0' in api.get("/metrics").text
        assert api.post("/api/appointment-requests", json=FORM).status_code == 201

        broker_proxy.unblock()
        wait_until(lambda: broker_state(api) == "ok", timeout=30, message="broker seen back")
        assert 'broker_connected{service="booking"} 1.0' in api.get("/metrics").text

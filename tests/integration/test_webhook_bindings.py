"""notify's webhook queue on a real broker: it takes only the event types some subscription
asks for (a clinic with none pays nothing per request), from the moment the clinic lead's API
answers; a type nobody asks for any more is unbound by the worker's sync."""

import threading
import uuid

import pika
import pytest
from fastapi.testclient import TestClient

from clinic_shared.auth.principal import Role
from clinic_shared.db import make_engine
from notify.adapters.webhook_bindings import WebhookBindingsLoop, bind, bindings_lock, sync_bindings
from notify.api.app import create_app
from notify.settings import NotifySettings
from tests.integration.test_notify_contact_back import token


@pytest.fixture
def settings(migrated_database, auth_keys, infra, topology):
    return NotifySettings(_env_file=None, amqp_url=infra.amqp_url, amqp_prefix=topology.prefix,
                          database_url=migrated_database("notify", "notify_bindings"),
                          auth_public_key=auth_keys[1], webhook_allow_private_addresses=True,
                          webhook_bindings_interval=0.2)


@pytest.fixture
def engine(settings):
    made = make_engine(settings.database_url, pool_size=4)
    yield made
    made.dispose()


@pytest.fixture
def channel(infra):
    connection = pika.BlockingConnection(pika.URLParameters(infra.amqp_url))
    yield connection.channel()
    connection.close()


@pytest.fixture
def lead(settings, auth_keys):
    with TestClient(create_app(settings)) as client:
        client.headers.update(token(auth_keys, Role.admin))
        yield client


def heard(channel, topology, routing_key: str) -> int:
    """Publish one event under `routing_key`; how many the webhook queue took (then emptied)."""
    queue = topology.queue("notify", "webhook")
    channel.confirm_delivery()
    channel.basic_publish(topology.exchange, routing_key, b"{}",
                          pika.BasicProperties(message_id=str(uuid.uuid4())))
    taken = channel.queue_declare(queue, passive=True).method.message_count
    channel.queue_purge(queue)
    return taken


def subscribe(lead: TestClient, *event_types: str) -> str:
    made = lead.post("/api/webhooks/subscriptions", json={
        "name": "crm", "url": "http://127.0.0.1:9/hook", "event_types": list(event_types)})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def test_with_no_subscription_the_queue_takes_only_erasures(channel, topology, settings, engine):
    with bindings_lock(engine):
        sync_bindings(settings, engine)
    assert heard(channel, topology, "booking.contact.requested") == 0
    assert heard(channel, topology, "notify.notification.sent") == 0
    assert heard(channel, topology, "booking.patient.erased") == 1


def test_a_subscription_hears_its_types_from_the_answer_on_and_stops_when_deleted(
        channel, topology, lead):
    assert heard(channel, topology, "booking.contact.requested") == 0
    first = subscribe(lead, "contact.requested")
    assert heard(channel, topology, "booking.contact.requested") == 1
    assert heard(channel, topology, "notify.notification.sent") == 0  # not asked for
    second = subscribe(lead, "contact.requested", "notification.sent")
    assert heard(channel, topology, "notify.notification.sent") == 1
    # switched off, it is still owed what happens meanwhile (it gets it when switched on)
    off = lead.patch(f"/api/webhooks/subscriptions/{second}", json={"active": False})
    assert off.status_code == 200
    assert heard(channel, topology, "notify.notification.sent") == 1
    narrowed = lead.patch(f"/api/webhooks/subscriptions/{second}",
                          json={"event_types": ["referral.triaged"]})
    assert narrowed.status_code == 200
    assert heard(channel, topology, "notify.notification.sent") == 0
    assert heard(channel, topology, "referral.referral.triaged") == 1
    assert lead.delete(f"/api/webhooks/subscriptions/{second}").status_code == 204
    assert heard(channel, topology, "referral.referral.triaged") == 0
    assert heard(channel, topology, "booking.contact.requested") == 1  # the first still asks
    assert lead.delete(f"/api/webhooks/subscriptions/{first}").status_code == 204
    assert heard(channel, topology, "booking.contact.requested") == 0


def test_the_worker_unbinds_what_an_older_release_bound_and_binds_what_is_asked(
        channel, topology, settings, engine, lead):
    subscribe(lead, "contact.made")
    bind(settings, ["notify.contact.*", "booking.contact.answered"])  # the old static bindings
    assert heard(channel, topology, "booking.contact.answered") == 1
    stop = threading.Event()
    worker = threading.Thread(target=WebhookBindingsLoop(settings, engine).run, args=(stop,))
    worker.start()
    try:
        deadline = 50
        while heard(channel, topology, "booking.contact.answered") and deadline:
            stop.wait(0.1)
            deadline -= 1
        assert heard(channel, topology, "booking.contact.answered") == 0
        assert heard(channel, topology, "notify.contact.made") == 1
        assert heard(channel, topology, "notify.contact.clock_started") == 0
    finally:
        stop.set()
        worker.join(timeout=10)


def test_a_change_waits_for_a_sync_in_progress_so_the_sync_cannot_unbind_it(
        channel, topology, settings, engine, lead):
    """The sync reads the subscriptions and then unbinds; a subscription made between the two
    would lose its binding. The lock makes the change wait for the sync to finish."""
    answered = threading.Event()
    with bindings_lock(engine):
        maker = threading.Thread(target=lambda: (subscribe(lead, "appointment.booked"),
                                                 answered.set()))
        maker.start()
        assert not answered.wait(0.5)  # waiting for the lock
        sync_bindings(settings, engine)  # read before the subscription exists
    maker.join(timeout=10)
    assert answered.is_set()
    assert heard(channel, topology, "booking.appointment.booked") == 1


def test_before_any_worker_declared_the_queue_a_subscription_is_still_made(
        settings, auth_keys, infra):
    undeclared = settings.model_copy(update={"amqp_prefix": f"none-{uuid.uuid4().hex[:6]}."})
    with TestClient(create_app(undeclared)) as client:
        client.headers.update(token(auth_keys, Role.admin))
        subscribe(client, "contact.requested")  # the worker binds it when it declares


def test_the_broker_down_refuses_the_change_and_makes_nothing(settings, auth_keys):
    down = settings.model_copy(update={"amqp_url": "amqp://guest:guest@127.0.0.1:1/%2F"})
    with TestClient(create_app(down)) as client:
        client.headers.update(token(auth_keys, Role.admin))
        refused = client.post("/api/webhooks/subscriptions", json={
            "name": "crm", "url": "http://127.0.0.1:9/hook",
            "event_types": ["contact.requested"]})
        assert refused.status_code == 503
        assert "broker" in refused.json()["detail"]
        assert refused.headers["Retry-After"] == "5"
        assert client.get("/api/webhooks/subscriptions").json() == []

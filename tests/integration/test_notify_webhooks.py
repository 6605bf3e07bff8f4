"""notify's webhooks on a real database: deliveries owed, claimed in order, retried, given up,
disabled with the clinic lead told, replayed; secrets sealed at rest; the log pruned; the
clinic lead's API."""

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from clinic_shared.auth.principal import Role
from clinic_shared.db import make_engine, make_session_factory
from clinic_shared.messaging.contracts import (
    ContactRequestedV1,
    NotificationSentV1,
    PatientErasedV1,
)
from clinic_shared.messaging.envelope import Envelope, EventData
from notify.adapters.tables import (
    Notification,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from notify.adapters.webhooks import WebhookSender
from notify.api.app import create_app
from notify.domain.webhook_delivery import WebhookDeliveries, WebhookDeliveryLoop
from notify.domain.webhook_log import WebhookLogPruner, prune_delivery_log
from notify.domain.webhook_secrets import SecretBox, UnreadableSecret, reseal_all
from notify.domain.webhooks import create_subscription, on_event_for_webhooks
from notify.settings import NotifySettings
from tests.integration.test_notify_contact_back import token
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import WebhookReceiver


@pytest.fixture
def database_url(migrated_database):
    return migrated_database("notify", "notify_webhooks")


@pytest.fixture
def sessions(database_url):
    engine = make_engine(database_url, pool_size=6)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def settings(database_url, auth_keys, infra, topology):
    return NotifySettings(_env_file=None, database_url=database_url, amqp_url=infra.amqp_url,
                          amqp_prefix=topology.prefix,
                          auth_public_key=auth_keys[1], clinic_lead_email="lead@clinic.test",
                          webhook_allow_private_addresses=True, webhook_retry_base=60,
                          webhook_timeout=2, webhook_connect_timeout=1,
                          webhook_poll_interval=0.1)


@pytest.fixture
def receiver():
    made = WebhookReceiver().start()
    yield made
    made.stop()


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings)) as made:
        yield made


def subscribe(sessions, url: str, *event_types: str, scope: str = "basic") -> tuple[str, str]:
    box = SecretBox(NotifySettings(_env_file=None).webhook_secret_key_list())
    with sessions.begin() as session:
        row, secret = create_subscription(
            session, box, name="crm", url=url, event_types=list(event_types),
            scope=scope, created_by="test")  # type: ignore[arg-type]
        return str(row.id), secret


def hear(sessions, data: EventData, source: str = "booking",
         envelope: Envelope | None = None) -> Envelope:
    envelope = envelope or Envelope.wrap(data, source)
    with sessions.begin() as session:
        on_event_for_webhooks(session, data, envelope)
    return envelope


def requested(request_id: uuid.UUID | None = None) -> ContactRequestedV1:
    now = datetime.now(UTC)
    return ContactRequestedV1(
        request_id=request_id or uuid.uuid4(), reference="RWEB0001", name="Bert Example",
        phone="+447400123456", email="bert@example.org", contact_channel="email",
        mode="clinic", urgent=True, red_flag_categories=("cauda_equina",), requested_at=now,
        contact_by=now + timedelta(hours=1), appointment_by=now + timedelta(hours=24))


def sent(request_id: uuid.UUID) -> NotificationSentV1:
    return NotificationSentV1(notification_id=uuid.uuid4(), request_id=request_id,
                              kind="request_acknowledgement", channel="email",
                              sent_at=datetime.now(UTC))


def deliveries(sessions, subscription_id: str) -> list[WebhookDelivery]:
    with sessions() as session:
        return list(session.scalars(select(WebhookDelivery)
                                    .where(WebhookDelivery.subscription_id
                                           == uuid.UUID(subscription_id))
                                    .order_by(WebhookDelivery.seq)))


def test_an_event_is_owed_once_to_each_subscriber_and_contact_details_only_to_their_scope(
        sessions):
    basic, _ = subscribe(sessions, "https://crm.example/hook", "contact.requested")
    contact, _ = subscribe(sessions, "https://crm.example/hook", "contact.requested",
                           scope="contact")
    other, _ = subscribe(sessions, "https://crm.example/hook", "appointment.booked")
    data = requested()
    envelope = hear(sessions, data)
    hear(sessions, data, envelope=envelope)  # the same event again: nothing more owed
    [plain], [full] = deliveries(sessions, basic), deliveries(sessions, contact)
    assert deliveries(sessions, other) == []
    assert plain.payload["type"] == "contact.requested"
    assert plain.payload["data"]["event_id"] == str(envelope.id)
    assert plain.payload["data"]["reference"] == "RWEB0001"
    assert "email" not in plain.payload["data"] and "name" not in plain.payload["data"]
    assert full.payload["data"]["email"] == "bert@example.org"
    assert "red_flag_categories" not in full.payload["data"]  # clinical: never

    hear(sessions, PatientErasedV1(request_ids=[data.request_id], erased_at=datetime.now(UTC)))
    [full] = deliveries(sessions, contact)
    assert "email" not in full.payload["data"] and "name" not in full.payload["data"]


def test_one_requests_events_wait_behind_its_first_and_failures_back_off(
        sessions, settings, receiver):
    receiver.fail_seconds = 3600
    subscription_id, receiver.secret = subscribe(
        sessions, receiver.url, "contact.requested", "notification.sent")
    first, second = requested(), requested()
    hear(sessions, first)
    hear(sessions, sent(first.request_id), "notify")
    hear(sessions, second)
    store = WebhookDeliveries(settings, sessions)
    claimed = store.claim(10)
    assert sorted(d.payload["data"]["request_id"] for d in claimed) == sorted(
        [str(first.request_id), str(second.request_id)])  # not first's notification.sent
    assert all(d.payload["type"] == "contact.requested" for d in claimed)
    sender = WebhookSender(2, 1, allow_private=True)
    for due in claimed:
        started = datetime.now(UTC)
        store.record(due, sender.send(due.url, due.secret, due.message_id, due.payload), started)
    assert store.claim(10) == []  # backing off, and the follower still waits
    with sessions() as session:
        attempts = session.scalars(select(WebhookAttempt)).all()
        subscription = session.get(WebhookSubscription, uuid.UUID(subscription_id))
    assert [a.status_code for a in attempts] == [500, 500]
    assert subscription.failing_since is not None and subscription.active
    heads = [d for d in deliveries(sessions, subscription_id) if d.attempts]
    assert all(d.status == "pending" and d.last_status_code == 500 for d in heads)
    assert all(d.next_attempt_at > datetime.now(UTC) + timedelta(seconds=20) for d in heads)


def _fail_once(sessions, settings, receiver, *, failing_for: timedelta,
               tried_for: timedelta) -> str:
    """One failed try of a delivery first tried `tried_for` ago, at an endpoint failing for
    `failing_for` (zero: it answered others meanwhile)."""
    receiver.fail_seconds = 3600
    subscription_id, receiver.secret = subscribe(sessions, receiver.url, "contact.requested")
    hear(sessions, requested())
    store = WebhookDeliveries(settings, sessions)
    [due] = store.claim(1)
    with sessions.begin() as session:
        session.execute(text("UPDATE webhook_subscriptions SET failing_since = :t WHERE id = :id"),
                        {"t": datetime.now(UTC) - failing_for if failing_for else None,
                         "id": subscription_id})
    due = type(due)(**{**due.__dict__, "first_attempt_at": datetime.now(UTC) - tried_for})
    store.record(due, WebhookSender(2, 1, True).send(due.url, due.secret, due.message_id,
                                                     due.payload), datetime.now(UTC))
    return subscription_id


def test_an_endpoint_failing_for_a_day_is_disabled_and_the_clinic_lead_told(
        sessions, settings, receiver, client, auth_keys):
    subscription_id = _fail_once(sessions, settings, receiver, failing_for=timedelta(hours=25),
                                 tried_for=timedelta(hours=25))
    with sessions() as session:
        subscription = session.get(WebhookSubscription, uuid.UUID(subscription_id))
        [alert] = session.scalars(select(Notification)
                                  .where(Notification.kind == "webhook_disabled")).all()
    assert not subscription.active and subscription.disabled_at is not None
    assert alert.recipient == "lead@clinic.test" and alert.context["host"] == "127.0.0.1"
    [delivery] = deliveries(sessions, subscription_id)
    assert delivery.status == "pending"  # kept for when it is enabled again
    assert WebhookDeliveries(settings, sessions).claim(5) == []

    enabled = client.patch(f"/api/webhooks/subscriptions/{subscription_id}",
                           json={"active": True}, headers=token(auth_keys, Role.admin))
    assert enabled.status_code == 200, enabled.text
    assert enabled.json()["active"] and enabled.json()["failing_since"] is None
    assert len(WebhookDeliveries(settings, sessions).claim(5)) == 1


def test_a_delivery_gives_up_after_a_day_while_its_endpoint_answers_others_and_can_be_replayed(
        sessions, settings, receiver, client, auth_keys):
    subscription_id = _fail_once(sessions, settings, receiver, failing_for=timedelta(0),
                                 tried_for=timedelta(hours=25))
    [delivery] = deliveries(sessions, subscription_id)
    assert delivery.status == "failed"
    lead = token(auth_keys, Role.admin)
    log = client.get(f"/api/webhooks/subscriptions/{subscription_id}/deliveries", headers=lead)
    [row] = log.json()
    assert (row["status"], row["last_status_code"], row["webhook_id"]) == (
        "failed", 500, f"msg_{delivery.id.hex}")
    tries = client.get(f"/api/webhooks/subscriptions/{subscription_id}/deliveries/"
                       f"{delivery.id}/attempts", headers=lead).json()
    assert [t["status_code"] for t in tries] == [500] and tries[0]["duration_ms"] >= 0
    replayed = client.post(f"/api/webhooks/subscriptions/{subscription_id}/deliveries/"
                           f"{delivery.id}/replay", headers=lead)
    assert replayed.status_code == 200 and replayed.json()["status"] == "pending"
    assert replayed.json()["webhook_id"] == row["webhook_id"]  # receivers drop a copy
    missing = client.post(f"/api/webhooks/subscriptions/{subscription_id}/deliveries/"
                          f"{uuid.uuid4()}/replay", headers=lead)
    assert missing.status_code == 404


def test_the_loop_delivers_one_requests_events_signed_and_in_order(sessions, settings,
                                                                   receiver):
    subscription_id, receiver.secret = subscribe(
        sessions, receiver.url, "contact.requested", "notification.sent")
    data = requested()
    hear(sessions, data)
    hear(sessions, sent(data.request_id), "notify")
    stop = threading.Event()
    loop = threading.Thread(target=WebhookDeliveryLoop(settings, sessions).run, args=(stop,))
    loop.start()
    try:
        wait_until(lambda: len(receiver.events()) == 2, timeout=15, message="both webhooks")
    finally:
        stop.set()
        loop.join(10)
    assert [e["type"] for e in receiver.events()] == ["contact.requested", "notification.sent"]
    assert receiver.bad_signatures == 0
    assert all(d.status == "delivered" for d in deliveries(sessions, subscription_id))


def test_the_api_is_the_clinic_leads_and_refuses_private_urls_unless_allowed(
        client, settings, auth_keys):
    lead, desk = token(auth_keys, Role.admin), token(auth_keys, Role.receptionist)
    body = {"name": "crm", "url": "http://10.0.0.5/hook", "event_types": ["contact.requested"]}
    assert client.post("/api/webhooks/subscriptions", json=body,
                       headers=desk).status_code == 403
    with TestClient(create_app(settings.model_copy(
            update={"webhook_allow_private_addresses": False}))) as strict:
        refused = strict.post("/api/webhooks/subscriptions", json=body, headers=lead)
        assert refused.status_code == 422
        assert refused.json()["detail"][0]["field"] == "url"
        assert "private" in refused.json()["detail"][0]["msg"]
    wrong = client.post("/api/webhooks/subscriptions", headers=lead, json={
        **body, "url": "ftp://crm.example/", "event_types": ["appointment.requested"]})
    assert wrong.status_code == 422
    assert {e["field"] for e in wrong.json()["detail"]} == {"url", "event_types.0"}
    made = client.post("/api/webhooks/subscriptions", json=body, headers=lead)
    assert made.status_code == 201 and made.json()["secret"].startswith("whsec_")
    [listed] = client.get("/api/webhooks/subscriptions", headers=lead).json()
    assert "secret" not in listed
    gone = client.delete(f"/api/webhooks/subscriptions/{listed['id']}", headers=lead)
    assert gone.status_code == 204
    assert client.get(f"/api/webhooks/subscriptions/{listed['id']}",
                      headers=lead).status_code == 404


def test_the_clinic_leads_page_lists_subscriptions_and_each_ones_delivery_log(
        client, sessions, auth_keys):
    subscription_id, _ = subscribe(sessions, "https://crm.example/hook", "contact.requested")
    hear(sessions, requested())
    [delivery] = deliveries(sessions, subscription_id)
    html = {"Accept": "text/html"}
    listing = client.get("/webhooks", headers={**html, **token(auth_keys, Role.admin)})
    assert listing.status_code == 200 and "https://crm.example/hook" in listing.text
    log = client.get(f"/webhooks/{subscription_id}",
                     headers={**html, **token(auth_keys, Role.admin)})
    assert log.status_code == 200
    assert f"msg_{delivery.id.hex}" in log.text and "Replay" in log.text
    assert "bert@example.org" not in log.text  # the log shows no payload
    desk = client.get("/webhooks", headers={**html, **token(auth_keys, Role.receptionist)})
    assert desk.status_code == 403
    away = client.get("/webhooks", headers=html, follow_redirects=False)
    assert away.status_code == 303
    assert away.headers["location"] == "/referral/sign-in?next=/webhooks"
    assert client.get(f"/webhooks/{uuid.uuid4()}", headers={
        **html, **token(auth_keys, Role.admin)}).status_code == 404


def test_an_erasure_dry_run_names_deliveries_holding_contact_details(sessions, database_url):
    from clinic_shared.operators.erasure_preview import holdings

    subscribe(sessions, "https://crm.example/hook", "contact.requested", scope="contact")
    data = requested()
    hear(sessions, data)
    urls = {"referral": database_url, "notify": database_url}  # referral's part: unreadable
    assert "webhook delivery with contact details" in holdings(urls, [data.request_id])["notify"]
    hear(sessions, PatientErasedV1(request_ids=[data.request_id], erased_at=datetime.now(UTC)))
    assert "webhook" not in holdings(urls, [data.request_id])["notify"]


def test_a_claim_takes_a_share_of_each_subscription_and_none_of_a_busy_one(sessions, settings):
    slow, _ = subscribe(sessions, "https://slow.example/hook", "contact.requested")
    quick, _ = subscribe(sessions, "https://quick.example/hook", "contact.requested")
    for _ in range(3):
        hear(sessions, requested())
    store = WebhookDeliveries(settings.model_copy(
        update={"webhook_senders_per_subscription": 2}), sessions)
    claimed = store.claim(10, busy=[uuid.UUID(slow)])
    assert {str(d.subscription_id) for d in claimed} == {quick} and len(claimed) == 2
    claimed = store.claim(10)
    assert sorted(str(d.subscription_id) for d in claimed) == sorted([slow, slow, quick])


def stored_text(sessions) -> str:
    """Everything notify's database holds of its subscriptions, as a dump would show it."""
    with sessions() as session:
        return " ".join(session.scalars(text(
            "SELECT row_to_json(s)::text FROM webhook_subscriptions s")).all())


def test_a_secret_is_shown_once_and_a_dump_of_the_database_does_not_reveal_it(
        client, sessions, settings, auth_keys):
    lead = token(auth_keys, Role.admin)
    made = client.post("/api/webhooks/subscriptions", headers=lead, json={
        "name": "crm", "url": "http://127.0.0.1:9/hook", "event_types": ["contact.requested"]})
    assert made.status_code == 201, made.text
    secret, subscription_id = made.json()["secret"], made.json()["id"]
    assert secret.startswith("whsec_")
    assert secret not in stored_text(sessions) and secret[6:] not in stored_text(sessions)
    assert "secret" not in client.get(f"/api/webhooks/subscriptions/{subscription_id}",
                                      headers=lead).json()
    hear(sessions, requested())
    [due] = WebhookDeliveries(settings, sessions).claim(1)
    assert due.secret == secret  # what signs the delivery is the secret the lead was shown

    rotated = client.post(f"/api/webhooks/subscriptions/{subscription_id}/secret",
                          headers=lead).json()["secret"]
    assert rotated != secret and rotated not in stored_text(sessions)
    with sessions() as session:
        sealed = session.get(WebhookSubscription, uuid.UUID(subscription_id)).secret_sealed
    assert SecretBox(settings.webhook_secret_key_list()).open(sealed) == rotated
    with pytest.raises(UnreadableSecret):  # another key (the dump's reader has none)
        SecretBox([Fernet.generate_key().decode()]).open(sealed)


def test_a_new_key_listed_first_reseals_every_secret_so_the_old_one_can_go(sessions, settings):
    _, secret = subscribe(sessions, "https://crm.example/hook", "contact.requested")
    old = settings.webhook_secret_key_list()[0]
    new = Fernet.generate_key().decode()
    with sessions.begin() as session:
        assert reseal_all(session, SecretBox([new, old])) >= 1
    with sessions() as session:
        sealed = session.scalars(select(WebhookSubscription.secret_sealed)).all()
    assert secret in [SecretBox([new]).open(s) for s in sealed]
    with pytest.raises(UnreadableSecret):
        SecretBox([old]).open(sealed[0])


def test_the_delivery_log_is_pruned_after_its_days_but_what_is_owed_is_kept(
        sessions, settings):
    subscription_id, _ = subscribe(sessions, "https://crm.example/hook", "contact.requested")
    for _ in range(5):
        hear(sessions, requested())
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=31), now - timedelta(days=29)
    rows = deliveries(sessions, subscription_id)
    # two delivered long ago, one delivered lately, one failed long ago, one still owed (its
    # endpoint disabled) with a try long ago
    states = [("delivered", old), ("delivered", old), ("delivered", recent), ("failed", old),
              ("pending", old)]
    with sessions.begin() as session:
        for row, (status, when) in zip(rows, states, strict=True):
            session.execute(text(
                "UPDATE webhook_deliveries SET status = :s, attempts = 1, last_attempt_at = :t "
                "WHERE id = :id"), {"s": status, "t": when, "id": row.id})
            session.add(WebhookAttempt(delivery_id=row.id, subscription_id=row.subscription_id,
                                       attempted_at=when, duration_ms=5, status_code=200,
                                       outcome="delivered"))
    with sessions.begin() as session:  # in batches: two of each at most
        assert prune_delivery_log(session, 30, now, batch=2) == (2, 2)
    pruner = WebhookLogPruner(settings.model_copy(update={"webhook_log_days": 30}), sessions)
    while pruner.prune_once(now):
        pass
    kept = {row.id: row.status for row in deliveries(sessions, subscription_id)}
    assert kept == {rows[2].id: "delivered", rows[4].id: "pending"}
    with sessions() as session:
        tries = session.scalars(select(WebhookAttempt.delivery_id)).all()
    assert tries == [rows[2].id]  # the owed one's old try is gone, the row itself kept

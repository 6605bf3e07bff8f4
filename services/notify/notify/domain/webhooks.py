"""Webhook subscriptions and the deliveries owed to them: the rules, no FastAPI (will become
domain/webhooks.py).

An event heard on notify's webhook queue owes one delivery to every subscription that asked
for its type, inserted in the consumer's inbox transaction (one statement; unique per
subscription and event), so an event is owed once however often the broker brings it. Disabled
subscriptions are owed too: re-enabled, they get what they missed. A delivery's id is the
`webhook-id` receivers de-duplicate on, kept by every retry and replay.
"""

import base64
import json
import secrets
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from clinic_shared.messaging.envelope import Envelope, EventData
from notify.adapters.tables import WebhookAttempt, WebhookDelivery, WebhookSubscription
from notify.domain.errors import NotFound
from notify.domain.webhook_payloads import (
    CONTACT_FIELDS,
    EVENT_TYPES,
    Scope,
    order_key,
    payload_data,
)
from notify.domain.webhook_secrets import SecretBox

ERASED = "patient.erased"


class WebhookNotFound(NotFound):
    """No such subscription, or no such delivery of it (answered 404 like every NotFound)."""


def new_secret() -> str:
    """A Standard Webhooks secret: "whsec_" and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def create_subscription(session: Session, box: SecretBox, *, name: str, url: str,
                        event_types: list[str], scope: Scope,
                        created_by: str) -> tuple[WebhookSubscription, str]:
    """The new subscription and its secret: in clear here only (the row keeps it sealed)."""
    secret = new_secret()
    subscription = WebhookSubscription(
        name=name, url=url, event_types=sorted(set(event_types)), scope=scope,
        secret_sealed=box.seal(secret), active=True, created_by=created_by)
    session.add(subscription)
    session.flush()
    return subscription, secret


def subscription(session: Session, subscription_id: uuid.UUID,
                 lock: bool = False) -> WebhookSubscription:
    found = session.get(WebhookSubscription, subscription_id, with_for_update=lock)
    if found is None:
        raise WebhookNotFound("No such webhook subscription")
    return found


def change_subscription(session: Session, subscription_id: uuid.UUID,
                        changes: dict[str, Any]) -> WebhookSubscription:
    """Apply the changes given (name, url, event_types, scope, active); enabling it again
    forgets its failures, so it has a day again before it is disabled."""
    found = subscription(session, subscription_id, lock=True)
    for name in ("name", "url", "scope"):
        if name in changes:
            setattr(found, name, changes[name])
    if "event_types" in changes:
        found.event_types = sorted(set(changes["event_types"]))
    if changes.get("active") is True and not found.active:
        found.active, found.failing_since, found.disabled_at = True, None, None
    elif changes.get("active") is False:
        found.active = False
    return found


def rotate_secret(session: Session, box: SecretBox,
                  subscription_id: uuid.UUID) -> tuple[WebhookSubscription, str]:
    """A new secret for the subscription, in clear here only."""
    found = subscription(session, subscription_id, lock=True)
    secret = new_secret()
    found.secret_sealed = box.seal(secret)
    return found, secret


def delete_subscription(session: Session, subscription_id: uuid.UUID) -> None:
    session.delete(subscription(session, subscription_id))


def webhook_payload(envelope: Envelope, scope: Scope) -> dict[str, Any]:
    """The body receivers get (Standard Webhooks' shape: type, timestamp, data)."""
    return {"type": envelope.type, "timestamp": envelope.occurred_at.isoformat(),
            "data": {"event_id": str(envelope.id), "event_version": envelope.version,
                     **payload_data(envelope.type, envelope.data, scope)}}


OWE = text("""
    INSERT INTO webhook_deliveries (id, subscription_id, event_id, event_type, request_id,
                                    occurred_at, payload, status, attempts, next_attempt_at)
    SELECT gen_random_uuid(), s.id, :event_id, CAST(:event_type AS varchar),
           CAST(:request_id AS uuid),
           :occurred_at,
           CASE WHEN s.scope = 'contact' THEN CAST(:contact AS jsonb)
                ELSE CAST(:basic AS jsonb) END,
           'pending', 0, now()
    FROM webhook_subscriptions s WHERE CAST(:event_type AS varchar) = ANY(s.event_types)
    ON CONFLICT (subscription_id, event_id) DO NOTHING
""")

SCRUB = text("""
    UPDATE webhook_deliveries
    SET payload = jsonb_set(payload, '{data}', (payload->'data') - CAST(:fields AS text[]))
    WHERE request_id = ANY(CAST(:ids AS uuid[])) AND (payload->'data') ?| CAST(:fields AS text[])
""")


def owe_deliveries(session: Session, envelope: Envelope) -> None:
    """One delivery of `envelope` to each subscription that asked for its type."""
    if envelope.type not in EVENT_TYPES:
        return
    session.execute(OWE, {
        "event_id": envelope.id, "event_type": envelope.type,
        "request_id": order_key(envelope.type, envelope.data),
        "occurred_at": envelope.occurred_at,
        "basic": json.dumps(webhook_payload(envelope, "basic")),
        "contact": json.dumps(webhook_payload(envelope, "contact"))})


def erase_contact_details(session: Session, request_ids: list[str]) -> None:
    """Remove the patients' contact details from every delivery about their requests (sent
    or not): what is still owed goes without them."""
    session.execute(SCRUB, {"ids": request_ids, "fields": list(CONTACT_FIELDS)})


def on_event_for_webhooks(session: Session, _data: EventData, envelope: Envelope) -> None:
    """Owe the event to its subscribers; an erasure first takes the patients' contact
    details out of what they are owed (and then is owed itself)."""
    if envelope.type == ERASED:
        erase_contact_details(session, [str(i) for i in envelope.data.get("request_ids", [])])
    owe_deliveries(session, envelope)


def deliveries_of(session: Session, subscription_id: uuid.UUID, status: str | None,
                  limit: int) -> list[WebhookDelivery]:
    """The subscription's delivery log, newest first."""
    subscription(session, subscription_id)
    query = select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    return list(session.scalars(query.order_by(WebhookDelivery.created_at.desc(),
                                               WebhookDelivery.seq.desc()).limit(limit)))


def delivery(session: Session, subscription_id: uuid.UUID, delivery_id: uuid.UUID,
             lock: bool = False) -> WebhookDelivery:
    found = session.get(WebhookDelivery, delivery_id, with_for_update=lock)
    if found is None or found.subscription_id != subscription_id:
        raise WebhookNotFound("No such delivery of that subscription")
    return found


def attempts_of(session: Session, subscription_id: uuid.UUID,
                delivery_id: uuid.UUID) -> list[WebhookAttempt]:
    delivery(session, subscription_id, delivery_id)
    return list(session.scalars(select(WebhookAttempt)
                                .where(WebhookAttempt.delivery_id == delivery_id)
                                .order_by(WebhookAttempt.attempted_at)))


def replay(session: Session, subscription_id: uuid.UUID, delivery_id: uuid.UUID,
           now: datetime) -> WebhookDelivery:
    """Send the delivery again, under the same id (a receiver that has it drops the copy);
    one still pending is simply due at once."""
    found = delivery(session, subscription_id, delivery_id, lock=True)
    found.status, found.next_attempt_at = "pending", now
    return found


def replay_failed(session: Session, subscription_id: uuid.UUID, now: datetime) -> int:
    """Every delivery of the subscription that gave up, due again at once."""
    subscription(session, subscription_id)
    result = session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.subscription_id == subscription_id,
               WebhookDelivery.status == "failed")
        .values(status="pending", next_attempt_at=now))
    return int(result.rowcount)  # type: ignore[attr-defined]

"""The clinic lead's webhooks API: subscriptions, their delivery log, replays. Only the admin
role (the clinic lead); every change is audited."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from clinic_shared import audit as audit_trail
from clinic_shared.auth.access import allow
from clinic_shared.auth.principal import Role
from clinic_shared.log import get_logger
from clinic_shared.web.app import field_error
from clinic_shared.web.refusals import NOT_FOUND
from notify.adapters import webhook_bindings as bindings
from notify.adapters.tables import WebhookDelivery, WebhookSubscription, audit
from notify.adapters.webhooks import UnsafeDestination, check_url, resolve
from notify.api.dependencies import SessionsDep, SettingsDep, StaffDep
from notify.domain import webhooks
from notify.domain.webhook_delivery import message_id
from notify.domain.webhook_payloads import CATALOG, EVENT_TYPES, Scope
from notify.domain.webhook_secrets import SecretBox
from notify.settings import NotifySettings

log = get_logger(__name__)
router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])
LEAD = allow(Role.admin)
EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]


def _url(value: str) -> str:
    try:
        check_url(value)
    except UnsafeDestination as exc:
        raise ValueError(str(exc)) from None
    return value


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    url: str = Field(max_length=2000, description="https:// (or http://) URL receiving POSTs")
    event_types: list[EventType] = Field(min_length=1)
    scope: Scope = Field(default="basic", description='"contact": payloads carry the '
                         "patient's contact details where the event has them")

    _check_url = field_validator("url")(_url)


class SubscriptionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100)
    url: str | None = Field(default=None, max_length=2000)
    event_types: list[EventType] | None = Field(default=None, min_length=1)
    scope: Scope | None = None
    active: bool | None = Field(default=None, description="true enables a disabled one again")

    _check_url = field_validator("url")(lambda value: value if value is None else _url(value))


class SubscriptionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    url: str
    event_types: list[str]
    scope: str
    active: bool
    failing_since: datetime | None
    disabled_at: datetime | None
    created_by: str
    created_at: datetime


class SubscriptionWithSecret(SubscriptionPublic):
    secret: str = Field(description="verify deliveries with it (Standard Webhooks); shown "
                        "only now: keep it")


class DeliveryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    webhook_id: str = Field(description="the webhook-id header: the same on every retry")
    event_id: uuid.UUID
    event_type: str
    status: str
    attempts: int
    created_at: datetime
    first_attempt_at: datetime | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_status_code: int | None
    last_error: str | None


class AttemptPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    attempted_at: datetime
    duration_ms: int
    status_code: int | None
    outcome: str
    error: str | None


class EventTypePublic(BaseModel):
    name: str
    fields: list[str]
    contact_fields: list[str] = Field(description='only for a "contact" subscription')


def _reachable(url: str | None, settings: NotifySettings) -> None:
    """Refuse a URL whose host resolves to an address deliveries may not reach (422)."""
    if url is None:
        return
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        resolve(parts.hostname or "", port, settings.webhook_allow_private_addresses)
    except UnsafeDestination as exc:
        raise field_error("url", str(exc)) from None


def _with_secret(row: WebhookSubscription, secret: str) -> SubscriptionWithSecret:
    return SubscriptionWithSecret.model_validate(
        {**SubscriptionPublic.model_validate(row).model_dump(), "secret": secret})


def _box(settings: NotifySettings) -> SecretBox:
    return SecretBox(settings.webhook_secret_key_list())


@contextmanager
def _rebinding(settings: NotifySettings, sessions: SessionsDep) -> Iterator[Session]:
    """A transaction changing subscriptions: the webhook queue is bound to what they ask for
    before it commits (none of their events is missed), and unbound from what none asks for
    after (adapters/webhook_bindings.py). The broker down: 503, and nothing changed."""
    engine = sessions.kw["bind"]
    try:
        with bindings.bindings_lock(engine):
            with sessions.begin() as session:
                yield session
                session.flush()
                bindings.bind(settings, bindings.subscribed_keys(session))
            try:
                bindings.sync_bindings(settings, engine)
            except bindings.BrokerUnavailable as exc:  # the worker's next sync unbinds
                log.warning("webhook.unbind_deferred", error=str(exc))
    except bindings.BrokerUnavailable as exc:
        log.warning("webhook.bind_failed", error=str(exc))
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=(
            "The message broker is unavailable, so the subscription was not changed. Please "
            "try again shortly."), headers={"Retry-After": "5"}) from None


def _delivery_public(row: WebhookDelivery) -> DeliveryPublic:
    fields = {name: getattr(row, name) for name in DeliveryPublic.model_fields
              if name != "webhook_id"}
    return DeliveryPublic.model_validate({**fields, "webhook_id": message_id(row.id)})


@router.get("/event-types", response_model=list[EventTypePublic], **LEAD)
def list_event_types(_staff: StaffDep) -> list[EventTypePublic]:
    """What a subscription may ask for, and what each payload carries per scope."""
    return [EventTypePublic(name=k.name, fields=list(k.fields),
                            contact_fields=list(k.contact_fields)) for k in CATALOG]


@router.get("/subscriptions", response_model=list[SubscriptionPublic], **LEAD)
def list_subscriptions(staff: StaffDep, sessions: SessionsDep) -> list[SubscriptionPublic]:
    """Every webhook subscription, newest first (secrets are never shown again)."""
    with sessions.begin() as session:
        rows = session.scalars(select(WebhookSubscription)
                               .order_by(WebhookSubscription.created_at.desc())).all()
        return [SubscriptionPublic.model_validate(row) for row in rows]


@router.post("/subscriptions", response_model=SubscriptionWithSecret,
             status_code=status.HTTP_201_CREATED, **LEAD)
def create_subscription(body: SubscriptionCreate, staff: StaffDep, sessions: SessionsDep,
                        settings: SettingsDep) -> SubscriptionWithSecret:
    """A new subscription; its signing secret is in this answer only. Every event of its types
    published after this answer is owed to it (503, nothing made, if the broker is down)."""
    _reachable(body.url, settings)
    with _rebinding(settings, sessions) as session:
        row, secret = webhooks.create_subscription(
            session, _box(settings), name=body.name, url=body.url,
            event_types=list(body.event_types), scope=body.scope, created_by=staff.subject)
        audit_trail.record(session, audit, staff, "create", "webhook_subscription", row.id)
        return _with_secret(row, secret)


@router.get("/subscriptions/{subscription_id}", response_model=SubscriptionPublic,
            responses=NOT_FOUND, **LEAD)
def read_subscription(subscription_id: uuid.UUID, staff: StaffDep,
                      sessions: SessionsDep) -> SubscriptionPublic:
    """One subscription: what it hears, whether it is on, since when it fails."""
    with sessions.begin() as session:
        return SubscriptionPublic.model_validate(webhooks.subscription(session,
                                                                      subscription_id))


@router.patch("/subscriptions/{subscription_id}", response_model=SubscriptionPublic,
              responses=NOT_FOUND, **LEAD)
def change_subscription(subscription_id: uuid.UUID, body: SubscriptionUpdate, staff: StaffDep,
                        sessions: SessionsDep, settings: SettingsDep) -> SubscriptionPublic:
    """Change what is given; `active: true` enables one that was disabled."""
    _reachable(body.url, settings)
    with _rebinding(settings, sessions) as session:
        row = webhooks.change_subscription(session, subscription_id,
                     body.model_dump(exclude_none=True))
        audit_trail.record(session, audit, staff, "change", "webhook_subscription", row.id)
        return SubscriptionPublic.model_validate(row)


@router.post("/subscriptions/{subscription_id}/secret", response_model=SubscriptionWithSecret,
             responses=NOT_FOUND, **LEAD)
def rotate_secret(subscription_id: uuid.UUID, staff: StaffDep, sessions: SessionsDep,
                  settings: SettingsDep) -> SubscriptionWithSecret:
    """A new signing secret, used from the next request on (the old one stops at once); shown
    in this answer only."""
    with sessions.begin() as session:
        row, secret = webhooks.rotate_secret(session, _box(settings), subscription_id)
        audit_trail.record(session, audit, staff, "rotate_secret", "webhook_subscription",
                           row.id)
        return _with_secret(row, secret)


@router.delete("/subscriptions/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses=NOT_FOUND, **LEAD)
def delete_subscription(subscription_id: uuid.UUID, staff: StaffDep, sessions: SessionsDep,
                        settings: SettingsDep) -> Response:
    """Remove the subscription, with its deliveries and their log."""
    with _rebinding(settings, sessions) as session:
        webhooks.delete_subscription(session, subscription_id)
        audit_trail.record(session, audit, staff, "delete", "webhook_subscription",
                           subscription_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/subscriptions/{subscription_id}/deliveries", response_model=list[DeliveryPublic],
            responses=NOT_FOUND, **LEAD)
def list_deliveries(subscription_id: uuid.UUID, staff: StaffDep, sessions: SessionsDep,
                    status_is: Annotated[Literal["pending", "delivered", "failed"] | None,
                                         Query(alias="status")] = None,
                    limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[DeliveryPublic]:
    """The delivery log, newest first: status, tries, timing, the last status code."""
    with sessions.begin() as session:
        rows = webhooks.deliveries_of(session, subscription_id, status_is, limit)
        return [_delivery_public(row) for row in rows]


@router.get("/subscriptions/{subscription_id}/deliveries/{delivery_id}/attempts",
            response_model=list[AttemptPublic], responses=NOT_FOUND, **LEAD)
def list_attempts(subscription_id: uuid.UUID, delivery_id: uuid.UUID, staff: StaffDep,
                  sessions: SessionsDep) -> list[AttemptPublic]:
    """Each try of one delivery: when, how long, the status code or why there was none."""
    with sessions.begin() as session:
        rows = webhooks.attempts_of(session, subscription_id, delivery_id)
        return [AttemptPublic.model_validate(row) for row in rows]


@router.post("/subscriptions/{subscription_id}/deliveries/{delivery_id}/replay",
             response_model=DeliveryPublic, responses=NOT_FOUND, **LEAD)
def replay_delivery(subscription_id: uuid.UUID, delivery_id: uuid.UUID, staff: StaffDep,
                    sessions: SessionsDep) -> DeliveryPublic:
    """Send it again, under the same webhook-id (a receiver that has it drops the copy)."""
    with sessions.begin() as session:
        row = webhooks.replay(session, subscription_id, delivery_id, datetime.now(UTC))
        audit_trail.record(session, audit, staff, "replay", "webhook_delivery", delivery_id)
        return _delivery_public(row)


@router.post("/subscriptions/{subscription_id}/replay-failed", responses=NOT_FOUND, **LEAD)
def replay_failed(subscription_id: uuid.UUID, staff: StaffDep,
                  sessions: SessionsDep) -> dict[str, int]:
    """Every delivery that gave up, sent again: how many."""
    with sessions.begin() as session:
        count = webhooks.replay_failed(session, subscription_id, datetime.now(UTC))
        audit_trail.record(session, audit, staff, "replay_failed", "webhook_subscription",
                           subscription_id)
        return {"replayed": count}


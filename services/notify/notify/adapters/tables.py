"""notify's tables."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from clinic_shared.audit import define_audit_table
from clinic_shared.db import NAMING_CONVENTION
from clinic_shared.messaging.inbox import define_inbox_table
from clinic_shared.messaging.outbox import define_outbox_table

NOTIFICATIONS_CHANNEL = "notifications"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


metadata = Base.metadata
outbox = define_outbox_table(metadata)
inbox = define_inbox_table(metadata)
audit = define_audit_table(metadata)


class Notification(Base):
    """One message owed to one recipient because of one event: never two for the same pair."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("event_id", "kind", "recipient"),
        Index("ix_notifications_due", "channel", "next_attempt_at",
              postgresql_where=text("status = 'queued'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    request_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    kind: Mapped[str] = mapped_column(String(50))
    channel: Mapped[str] = mapped_column(String(10))
    recipient: Mapped[str] = mapped_column(String(254))
    reference: Mapped[str] = mapped_column(String(12))
    context: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(10), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_ref: Mapped[str | None] = mapped_column(String(64))  # e.g. Twilio's message SID
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DeliveryAttempt(Base):
    """Each try at delivering a notification, and what the other side said."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    notification_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("notifications.id"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    outcome: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str | None] = mapped_column(Text)


class CallbackTask(Base):
    """A call reception owes a patient who chose "phone"; open until they are reached."""

    __tablename__ = "callback_tasks"
    __table_args__ = (
        Index("ix_callback_tasks_open", "contact_by", postgresql_where=text("status = 'open'")),
        Index("ix_callback_tasks_next_call", text("coalesce(next_attempt_at, contact_by)"),
              postgresql_where=text("status = 'open'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    request_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    reference: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(20))
    contact_time: Mapped[str | None] = mapped_column(String(200))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    contact_by: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(10), default="open")
    calls: Mapped[int] = mapped_column(Integer, default=0)
    last_outcome: Mapped[str | None] = mapped_column(String(20))
    last_note: Mapped[str | None] = mapped_column(Text)
    last_called_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_called_by: Mapped[str | None] = mapped_column(String(100))
    # when reception means to call again (after "no answer" or a voicemail); the list's order
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class CallAttempt(Base):
    """Each call made for a call-back task: when, who, what came of it, reception's note (health
    data: shown to staff, never logged) and, unless the patient was reached, the next try."""

    __tablename__ = "callback_attempts"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    task_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("callback_tasks.id", ondelete="CASCADE"), index=True)
    called_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    called_by: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ContactClock(Base):
    """The 1-hour contact-back promise of one request; stamps make each alarm happen once.

    `contact_by` is notify's own deadline (contact_hours: the clinic's hours and bank holidays),
    `at_risk_due` when the warning is due (CONTACT_AT_RISK_MINUTES of open time before it),
    `started_at` when the hour began to run, `channel` the one the patient chose, `cause` why a
    breach happened (contact_clock.CAUSES). Rows from before 0005 lack the new columns.
    """

    __tablename__ = "contact_clocks"
    __table_args__ = (
        Index("ix_contact_clocks_running", "contact_by",
              postgresql_where=text("contacted_at IS NULL AND breached_at IS NULL")),
    )

    request_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    reference: Mapped[str] = mapped_column(String(12))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    contact_by: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    contacted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    at_risk_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    breached_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    at_risk_due: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    channel: Mapped[str | None] = mapped_column(String(10))
    requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    hours_key: Mapped[str | None] = mapped_column(String(50))
    clock_mode: Mapped[str | None] = mapped_column(String(20))
    contact_outcome: Mapped[str | None] = mapped_column(String(20))
    cause: Mapped[str | None] = mapped_column(String(40))

    @property
    def clock_reason(self) -> str | None:
        """Why the hour runs as `clock_mode` says: "urgent" (a red flag: 24/7 from arrival,
        whatever the clinic's hours), "clinic_hours" (the mode of the clinic's hours, see
        `hours_key`); None for a clock from before 0005."""
        if self.clock_mode is None:
            return None
        return "urgent" if self.urgent and self.clock_mode == "always" else "clinic_hours"


class RequestContact(Base):
    """How to reach the patient of one request (from contact.requested); erased on
    patient.erased. The only copy of their name and addresses beyond queued messages. No link:
    notify mints the patient's link as it renders each message."""

    __tablename__ = "request_contacts"

    request_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    reference: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(200))
    contact_channel: Mapped[str] = mapped_column(String(10))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(20), index=True)  # inbound SMS match


class Appointment(Base):
    """A booked appointment notify must remind the patient of; `remind_at` is the due time.

    `reminded_at` stamps the reminder (claimed with SKIP LOCKED) so it is owed once; a
    reschedule cancels the old row and adds the new one, a cancellation clears `remind_at`.
    """

    __tablename__ = "appointments"
    __table_args__ = (
        Index("ix_appointments_reminder_due", "remind_at",
              postgresql_where=text("status = 'booked' AND reminded_at IS NULL")),
    )

    appointment_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    request_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    reference: Mapped[str] = mapped_column(String(12))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB)  # therapist, place: no patient data
    status: Mapped[str] = mapped_column(String(10), default="booked")
    remind_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookSubscription(Base):
    """An outside system told of events by signed HTTP POSTs (webhook_subscriptions.py).

    `secret_sealed` is the secret signing every delivery (Standard Webhooks, "whsec_..."),
    encrypted (domain/webhook_secrets.py: never kept in clear); `failing_since` is when
    its deliveries began to fail without a success since (cleared by one); a day of it
    disables the subscription (`active` false, `disabled_at`) and tells the clinic lead.
    """

    __tablename__ = "webhook_subscriptions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(Text)
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(50)))
    scope: Mapped[str] = mapped_column(String(10), default="basic")
    secret_sealed: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class WebhookDelivery(Base):
    """One event owed to one subscription: inserted in the consumer's inbox transaction (never
    twice: unique per subscription and event). `id` is the `webhook-id` receivers de-duplicate
    on, the same on every retry and replay. `request_id` orders the deliveries of one request;
    `seq` breaks ties. `next_attempt_at` is also the claim's lease while a try is in flight."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id"),
        Index("ix_webhook_deliveries_due", "next_attempt_at",
              postgresql_where=text("status = 'pending'")),
        Index("ix_webhook_deliveries_request_order", "subscription_id", "request_id",
              "occurred_at", postgresql_where=text("status = 'pending'")),
        Index("ix_webhook_deliveries_log", "subscription_id", "created_at"),
        Index("ix_webhook_deliveries_finished", "last_attempt_at",
              postgresql_where=text("status <> 'pending'")),  # the log's pruning
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    seq: Mapped[int] = mapped_column(BigInteger, Identity())
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"))
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    event_type: Mapped[str] = mapped_column(String(50))
    request_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now())
    first_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(200))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class WebhookAttempt(Base):
    """The delivery log: each try, when, how long, the status code (never the answer's body)."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_attempted_at", "attempted_at"),)  # pruning

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    subscription_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    duration_ms: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(20))  # delivered, failed, timeout, refused
    error: Mapped[str | None] = mapped_column(String(200))

"""booking's tables."""

import uuid
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    Time,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSTZRANGE, ExcludeConstraint, Range
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from clinic_shared.audit import define_audit_table
from clinic_shared.db import NAMING_CONVENTION
from clinic_shared.messaging.inbox import define_inbox_table
from clinic_shared.messaging.outbox import define_outbox_table
from clinic_shared.ratelimit import define_rate_limit_table

CONTACT_CHANNELS = ("phone", "sms", "email")
MODES = ("clinic", "virtual", "home_visit")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


metadata = Base.metadata
outbox = define_outbox_table(metadata)
inbox = define_inbox_table(metadata)
audit = define_audit_table(metadata)
rate_limits = define_rate_limit_table(metadata)


class AppointmentRequest(Base):
    """What a patient filled in, and the two promises made to them."""

    __tablename__ = "appointment_requests"
    __table_args__ = (
        CheckConstraint("phone IS NOT NULL OR email IS NOT NULL OR erased_at IS NOT NULL",
                        name="has_contact"),
        CheckConstraint(f"contact_channel IN {CONTACT_CHANNELS}", name="contact_channel"),
        CheckConstraint(f"mode IN {MODES}", name="mode"),
        Index("ix_appointment_requests_open_deadline", "appointment_by",
              postgresql_where=text("booked_at IS NULL AND cancelled_at IS NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    reference: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(254))
    contact_channel: Mapped[str] = mapped_column(String(10))
    mode: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    consent: Mapped[bool] = mapped_column(Boolean)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default="requested")
    idempotency_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    # SHA-256 of the body that came with the key (clinic_shared.idempotency)
    idempotency_fingerprint: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    contact_by: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    appointment_by: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    site_id: Mapped[str | None] = mapped_column(String(40))
    postcode: Mapped[str | None] = mapped_column(String(10))
    contact_time: Mapped[str | None] = mapped_column(String(20))
    body_areas: Mapped[list[str]] = mapped_column(ARRAY(String(30)), server_default="{}")
    after_surgery: Mapped[bool] = mapped_column(Boolean, server_default="false")
    surgery: Mapped[str | None] = mapped_column(String(200))
    surgery_date: Mapped[date | None] = mapped_column(Date)
    preferred_times: Mapped[list[str]] = mapped_column(ARRAY(String(30)), server_default="{}")
    red_flags: Mapped[list[str]] = mapped_column(ARRAY(String(30)), server_default="{}")
    # what the triage engine found (text and tick boxes), most urgent first: the advice shown
    red_flag_categories: Mapped[list[str]] = mapped_column(ARRAY(String(60)),
                                                           server_default="{}")
    booked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    contacted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sla_at_risk_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sla_breached_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sla_breach_cause: Mapped[str | None] = mapped_column(String(40))  # sla_clock.BREACH_CAUSES


class Clinic(Base):
    """A site: where it is, when it is open (Europe/London), which districts it visits."""

    __tablename__ = "clinics"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # e.g. "moorgate"
    name: Mapped[str] = mapped_column(String(120))
    address: Mapped[str] = mapped_column(String(300))
    postcode: Mapped[str] = mapped_column(String(10))
    opening_hours: Mapped[dict[str, Any]] = mapped_column(JSONB)  # {"mon": ["08:00", "20:00"]}
    home_visit_districts: Mapped[list[str]] = mapped_column(ARRAY(String(6)), server_default="{}")
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")


class Therapist(Base):
    """What scheduling needs of a therapist in referral's directory (kept by its events)."""

    __tablename__ = "therapists"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    disciplines: Mapped[list[str]] = mapped_column(ARRAY(String(30)))
    sites: Mapped[list[str]] = mapped_column(ARRAY(String(40)), server_default="{}")
    modes: Mapped[list[str]] = mapped_column(ARRAY(String(20)), server_default="{}")
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class WorkingPattern(Base):
    """A weekly block of work: weekday, local times, mode and (clinic, home visits) the site."""

    __tablename__ = "working_patterns"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
        CheckConstraint("starts < ends", name="order"),
        CheckConstraint(f"mode IN {MODES}", name="mode"),
        CheckConstraint("mode = 'virtual' OR site_id IS NOT NULL", name="site_needed"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    therapist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("therapists.id"), index=True)
    weekday: Mapped[int] = mapped_column(SmallInteger)  # Monday 0 … Sunday 6
    starts: Mapped[time] = mapped_column(Time)
    ends: Mapped[time] = mapped_column(Time)
    mode: Mapped[str] = mapped_column(String(20))
    site_id: Mapped[str | None] = mapped_column(ForeignKey("clinics.id"))


class ScheduleException(Base):
    """Time a therapist is not available: leave, sickness, training."""

    __tablename__ = "schedule_exceptions"
    __table_args__ = (CheckConstraint("starts_at < ends_at", name="order"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    therapist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("therapists.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(String(30))


class Appointment(Base):
    """A booked time. The database itself refuses overlaps per therapist and per patient."""

    __tablename__ = "appointments"
    __table_args__ = (
        CheckConstraint(f"mode IN {MODES}", name="mode"),
        CheckConstraint("status IN ('booked', 'cancelled', 'rescheduled')", name="status"),
        ExcludeConstraint(
            (text("therapist_id"), "="), (text("busy"), "&&"),
            name="no_double_booking_therapist", using="gist",
            where=text("status = 'booked'"),
        ),
        ExcludeConstraint(
            (text("request_id"), "="), (text("slot"), "&&"),
            name="no_double_booking_patient", using="gist",
            where=text("status = 'booked'"),
        ),
        Index("ix_appointments_therapist_busy", "therapist_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("appointment_requests.id"),
                                                  index=True)
    therapist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("therapists.id"))
    mode: Mapped[str] = mapped_column(String(20))
    site_id: Mapped[str | None] = mapped_column(ForeignKey("clinics.id"))
    appointment_type: Mapped[str] = mapped_column(String(30))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    slot: Mapped[Range[datetime]] = mapped_column(TSTZRANGE)  # the patient's time
    busy: Mapped[Range[datetime]] = mapped_column(TSTZRANGE)  # the therapist's, with travel
    status: Mapped[str] = mapped_column(String(20), default="booked")
    booked_by: Mapped[str] = mapped_column(String(10))
    idempotency_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    # SHA-256 of the body that came with the key (clinic_shared.idempotency)
    idempotency_fingerprint: Mapped[str | None] = mapped_column(String(64))
    previous_appointment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SlotOfferRow(Base):
    """A slot proposed to a patient (after assignment); they may pick one through their link."""

    __tablename__ = "slot_offers"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("appointment_requests.id"),
                                                  index=True)
    therapist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("therapists.id"))
    mode: Mapped[str] = mapped_column(String(20))
    site_id: Mapped[str | None] = mapped_column(ForeignKey("clinics.id"))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # the assignment's place in the referral's episode (referral.assigned `sequence`)
    sequence: Mapped[int] = mapped_column(Integer, server_default="1")


class InquiryEmail(Base):
    """One e-mail of a request's conversation: the patient's (in) or the clinic's answer (out).
    Its text is clinical, like the request's reason: kept here only, never logged, deleted on
    erasure. Attachments are not kept, only their names and sizes."""

    __tablename__ = "inquiry_emails"
    __table_args__ = (
        CheckConstraint("direction IN ('in', 'out')", name="direction"),
        Index("ix_inquiry_emails_unsent", "at",
              postgresql_where=text("direction = 'out' AND sent_at IS NULL")),
        Index("ix_inquiry_emails_unfiled", "at", postgresql_where=text(
            "direction = 'out' AND sent_at IS NOT NULL AND filed_at IS NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # the order the clinic took them in: a conversation reads in this order (an e-mail's own
    # arrival time has whole seconds, and the sender's clock is not ours)
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True))
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("appointment_requests.id"),
                                                  index=True)
    direction: Mapped[str] = mapped_column(String(3))
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    sender: Mapped[str | None] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(Text, server_default="")
    body: Mapped[str] = mapped_column(Text)
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    sent_by: Mapped[str | None] = mapped_column(String(120))  # the member of staff (out)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # arrived, or written (out)
    # when the SMTP server took an answer (out); NULL while it waits to go
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # when its copy went into the mailbox's Sent folder (out, IMAP APPEND); NULL while it waits
    filed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RequestAssignee(Base):
    """A therapist referral assigned one of the request's referrals to (`referral.assigned`):
    they may open and answer the request's e-mail conversation (domain/inquiry_access.py).
    Ids only."""

    __tablename__ = "request_assignees"

    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("appointment_requests.id"),
                                                  primary_key=True)
    therapist_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    assigned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MailboxCursor(Base):
    """How far the inquiries mailbox has been read: its UIDVALIDITY and the last UID taken in,
    moved in the transaction that takes each message in."""

    __tablename__ = "mailbox_cursors"

    mailbox: Mapped[str] = mapped_column(String(300), primary_key=True)  # user@host/folder
    uid_validity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class MailboxQuarantine(Base):
    """A message of the inquiries mailbox whose processing failed: how often, and the error's
    class (never its text, which may quote the message). After `inquiries_max_attempts` it is
    quarantined: the cursor moves past it, and an operator lists and retries it."""

    __tablename__ = "mailbox_quarantine"

    mailbox: Mapped[str] = mapped_column(String(300), primary_key=True)  # user@host/folder
    uid_validity: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    uid: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    message_id: Mapped[str | None] = mapped_column(String(998))
    error: Mapped[str] = mapped_column(String(100))  # the exception's class
    attempts: Mapped[int] = mapped_column(Integer)
    first_failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                      server_default=func.now())
    last_failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                     server_default=func.now())
    # NULL while the reader still tries it at the head of the mailbox
    quarantined_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class FhirReferral(Base):
    """Who referred a request through FHIR (`POST /fhir/ServiceRequest`): the client it came
    from (a client reads back what it referred), the practitioner, organisation, discipline
    asked for and priority; written in the request's own transaction."""

    __tablename__ = "fhir_referrals"
    __table_args__ = (
        CheckConstraint("priority IN ('routine', 'urgent', 'asap', 'stat')", name="priority"),
        Index("ix_fhir_referrals_client", "client_id", "created_at"),
    )

    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("appointment_requests.id"),
                                                  primary_key=True)
    client_id: Mapped[str] = mapped_column(String(80))
    requester: Mapped[str | None] = mapped_column(String(200))
    organisation: Mapped[str | None] = mapped_column(String(200))
    discipline: Mapped[str | None] = mapped_column(String(30))
    priority: Mapped[str] = mapped_column(String(10))
    identifier: Mapped[str | None] = mapped_column(String(200))  # the referrer's own reference
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

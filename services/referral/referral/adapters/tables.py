"""referral's tables."""

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    Uuid,
    and_,
    bindparam,
    case,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from clinic_shared.audit import define_audit_table
from clinic_shared.db import NAMING_CONVENTION
from clinic_shared.messaging.inbox import define_inbox_table
from clinic_shared.messaging.outbox import define_outbox_table
from clinic_shared.ratelimit import define_rate_limit_table


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


metadata = Base.metadata
outbox = define_outbox_table(metadata)
inbox = define_inbox_table(metadata)
audit = define_audit_table(metadata)
rate_limits = define_rate_limit_table(metadata)

DISCIPLINES = ("manual_therapy", "rehab_physio")


class TriageEntry(Base):
    """One appointment request waiting for a receptionist to triage it."""

    __tablename__ = "triage_entries"
    __table_args__ = (
        Index("ix_triage_entries_open_deadline", "status", "contact_by"),
        Index("ix_triage_entries_phone", "phone"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    request_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    reference: Mapped[str] = mapped_column(String(12))
    patient_name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(254))
    contact_channel: Mapped[str] = mapped_column(String(10))
    mode: Mapped[str] = mapped_column(String(20))
    site: Mapped[str | None] = mapped_column(String(40))  # the named clinic, for mode "clinic"
    postcode: Mapped[str | None] = mapped_column(String(10))  # for mode "home_visit"
    reason: Mapped[str] = mapped_column(Text)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default="new")
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    contact_by: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    appointment_by: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    source_event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    # "form" or "email" (the inquiries mailbox, which the clinic's physios share): a therapist
    # may open an e-mail inquiry that nobody is assigned to yet (domain/entry_access.py)
    arrived_by: Mapped[str] = mapped_column(String(10), server_default="form")
    contacted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # what the patient answered that triage looks at
    body_areas: Mapped[list[str]] = mapped_column(ARRAY(String(30)), server_default="{}")
    after_surgery: Mapped[bool] = mapped_column(Boolean, server_default="false")
    surgery: Mapped[str | None] = mapped_column(Text)
    surgery_date: Mapped[date | None] = mapped_column(Date)
    red_flags: Mapped[list[str]] = mapped_column(ARRAY(String(60)), server_default="{}")
    # the triage engine's reading, made when the request arrived (reading.py): the red flags it
    # found, [{category, phrase}] with the patient's own words, and the suggestion with its
    # reasons, [{rule, phrases}]
    red_flags_found: Mapped[list[dict[str, str]]] = mapped_column(JSONB, server_default="[]")
    suggested_pathway: Mapped[str | None] = mapped_column(String(20))
    suggested_order: Mapped[list[str]] = mapped_column(ARRAY(String(30)), server_default="{}")
    suggestion_rules: Mapped[list[str]] = mapped_column(ARRAY(String(60)), server_default="{}")
    suggestion_reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    # the receptionist's decision
    pathway: Mapped[str | None] = mapped_column(String(20))
    overridden: Mapped[bool | None] = mapped_column(Boolean)
    override_reason: Mapped[str | None] = mapped_column(Text)
    triaged_by: Mapped[str | None] = mapped_column(String(200))
    triaged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    episode_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("episodes.id"))
    # a receptionist's claim while they work the entry (expires at claimed_until)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # who referred the patient through FHIR (appointment.requested v4: the practitioner,
    # organisation, client, discipline asked for and priority); NULL for a form or an e-mail
    referrer: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


# The queue's order (urgent first, then the deadline that breaks first), which the triage queue
# query uses, and the expression index PostgreSQL reads its first page from. The index spells the
# CASE the way pg_get_indexdef prints it: Alembic compares index expressions as text (spaces
# dropped, line breaks kept), so this keeps models == migrations; PostgreSQL itself matches the
# query's CASE to the index by expression, not by text.
NEXT_DEADLINE = case((TriageEntry.contacted_at.is_(None), TriageEntry.contact_by),
                     else_=TriageEntry.appointment_by)
QUEUE_ORDER = (TriageEntry.urgent.desc(), NEXT_DEADLINE, TriageEntry.id)
QUEUE_DEADLINE_SQL = ("(\nCASE\n    WHEN contacted_at IS NULL THEN contact_by\n"
                      "    ELSE appointment_by\nEND)")
Index("ix_triage_entries_queue", TriageEntry.urgent.desc(), text(QUEUE_DEADLINE_SQL),
      TriageEntry.id)

# Reception's board (domain/board.py) reads the open entries alone, however many have closed:
# its first page comes off this partial index in queue order, and its standing counts (all,
# urgent, unclaimed, claimed by me) off the index alone, the claim being included in it. The
# statuses go into the SQL as constants, not parameters: PostgreSQL can then prove a query's
# WHERE implies the index's even in the generic plan of a prepared statement (psycopg prepares
# a statement run five times).
BOARD_STATUSES = ("new", "triaged", "assigned", "accepted")  # still needs reception's eye
BOARD_OPEN = and_(
    TriageEntry.status.in_(bindparam("board_statuses", BOARD_STATUSES, expanding=True,
                                     literal_execute=True)),
    TriageEntry.erased_at.is_(None))
Index("ix_triage_entries_board", TriageEntry.urgent.desc(), text(QUEUE_DEADLINE_SQL),
      TriageEntry.id, postgresql_include=["claimed_by", "claimed_until"],
      postgresql_where=BOARD_OPEN)
# The board's search, each part with an index: any part of a name (trigrams: pg_trgm, which
# migration 0014 creates), a reference in any case, an e-mail address in any case (the phone
# number has ix_triage_entries_phone; every lookup by e-mail, the returning patient's too, is in
# any case, so the e-mail has this index alone). The trigram index takes each new entry at once
# (fastupdate off): entries arrive a few a minute, and a search then never reads through a
# pending list that only a vacuum empties.
Index("ix_triage_entries_name_trigrams", TriageEntry.patient_name, postgresql_using="gin",
      postgresql_ops={"patient_name": "gin_trgm_ops"}, postgresql_with={"fastupdate": "off"})
Index("ix_triage_entries_reference_upper", func.upper(TriageEntry.reference))
Index("ix_triage_entries_email_lower", func.lower(TriageEntry.email))


class Episode(Base):
    """One patient's course of care: groups the referrals (one per discipline) triage made."""

    __tablename__ = "episodes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    pathway: Mapped[str] = mapped_column(String(20))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Therapist(Base):
    """A clinician in the directory: what they do, where, and how many patients they can carry."""

    __tablename__ = "therapists"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(120))
    disciplines: Mapped[list[str]] = mapped_column(ARRAY(String(30)))
    sites: Mapped[list[str]] = mapped_column(ARRAY(String(60)), default=list)
    modes: Mapped[list[str]] = mapped_column(ARRAY(String(20)), default=list)
    capacity: Mapped[int] = mapped_column(Integer, default=20)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class StaffAccount(Base):
    """A local sign-in (clinics using their own identity provider need none)."""

    __tablename__ = "staff_accounts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    therapist_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("therapists.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class FhirClient(Base):
    """A system allowed to call the FHIR API (a GP practice, an insurer, the data warehouse):
    it exchanges its id and secret at `POST /oauth/token` for a token with its scopes."""

    __tablename__ = "fhir_clients"

    client_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    organisation: Mapped[str | None] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(200))  # Argon2id, as staff passwords
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(60)))
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Referral(Base):
    """One discipline's share of a patient's care, assigned to one therapist."""

    __tablename__ = "referrals"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    triage_entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("triage_entries.id"), index=True)
    discipline: Mapped[str] = mapped_column(String(30))
    # None until a therapist is assigned (a referral triage made, waiting for assignment)
    therapist_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("therapists.id"),
                                                           index=True)
    status: Mapped[str] = mapped_column(String(20), default="assigned")
    assigned_by: Mapped[str | None] = mapped_column(String(200))
    episode_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("episodes.id"), index=True)
    sequence: Mapped[int] = mapped_column(Integer, server_default="1")  # order in the episode
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    treatment_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    discharged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(30))
    discharge_note: Mapped[str | None] = mapped_column(Text)


class Appointment(Base):
    """What booking told us about an appointment (appointment.booked / rescheduled /
    cancelled): enough for caseloads to show the next one. Booking owns the real thing."""

    __tablename__ = "appointments"
    __table_args__ = (Index("ix_appointments_request_therapist", "request_id", "therapist_id",
                            "starts_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # booking's appointment id
    request_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    therapist_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    mode: Mapped[str] = mapped_column(String(20))
    site: Mapped[str | None] = mapped_column(String(40))
    place: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20))  # booked | cancelled
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SlaMark(Base):
    """When a request first met each promise, from notify's contact.made and booking's
    appointment.booked / rescheduled (the earliest wins, so late or repeated events change
    nothing). Kept apart from triage_entries: the events may arrive before the entry does."""

    __tablename__ = "sla_marks"

    request_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    first_contacted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_booked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # notify's contact-back deadline by the clinic's hours (contact.clock_started)
    contact_by: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SlaBreach(Base):
    """A broken promise as the clock that watched it reported it: one per request and kind."""

    __tablename__ = "sla_breaches"
    __table_args__ = (Index("ix_sla_breaches_deadline", "deadline"),)

    request_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    kind: Mapped[str] = mapped_column(String(12), primary_key=True)  # contact | appointment
    reference: Mapped[str] = mapped_column(String(12))
    deadline: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    urgent: Mapped[bool] = mapped_column(Boolean)
    cause: Mapped[str | None] = mapped_column(String(60))  # None: the clock did not say
    channel: Mapped[str | None] = mapped_column(String(10))  # the patient's chosen channel
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class BoardChange(Base):
    """One change the triage board shows (an entry arrived, or its status, claim or clocks
    moved), appended by a trigger (migration 0011): the board's event stream, in order."""

    __tablename__ = "board_changes"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())


class EntryNote(Base):
    """A member of staff's note on an entry, for the team: never sent to the patient, never in
    an event, removed when the patient is erased."""

    __tablename__ = "entry_notes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("triage_entries.id"), index=True)
    author: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

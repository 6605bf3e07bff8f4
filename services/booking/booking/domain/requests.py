"""Taking in an appointment request: one transaction writes the request and its event."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import Connection, Engine, bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from booking.adapters.tables import AppointmentRequest, Clinic, outbox
from booking.domain.errors import PlaceNotServed
from booking.domain.reading import categories_most_urgent_first, read_form
from booking.domain.references import new_reference
from booking.domain.request_form import AppointmentRequestCreate
from booking.domain.schedule import district_covered
from booking.settings import BookingSettings
from clinic_shared.auth.patient_links import PatientLinks
from clinic_shared.clock import now as clock_now
from clinic_shared.contact_hours import ClockPlan, contact_hours_from
from clinic_shared.idempotency import KeyReused, check_same_body, fingerprint
from clinic_shared.messaging.contracts import (
    AppointmentRequestCancelledV1,
    AppointmentRequestedV4,
    ContactRequestedV2,
    Referrer,
    TriageReading,
)
from clinic_shared.messaging.outbox import add_event, stage_with, staged_parameters
from clinic_shared.ratelimit import OverLimit

REFERENCE_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class StoredRequest:
    """A request just stored: what its answer says, without an ORM instance behind it."""

    id: uuid.UUID
    reference: str
    urgent: bool
    phone: str | None
    email: str | None
    contact_channel: str
    mode: str
    status: str
    created_at: datetime
    contact_by: datetime
    appointment_by: datetime
    red_flag_categories: list[str]  # most urgent first: the advice the answer gives


def submit_request(
    sessions: sessionmaker[Session],
    form: AppointmentRequestCreate,
    settings: BookingSettings,
    idempotency_key: str | None = None,
    links: PatientLinks | None = None,
    admit: Callable[[Connection], None] | None = None,
    reading: TriageReading | None = None,
    arrived_at: datetime | None = None,
    then: Callable[[Connection, StoredRequest], None] | None = None,
    arrived_by: Literal["form", "email"] = "form",
    referrer: Referrer | None = None,
) -> tuple[StoredRequest, bool]:
    """Store the request and stage its two events; (request, created): `appointment.requested`
    (v4, with the triage engine's reading and how it came in: for referral's triage) and
    `contact.requested` (who to contact back, how and by when, without clinical text: for
    notify). Neither carries the patient's link.

    The engine reads the form once, before the transaction (or the caller passes that
    `reading`: the API reads on its event loop, where CPU work does not wait for the GIL behind
    the request threads' database calls). Then one transaction: `admit` first (e.g. counting
    rate limits; it may refuse by raising `OverLimit`), then a repeated Idempotency-Key returns
    the first request, if it came with the same form (else `KeyReused`). A refusal (`OverLimit`,
    `PlaceNotServed`, `KeyReused`) keeps what `admit` counted.

    One Core connection (no ORM bookkeeping); `links` is unused (no event carries a link).
    `arrived_at` starts both clocks when the request arrived (an e-mail read later); `then`
    writes what else belongs to it in its transaction (an e-mail's row); `arrived_by` says it
    came as an e-mail (the clinic's physios may open it); a FHIR `referrer` travels in v4, and
    its priority other than routine makes the request urgent, as a red flag would.
    """
    engine: Engine = sessions.kw["bind"]
    reading = reading or read_form(settings, form)
    categories = categories_most_urgent_first(settings, reading)
    body = fingerprint(form) if idempotency_key else None
    for attempt in range(REFERENCE_ATTEMPTS):
        with engine.connect() as conn:
            try:
                if admit is not None:
                    admit(conn)
                existing = _by_idempotency_key(conn, idempotency_key, body)
                if existing is not None:
                    conn.commit()
                    return existing, False
                _check_place(conn, form)
                stored = _insert(conn, form, settings, (idempotency_key, body),
                                 _Read(reading, categories, arrived_by), arrived_at,
                                 referrer)
                if then is not None:
                    then(conn, stored)
                conn.commit()
                return stored, True
            except (OverLimit, PlaceNotServed, KeyReused):
                conn.commit()
                raise
            except IntegrityError as exc:
                conn.rollback()
                if not _worth_again(exc, idempotency_key) or attempt == REFERENCE_ATTEMPTS - 1:
                    raise
    raise AssertionError("unreachable")


def _worth_again(exc: IntegrityError, idempotency_key: str | None) -> bool:
    """Another request took this reference, or (a concurrent retry) this key: again, from the
    start; a retry finds the first request by its key."""
    taken = str(exc.orig)
    return "reference" in taken or bool(idempotency_key and "idempotency_key" in taken)


_REQUESTS = AppointmentRequest.__table__
_REQUEST_COLUMNS = (
    "id", "reference", "name", "phone", "email", "contact_channel", "mode", "reason", "consent",
    "urgent", "status", "site_id", "postcode", "contact_time", "body_areas", "after_surgery",
    "surgery", "surgery_date", "preferred_times", "red_flags", "red_flag_categories",
    "idempotency_key", "idempotency_fingerprint", "created_at", "contact_by", "appointment_by",
)
# The request's row and its two events in one statement, built once (clinic_shared's
# `stage_with`: the outbox rows are the ones `add_event` writes, and a test holds them to it).
# Core, without the ORM's unit of work: every value is known here, the id included, so nothing
# comes back. Parameters: request_<column>, and each event's outbox columns under its prefix.
_STORE = stage_with(outbox, insert(_REQUESTS).values({
    name: bindparam(f"request_{name}", type_=_REQUESTS.c[name].type)
    for name in _REQUEST_COLUMNS}), ("requested_", "contact_"))


@dataclass(frozen=True, slots=True)
class _Read:
    """The engine's reading of a form and its red-flag categories, most urgent first."""

    reading: TriageReading
    categories: list[str]
    arrived_by: Literal["form", "email"] = "form"


def _insert(
    conn: Connection,
    form: AppointmentRequestCreate,
    settings: BookingSettings,
    idempotency: tuple[str | None, str | None],  # the key and the form's fingerprint
    read: _Read,
    arrived_at: datetime | None = None,
    referrer: Referrer | None = None,
) -> StoredRequest:
    now = arrived_at or clock_now(settings)
    red_flags = form.red_flags.answered_yes()
    referred_urgent = referrer is not None and referrer.priority != "routine"
    # text, tick boxes or the referrer's priority: urgent wins
    urgent = read.reading.urgent or bool(red_flags) or referred_urgent
    clock = contact_clock(settings, form, now, urgent or bool(read.reading.red_flags))
    stored = StoredRequest(
        id=uuid.uuid4(),
        reference=new_reference(),
        urgent=urgent,
        phone=form.phone,
        email=form.email,
        contact_channel=form.contact_channel,
        mode=form.mode,
        status="requested",
        created_at=now,
        contact_by=clock.contact_by,
        appointment_by=now + timedelta(hours=settings.appointment_within_hours),
        red_flag_categories=read.categories,
    )
    row = _request_row(form, stored, red_flags, idempotency)
    events = _events(form, stored, red_flags, read, clock, referrer)
    conn.execute(_STORE, {**row, **events})
    return stored


def _request_row(form: AppointmentRequestCreate, stored: StoredRequest, red_flags: list[str],
                 idempotency: tuple[str | None, str | None]) -> dict[str, object]:
    """The request's columns as `_STORE`'s parameters."""
    return {
        "request_id": stored.id,
        "request_reference": stored.reference,
        "request_name": form.name,
        "request_phone": form.phone,
        "request_email": form.email,
        "request_contact_channel": form.contact_channel,
        "request_mode": form.mode,
        "request_reason": form.reason,
        "request_consent": form.consent,
        "request_urgent": stored.urgent,
        "request_status": stored.status,
        "request_site_id": form.site,
        "request_postcode": form.postcode,
        "request_contact_time": form.contact_time,
        "request_body_areas": list(form.body_areas),
        "request_after_surgery": form.after_surgery,
        "request_surgery": form.surgery,
        "request_surgery_date": form.surgery_date,
        "request_preferred_times": list(form.preferred_times),
        "request_red_flags": red_flags,
        "request_red_flag_categories": stored.red_flag_categories,
        "request_idempotency_key": idempotency[0],
        "request_idempotency_fingerprint": idempotency[1],
        "request_created_at": stored.created_at,
        "request_contact_by": stored.contact_by,
        "request_appointment_by": stored.appointment_by,
    }


def _events(form: AppointmentRequestCreate, stored: StoredRequest, red_flags: list[str],
            read: _Read, clock: ClockPlan, referrer: Referrer | None) -> dict[str, object]:
    """`appointment.requested` (for referral; with how it came in, and the referrer of a FHIR
    referral) and `contact.requested` (for notify) as the intake statement's parameters."""
    return staged_parameters({"requested_": AppointmentRequestedV4(
        request_id=stored.id,
        reference=stored.reference,
        name=form.name,
        phone=stored.phone,
        email=stored.email,
        contact_channel=form.contact_channel,
        mode=form.mode,
        reason=form.reason,
        urgent=stored.urgent,
        requested_at=stored.created_at,
        contact_by=stored.contact_by,
        appointment_by=stored.appointment_by,
        site=form.site,
        postcode=form.postcode,
        body_areas=tuple(form.body_areas),
        after_surgery=form.after_surgery,
        surgery=form.surgery,
        surgery_date=form.surgery_date,
        red_flags=tuple(red_flags),
        reading=read.reading,
        arrived_by="fhir" if referrer is not None else read.arrived_by,
        referrer=referrer,
    ), "contact_": ContactRequestedV2(
        request_id=stored.id,
        reference=stored.reference,
        name=form.name,
        phone=stored.phone,
        email=stored.email,
        contact_channel=form.contact_channel,
        contact_time=form.contact_time,
        mode=form.mode,
        site=form.site,
        urgent=stored.urgent or bool(read.reading.red_flags),
        red_flag_categories=tuple(dict.fromkeys(f.category for f in read.reading.red_flags)),
        requested_at=stored.created_at,
        contact_by=stored.contact_by,
        appointment_by=stored.appointment_by,
        contact_started_at=clock.started_at,
        contact_clock=clock.mode,
        contact_hours=clock.hours_key,
    )}, source="booking")


def contact_clock(settings: BookingSettings, form: AppointmentRequestCreate, arrived: datetime,
                  urgent: bool) -> ClockPlan:
    """The contact-back promise, set once here as the request arrives: the hour counted in the
    hours of the clinic it is for (reception's for video and home visits), from the next
    opening when closed, skipping bank holidays; an urgent request's runs at once, round the
    clock. Every page, message and report shows this deadline; no service recomputes it."""
    hours = contact_hours_from(settings.contact_hours_file)
    return hours.plan(hours.key_for(form.mode, form.site), arrived,
                      timedelta(minutes=settings.contact_back_minutes), urgent=urgent)


_ACTIVE_SITES = select(Clinic.id).where(Clinic.active)
_VISITED_DISTRICTS = select(Clinic.home_visit_districts).where(Clinic.active)


def _check_place(conn: Connection, form: AppointmentRequestCreate) -> None:
    """The clinic chosen exists and is open to requests; a clinic visits the postcode. Read
    in the request's transaction (staff may have just added or closed a clinic)."""
    if form.mode == "clinic":
        sites = set(conn.scalars(_ACTIVE_SITES))
        if form.site not in sites:
            names = ", ".join(sorted(sites)) or "none yet"
            raise PlaceNotServed("site",
                                 f"no clinic called {form.site!r}; choose one of: {names}")
    if form.mode == "home_visit" and form.postcode and not any(
            district_covered(form.postcode, districts) for districts in
            conn.scalars(_VISITED_DISTRICTS)):
        raise PlaceNotServed("postcode", f"we do not make home visits in {form.postcode} yet; "
                             "choose a clinic or a video appointment")


def cancel_request(sessions: sessionmaker[Session], request_id: uuid.UUID,
                   cancelled_by: Literal["patient", "staff"]) -> AppointmentRequest | None:
    """Withdraw a request (once); tells the other services. None if there is no such request."""
    with sessions.begin() as session:
        request = session.get(AppointmentRequest, request_id, with_for_update=True)
        if request is None or request.erased_at is not None:
            return None
        if request.status != "cancelled":
            now = datetime.now(UTC)
            request.status = "cancelled"
            request.cancelled_at = now
            add_event(session, outbox, AppointmentRequestCancelledV1(
                request_id=request.id, reference=request.reference, cancelled_at=now,
                cancelled_by=cancelled_by,
            ), source="booking")
        return request


_BY_IDEMPOTENCY_KEY = select(
    *(AppointmentRequest.__table__.c[field.name] for field in fields(StoredRequest)),
    AppointmentRequest.idempotency_fingerprint,
).where(AppointmentRequest.idempotency_key == bindparam("key"))


def _by_idempotency_key(conn: Connection, key: str | None,
                        body: str | None) -> StoredRequest | None:
    """The request first stored with this key; `KeyReused` if it came with another form."""
    if not key:
        return None
    row = conn.execute(_BY_IDEMPOTENCY_KEY, {"key": key}).first()
    if row is None:
        return None
    *stored, stored_body = row
    check_same_body(stored_body, body)
    return StoredRequest(*stored)

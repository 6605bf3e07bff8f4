"""Booking, cancelling and rescheduling. The database's exclusion constraints decide races."""

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Literal

from psycopg import errors as pg_errors
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from booking.adapters.tables import Appointment, AppointmentRequest, Clinic, Therapist, outbox
from booking.domain.errors import (
    NoSuchAppointment,
    NotBookable,
    SlotTaken,
    UnknownRequestToBook,
)
from booking.domain.schedule import duration, travel
from booking.domain.slot_flights import flights
from booking.domain.slots import Slot, SlotQuery, find_slots, fits_schedule
from booking.settings import BookingSettings
from clinic_shared.auth.principal import Principal, Role
from clinic_shared.idempotency import check_same_body
from clinic_shared.messaging.contracts import (
    AppointmentBookedV1,
    AppointmentCancelledV1,
    AppointmentRescheduledV1,
)
from clinic_shared.messaging.outbox import add_event

Actor = Literal["patient", "staff"]
NEXT_SLOTS = 5


def book(sessions: sessionmaker[Session], settings: BookingSettings, *, request_id: uuid.UUID,
         therapist_id: uuid.UUID, mode: str, site_id: str | None, starts_at: datetime,
         appointment_type: str, booked_by: Actor,
         idempotency_key: str | None = None,
         fingerprint: str | None = None) -> tuple[Appointment, bool]:
    """Book one appointment; (appointment, created). A repeated idempotency key books once;
    with another body's `fingerprint` it raises `KeyReused` (clinic_shared.idempotency)."""
    key = (idempotency_key, fingerprint)
    if idempotency_key and (existing := _by_key(sessions, *key)) is not None:
        return existing, False
    with flights.leading(therapist_id, starts_at) as flight:
        if flight is None:  # the attempt ahead of this one found that time gone
            if idempotency_key and (existing := _by_key(sessions, *key)) is not None:
                return existing, False  # …and it was this very request, retried
            raise SlotTaken(_next_slots(sessions, settings, therapist_id, mode, site_id,
                                        starts_at, appointment_type))
        try:
            booked = _book(sessions, settings, request_id=request_id,
                           therapist_id=therapist_id, mode=mode, site_id=site_id,
                           starts_at=starts_at, appointment_type=appointment_type,
                           booked_by=booked_by, idempotency=key)
        except SlotTaken as taken:
            flight.gone = taken.therapist_busy
            # the time may have gone to this very request, retried while it was being booked
            if idempotency_key and (existing := _by_key(sessions, *key)) is not None:
                return existing, False
            raise
        flight.gone = booked[1]
        return booked


def _book(sessions: sessionmaker[Session], settings: BookingSettings, *, request_id: uuid.UUID,
          therapist_id: uuid.UUID, mode: str, site_id: str | None, starts_at: datetime,
          appointment_type: str, booked_by: Actor,
          idempotency: tuple[str | None, str | None]) -> tuple[Appointment, bool]:
    try:
        with sessions.begin() as session:
            if _taken_once_it_is_our_turn(session, settings, therapist_id, mode, starts_at,
                                          appointment_type):
                raise _Lost
            request = _open_request(session, request_id)
            appointment = _new_appointment(session, settings, request, therapist_id, mode,
                                           site_id, starts_at, appointment_type, booked_by,
                                           idempotency)
            session.flush()
            request.status = "booked"
            request.booked_at = request.booked_at or datetime.now(UTC)
            add_event(session, outbox, AppointmentBookedV1(
                **_details(session, appointment, request), booked_by=booked_by),
                source="booking")
            return appointment, True
    except _Lost:
        raise SlotTaken(_next_slots(sessions, settings, therapist_id, mode, site_id, starts_at,
                                    appointment_type)) from None
    except IntegrityError as exc:
        if isinstance(exc.orig, pg_errors.UniqueViolation) and idempotency[0]:
            existing = _by_key(sessions, *idempotency)
            if existing is not None:
                return existing, False
        if isinstance(exc.orig, pg_errors.ExclusionViolation):
            raise SlotTaken(_next_slots(sessions, settings, therapist_id, mode, site_id,
                                        starts_at, appointment_type),
                            therapist_busy=_therapist_clash(exc.orig)) from None
        raise


def _therapist_clash(violation: pg_errors.ExclusionViolation) -> bool:
    return violation.diag.constraint_name != "no_double_booking_patient"


def cancel(sessions: sessionmaker[Session], appointment_id: uuid.UUID, by: Actor,
           request_id: uuid.UUID | None = None) -> Appointment:
    """Cancel a booked appointment (idempotent). `request_id` limits it to one patient's."""
    with sessions.begin() as session:
        appointment = _appointment(session, appointment_id, request_id)
        if appointment.status != "booked":
            return appointment
        appointment.status = "cancelled"
        appointment.cancelled_at = datetime.now(UTC)
        request = session.get_one(AppointmentRequest, appointment.request_id)
        still_booked = session.scalar(select(func.count()).select_from(Appointment).where(
            Appointment.request_id == request.id, Appointment.status == "booked",
            Appointment.id != appointment.id))
        if not still_booked and request.status == "booked":
            request.status = "requested"
        add_event(session, outbox, AppointmentCancelledV1(
            **_details(session, appointment, request), cancelled_by=by), source="booking")
        return appointment


def reschedule(sessions: sessionmaker[Session], settings: BookingSettings,
               appointment_id: uuid.UUID, *, starts_at: datetime, by: Actor,
               therapist_id: uuid.UUID | None = None, site_id: str | None = None,
               request_id: uuid.UUID | None = None) -> Appointment:
    """Move an appointment in one transaction: the old time is freed only if the new one holds."""
    try:
        with sessions.begin() as session:
            old = _appointment(session, appointment_id, request_id)
            if old.status != "booked":
                raise NotBookable("appointment_id", "only a booked appointment can be moved")
            request = session.get_one(AppointmentRequest, old.request_id)
            old.status = "rescheduled"
            old.cancelled_at = datetime.now(UTC)
            session.flush()
            new = _new_appointment(session, settings, request, therapist_id or old.therapist_id,
                                   old.mode, site_id or old.site_id, starts_at,
                                   old.appointment_type, by, (None, None))
            new.previous_appointment_id = old.id
            session.flush()
            add_event(session, outbox, AppointmentRescheduledV1(
                **_details(session, new, request), previous_appointment_id=old.id,
                previous_starts_at=old.starts_at, rescheduled_by=by), source="booking")
            return new
    except IntegrityError as exc:
        if isinstance(exc.orig, pg_errors.ExclusionViolation):
            raise SlotTaken(_next_slots(sessions, settings, therapist_id, None, site_id,
                                        starts_at, "follow_up")) from None
        raise


def _open_request(session: Session, request_id: uuid.UUID) -> AppointmentRequest:
    request = session.get(AppointmentRequest, request_id)
    if request is None or request.erased_at is not None:
        raise UnknownRequestToBook
    if request.status == "cancelled":
        raise NotBookable("request_id", "the request was withdrawn")
    return request


def _appointment(session: Session, appointment_id: uuid.UUID,
                 request_id: uuid.UUID | None) -> Appointment:
    appointment = session.get(Appointment, appointment_id, with_for_update=True)
    if appointment is None or (request_id is not None and appointment.request_id != request_id):
        raise NoSuchAppointment
    return appointment


def _new_appointment(session: Session, settings: BookingSettings, request: AppointmentRequest,
                     therapist_id: uuid.UUID, mode: str, site_id: str | None,
                     starts_at: datetime, appointment_type: str, booked_by: Actor,
                     idempotency: tuple[str | None, str | None]) -> Appointment:
    if starts_at.tzinfo is None:
        raise NotBookable("starts_at", "give the time with its offset, e.g. 2026-11-23T09:00Z")
    if starts_at < datetime.now(UTC):
        raise NotBookable("starts_at", "that time has passed")
    therapist = session.get(Therapist, therapist_id)
    if therapist is None or not therapist.active:
        raise NotBookable("therapist_id", "no such active therapist")
    if mode == "virtual":
        site_id = None
    elif site_id is None:
        raise NotBookable("site_id", f"a {mode} appointment needs a site")
    ends_at = starts_at + duration(settings, appointment_type)
    if not fits_schedule(session, therapist_id, mode, site_id, starts_at, ends_at, settings):
        raise NotBookable("starts_at",
                          f"{therapist.name} does not work then ({mode}, {site_id or 'online'})")
    around = travel(settings, mode)
    appointment = Appointment(
        id=uuid.uuid4(), request_id=request.id, therapist_id=therapist_id, mode=mode,
        site_id=site_id, appointment_type=appointment_type, starts_at=starts_at,
        ends_at=ends_at, slot=Range(starts_at, ends_at),
        busy=Range(starts_at - around, ends_at + around), status="booked",
        booked_by=booked_by, idempotency_key=idempotency[0],
        idempotency_fingerprint=idempotency[1],
    )
    session.add(appointment)
    return appointment


def may_read(session: Session, staff: Principal, appointment: Appointment) -> bool:
    """Desk staff read any appointment; a therapist their own patients': an appointment with
    them, or another of a patient who has one booked with them."""
    if staff.role is not Role.therapist:
        return True
    if staff.therapist_id is None:
        return False
    if appointment.therapist_id == staff.therapist_id:
        return True
    return session.scalar(select(Appointment.id).where(
        Appointment.request_id == appointment.request_id,
        Appointment.therapist_id == staff.therapist_id,
        Appointment.status == "booked").limit(1)) is not None


def place(session: Session, mode: str, site_id: str | None) -> str:
    if mode == "virtual":
        return "Video call"
    if mode == "home_visit":
        return "Home visit"
    clinic = session.get(Clinic, site_id) if site_id else None
    return f"{clinic.name}, {clinic.address}" if clinic else "Clinic"


def _details(session: Session, appointment: Appointment,
             request: AppointmentRequest) -> dict[str, object]:
    therapist = session.get_one(Therapist, appointment.therapist_id)
    return {
        "appointment_id": appointment.id, "request_id": request.id,
        "reference": request.reference, "therapist_id": therapist.id,
        "therapist_name": therapist.name, "mode": appointment.mode,
        "site": appointment.site_id, "place": place(session, appointment.mode, appointment.site_id),
        "appointment_type": appointment.appointment_type, "starts_at": appointment.starts_at,
        "ends_at": appointment.ends_at,
    }


class _Lost(Exception):
    pass


def _taken_once_it_is_our_turn(session: Session, settings: BookingSettings,
                               therapist_id: uuid.UUID, mode: str, starts_at: datetime,
                               appointment_type: str) -> bool:
    """Queue bookings of one therapist behind a transaction-scoped advisory lock, then look.

    In a rush on one slot the first attempt books and every other one, when its turn comes,
    sees the booking with one cheap query instead of doing all the work to fail at the
    constraint. The exclusion constraint still decides anything this does not see."""
    session.execute(select(func.pg_advisory_xact_lock(
        func.hashtextextended(f"booking-therapist:{therapist_id}", 0))))
    around = travel(settings, mode)
    ends_at = starts_at + duration(settings, appointment_type)
    return session.scalar(select(func.count()).select_from(Appointment).where(
        Appointment.therapist_id == therapist_id, Appointment.status == "booked",
        Appointment.busy.overlaps(Range(starts_at - around, ends_at + around)))) > 0


def _by_key(sessions: sessionmaker[Session], key: str | None,
            fingerprint: str | None = None) -> Appointment | None:
    """The appointment first booked with this key; `KeyReused` if it came with another body."""
    with sessions() as session:
        existing = session.scalars(select(Appointment).where(
            Appointment.idempotency_key == key)).first()
    if existing is not None:
        check_same_body(existing.idempotency_fingerprint, fingerprint)
    return existing


_recent_answers: dict[tuple[object, ...], tuple[float, list[Slot]]] = {}
_searching: dict[tuple[object, ...], threading.Lock] = {}
_recent_lock = threading.Lock()
ANSWER_SECONDS = 1.0


def _next_slots(sessions: sessionmaker[Session], settings: BookingSettings,
                therapist_id: uuid.UUID | None, mode: str | None, site_id: str | None,
                after: datetime, appointment_type: str) -> list[Slot]:
    """The next free slots after a lost race. The many losers of one race share one search
    (the first searches while the rest wait; the answer is kept for a second), so a rush on
    one slot does not become a rush of searches."""
    key = (therapist_id, mode, site_id, after, appointment_type)
    with _recent_lock:
        search_lock = _searching.setdefault(key, threading.Lock())
    with search_lock:
        now = time.monotonic()
        with _recent_lock:
            cached = _recent_answers.get(key)
        if cached is not None and now - cached[0] < ANSWER_SECONDS:
            return cached[1]
        with sessions() as session:
            slots = find_slots(session, SlotQuery(
                window_start=after, window_end=after + timedelta(days=7),
                appointment_type=appointment_type, therapist_id=therapist_id, mode=mode,
                site_id=site_id, limit=NEXT_SLOTS), settings)
        with _recent_lock:
            for stale in [k for k, (at, _) in _recent_answers.items()
                          if now - at >= ANSWER_SECONDS]:
                del _recent_answers[stale]
                if stale != key:
                    _searching.pop(stale, None)
            _recent_answers[key] = (now, slots)
    return slots

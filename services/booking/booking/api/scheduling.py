"""Staff routes for schedules, slot search and appointments."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status
from sqlalchemy import delete, select

from booking.adapters.tables import (
    Appointment,
    AppointmentRequest,
    Clinic,
    ScheduleException,
    Therapist,
    WorkingPattern,
    audit,
)
from booking.api.calendar import ics_response
from booking.api.dependencies import SessionsDep, SettingsDep
from booking.api.errors import CONFLICT_RESPONSES
from booking.api.schemas import (
    AppointmentCreate,
    AppointmentPublic,
    AppointmentReschedule,
    ClinicPublic,
    ScheduleExceptionIn,
    ScheduleExceptionPublic,
    SlotPublic,
    WorkingPatternIn,
    slot_public,
)
from booking.domain import appointments as booking_service
from booking.domain.appointments import may_read
from booking.domain.errors import NoSuchAppointment, NoSuchRequest, NoSuchTherapist
from booking.domain.schedule import normalise_postcode
from booking.domain.slots import SlotQuery, find_slots
from clinic_shared import audit as audit_trail
from clinic_shared.auth.access import PUBLIC, StaffDep, allow
from clinic_shared.auth.principal import STAFF, Role
from clinic_shared.idempotency import fingerprint
from clinic_shared.strict_types import IsoDatetime
from clinic_shared.web.app import field_error
from clinic_shared.web.refusals import NOT_FOUND, replayed

DESK = (Role.receptionist, Role.admin)

router = APIRouter(tags=["schedules and appointments"])


@router.get("/api/clinics", response_model=list[ClinicPublic], **PUBLIC)
def list_clinics(sessions: SessionsDep) -> list[ClinicPublic]:
    """The clinics, their opening hours and the districts they visit."""
    with sessions() as session:
        clinics = session.scalars(select(Clinic).where(Clinic.active).order_by(Clinic.name))
        return [ClinicPublic.model_validate(c) for c in clinics]


@router.get("/api/slots", response_model=list[SlotPublic],
            responses=NOT_FOUND, **allow(*STAFF))
def search_slots(
    discipline: Annotated[str | None, Query(pattern="^(manual_therapy|rehab_physio)$")] = None,
    mode: Annotated[str | None, Query(pattern="^(clinic|virtual|home_visit)$")] = None,
    site: Annotated[str | None, Query(max_length=40)] = None,
    postcode: Annotated[str | None, Query(max_length=10)] = None,
    therapist_id: uuid.UUID | None = None,
    request_id: uuid.UUID | None = None,
    start: IsoDatetime | None = None,
    days: Annotated[int, Query(ge=1, le=31)] = 7,
    appointment_type: Annotated[str, Query(
        pattern="^(initial_assessment|follow_up)$")] = "initial_assessment",
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    *,
    sessions: SessionsDep,
    settings: SettingsDep,
) -> list[SlotPublic]:
    """Earliest free slots across every site, virtual and home visits, soonest first.

    With `request_id`, each slot says whether it keeps that patient's 24-hour promise."""
    if postcode:
        try:
            postcode = normalise_postcode(postcode)
        except ValueError:
            raise field_error("postcode", "not a UK postcode") from None
    begin = (start or datetime.now(UTC))
    if begin.tzinfo is None:
        begin = begin.replace(tzinfo=UTC)
    with sessions() as session:
        promise_by = None
        if request_id is not None:
            request = session.get(AppointmentRequest, request_id)
            if request is None:
                raise NoSuchRequest
            promise_by = request.appointment_by
        slots = find_slots(session, SlotQuery(
            window_start=begin, window_end=begin + timedelta(days=days),
            appointment_type=appointment_type, discipline=discipline, mode=mode,
            site_id=site, postcode=postcode, therapist_id=therapist_id,
            promise_by=promise_by, limit=limit), settings)
    return [slot_public(s) for s in slots]


@router.get("/api/therapists/{therapist_id}/working-patterns",
            response_model=list[WorkingPatternIn], **allow(*STAFF))
def working_patterns(therapist_id: uuid.UUID, sessions: SessionsDep) -> list[WorkingPatternIn]:
    """A therapist's weekly rota (local London times)."""
    with sessions() as session:
        rows = session.scalars(select(WorkingPattern).where(
            WorkingPattern.therapist_id == therapist_id).order_by(
            WorkingPattern.weekday, WorkingPattern.starts))
        return [WorkingPatternIn.model_validate(r) for r in rows]


@router.put("/api/therapists/{therapist_id}/working-patterns", responses=NOT_FOUND,
            response_model=list[WorkingPatternIn], **allow(Role.admin))
def replace_working_patterns(therapist_id: uuid.UUID, patterns: list[WorkingPatternIn],
                             staff: StaffDep, sessions: SessionsDep) -> list[WorkingPatternIn]:
    """Replace a therapist's weekly rota (clinic lead)."""
    with sessions.begin() as session:
        if session.get(Therapist, therapist_id) is None:
            raise NoSuchTherapist
        sites = set(session.scalars(select(Clinic.id)))
        for i, p in enumerate(patterns):
            if p.starts >= p.ends:
                raise field_error(f"{i}.ends", "must be after starts")
            if p.mode != "virtual" and p.site_id not in sites:
                raise field_error(f"{i}.site_id", f"{p.mode} work needs a known clinic")
        session.execute(delete(WorkingPattern).where(
            WorkingPattern.therapist_id == therapist_id))
        session.add_all(WorkingPattern(therapist_id=therapist_id,
                                       site_id=None if p.mode == "virtual" else p.site_id,
                                       **p.model_dump(exclude={"site_id"}))
                        for p in patterns)
        audit_trail.record(session, audit, staff, "replace", "working_patterns",
                           therapist_id)
    return patterns


@router.post("/api/therapists/{therapist_id}/exceptions", responses=NOT_FOUND,
             response_model=ScheduleExceptionPublic, status_code=status.HTTP_201_CREATED,
             **allow(*DESK))
def add_exception(therapist_id: uuid.UUID, body: ScheduleExceptionIn,
                  staff: StaffDep, sessions: SessionsDep) -> ScheduleExceptionPublic:
    """Mark a therapist away (leave, sickness): no slots are offered then."""
    if body.ends_at <= body.starts_at:
        raise field_error("ends_at", "must be after starts_at")
    with sessions.begin() as session:
        if session.get(Therapist, therapist_id) is None:
            raise NoSuchTherapist
        row = ScheduleException(therapist_id=therapist_id, **body.model_dump())
        session.add(row)
        session.flush()
        audit_trail.record(session, audit, staff, "create", "schedule_exception",
                           therapist_id)
        return ScheduleExceptionPublic.model_validate(row)


@router.post("/api/appointments", response_model=AppointmentPublic,
             status_code=status.HTTP_201_CREATED,
             responses=CONFLICT_RESPONSES | replayed(AppointmentPublic),
             **allow(*DESK))
def book_appointment(body: AppointmentCreate, staff: StaffDep, response: Response,
                     sessions: SessionsDep, settings: SettingsDep,
                     idempotency_key: Annotated[str | None, Header(max_length=100)] = None,
                     ) -> AppointmentPublic:
    """Book a slot for a patient's request. 409 with the next free slots if it is taken."""
    appointment, created = booking_service.book(
        sessions, settings, request_id=body.request_id, therapist_id=body.therapist_id,
        mode=body.mode, site_id=body.site_id, starts_at=body.starts_at,
        appointment_type=body.appointment_type, booked_by="staff",
        idempotency_key=idempotency_key,
        fingerprint=fingerprint(body) if idempotency_key else None)
    if not created:
        response.status_code = status.HTTP_200_OK
    with sessions.begin() as session:
        audit_trail.record(session, audit, staff, "book", "appointment", appointment.id)
    return AppointmentPublic.model_validate(appointment)


@router.get("/api/appointments/{appointment_id}", response_model=AppointmentPublic,
            responses=NOT_FOUND, **allow(*STAFF))
def read_appointment(appointment_id: uuid.UUID, staff: StaffDep,
                     sessions: SessionsDep) -> AppointmentPublic:
    """One appointment. A therapist reads only their own patients' (another's is answered
    like a missing one)."""
    with sessions.begin() as session:
        appointment = session.get(Appointment, appointment_id)
        if appointment is None or not may_read(session, staff, appointment):
            raise NoSuchAppointment
        audit_trail.record(session, audit, staff, "read", "appointment", appointment_id)
        return AppointmentPublic.model_validate(appointment)


@router.get("/api/appointments/{appointment_id}/calendar.ics", response_class=Response,
            responses=NOT_FOUND, **allow(*STAFF))
def appointment_calendar(appointment_id: uuid.UUID, staff: StaffDep, sessions: SessionsDep,
                         settings: SettingsDep) -> Response:
    """The appointment as a calendar file (no clinical detail); a therapist's own patients'
    only."""
    with sessions() as session:
        appointment = session.get(Appointment, appointment_id)
        if appointment is None or not may_read(session, staff, appointment):
            raise NoSuchAppointment
        return ics_response(session, appointment, settings.clinic_name)


@router.post("/api/appointments/{appointment_id}/cancel", response_model=AppointmentPublic,
             responses=NOT_FOUND, **allow(*DESK))
def cancel_appointment(appointment_id: uuid.UUID, staff: StaffDep,
                       sessions: SessionsDep) -> AppointmentPublic:
    """Cancel an appointment (the time becomes free again)."""
    appointment = booking_service.cancel(sessions, appointment_id, "staff")
    with sessions.begin() as session:
        audit_trail.record(session, audit, staff, "cancel", "appointment", appointment_id)
    return AppointmentPublic.model_validate(appointment)


@router.post("/api/appointments/{appointment_id}/reschedule",
             response_model=AppointmentPublic, responses=CONFLICT_RESPONSES | NOT_FOUND,
             **allow(*DESK))
def reschedule_appointment(appointment_id: uuid.UUID, body: AppointmentReschedule,
                           staff: StaffDep, sessions: SessionsDep,
                           settings: SettingsDep) -> AppointmentPublic:
    """Move an appointment; the old time is kept if the new one cannot be had."""
    appointment = booking_service.reschedule(
        sessions, settings, appointment_id, starts_at=body.starts_at, by="staff",
        therapist_id=body.therapist_id, site_id=body.site_id)
    with sessions.begin() as session:
        audit_trail.record(session, audit, staff, "reschedule", "appointment",
                           appointment.id)
    return AppointmentPublic.model_validate(appointment)


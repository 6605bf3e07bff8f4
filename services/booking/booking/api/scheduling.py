"""Staff routes for schedules, slot search and appointments."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from booking.adapters.calendar import appointment_ics
from booking.adapters.tables import (
    Appointment,
    AppointmentRequest,
    Clinic,
    ScheduleException,
    Therapist,
    WorkingPattern,
    audit,
)
from booking.api.schemas import (
    AppointmentCreate,
    AppointmentPublic,
    AppointmentReschedule,
    ClinicPublic,
    ScheduleExceptionIn,
    ScheduleExceptionPublic,
    SlotPublic,
    SlotTakenBody,
    WorkingPatternIn,
)
from booking.domain import appointments as booking_service
from booking.domain.schedule import normalise_postcode
from booking.domain.slots import Slot, SlotQuery, find_slots
from booking.settings import BookingSettings
from clinic_shared import audit as audit_trail
from clinic_shared.auth.access import PUBLIC, StaffDep, allow
from clinic_shared.auth.principal import STAFF, Principal, Role
from clinic_shared.idempotency import KeyReused, fingerprint, key_reused
from clinic_shared.strict_types import IsoDatetime
from clinic_shared.web.app import field_error
from clinic_shared.web.refusals import NOT_FOUND, replayed

DESK = (Role.receptionist, Role.admin)
NO_SUCH_APPOINTMENT = HTTPException(status.HTTP_404_NOT_FOUND, "No such appointment")
CONFLICT_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: {"model": SlotTakenBody, "description": "Taken: here are the next free slots"},
}


def slot_public(slot: Slot) -> SlotPublic:
    return SlotPublic(therapist_id=slot.therapist_id, therapist_name=slot.therapist_name,
                      mode=slot.mode, site_id=slot.site_id, starts_at=slot.starts_at,
                      ends_at=slot.ends_at, starts_local=slot.starts_local,
                      within_promise=slot.within_promise)


def slot_taken(exc: booking_service.SlotTaken) -> JSONResponse:
    body = SlotTakenBody(detail="That time has just been taken; here are the next free slots.",
                         next_slots=[slot_public(s) for s in exc.next_slots])
    return JSONResponse(body.model_dump(mode="json"), status_code=status.HTTP_409_CONFLICT)


def ics_response(session: Session, appointment: Appointment, clinic_name: str) -> Response:
    request = session.get_one(AppointmentRequest, appointment.request_id)
    therapist = session.get_one(Therapist, appointment.therapist_id)
    clinic = session.get(Clinic, appointment.site_id) if appointment.site_id else None
    body = appointment_ics(appointment, clinic, therapist.name, clinic_name, request.reference)
    return Response(body, media_type="text/calendar", headers={
        "Content-Disposition": f'attachment; filename="appointment-{request.reference}.ics"'})


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


def scheduling_router(settings: BookingSettings, sessions: sessionmaker[Session]) -> APIRouter:
    router = APIRouter(tags=["schedules and appointments"])

    @router.get("/api/clinics", response_model=list[ClinicPublic], **PUBLIC)
    def list_clinics() -> list[ClinicPublic]:
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
                    raise HTTPException(status.HTTP_404_NOT_FOUND, "No such appointment request")
                promise_by = request.appointment_by
            slots = find_slots(session, SlotQuery(
                window_start=begin, window_end=begin + timedelta(days=days),
                appointment_type=appointment_type, discipline=discipline, mode=mode,
                site_id=site, postcode=postcode, therapist_id=therapist_id,
                promise_by=promise_by, limit=limit), settings)
        return [slot_public(s) for s in slots]

    @router.get("/api/therapists/{therapist_id}/working-patterns",
                response_model=list[WorkingPatternIn], **allow(*STAFF))
    def working_patterns(therapist_id: uuid.UUID) -> list[WorkingPatternIn]:
        """A therapist's weekly rota (local London times)."""
        with sessions() as session:
            rows = session.scalars(select(WorkingPattern).where(
                WorkingPattern.therapist_id == therapist_id).order_by(
                WorkingPattern.weekday, WorkingPattern.starts))
            return [WorkingPatternIn.model_validate(r) for r in rows]

    @router.put("/api/therapists/{therapist_id}/working-patterns", responses=NOT_FOUND,
                response_model=list[WorkingPatternIn], **allow(Role.admin))
    def replace_working_patterns(therapist_id: uuid.UUID, patterns: list[WorkingPatternIn],
                                 staff: StaffDep) -> list[WorkingPatternIn]:
        """Replace a therapist's weekly rota (clinic lead)."""
        with sessions.begin() as session:
            if session.get(Therapist, therapist_id) is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "No such therapist in booking")
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
                      staff: StaffDep) -> ScheduleExceptionPublic:
        """Mark a therapist away (leave, sickness): no slots are offered then."""
        if body.ends_at <= body.starts_at:
            raise field_error("ends_at", "must be after starts_at")
        with sessions.begin() as session:
            if session.get(Therapist, therapist_id) is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "No such therapist in booking")
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
                         idempotency_key: Annotated[str | None, Header(max_length=100)] = None,
                         ) -> Any:
        """Book a slot for a patient's request. 409 with the next free slots if it is taken."""
        try:
            appointment, created = booking_service.book(
                sessions, settings, request_id=body.request_id, therapist_id=body.therapist_id,
                mode=body.mode, site_id=body.site_id, starts_at=body.starts_at,
                appointment_type=body.appointment_type, booked_by="staff",
                idempotency_key=idempotency_key,
                fingerprint=fingerprint(body) if idempotency_key else None)
        except KeyReused:
            raise key_reused() from None
        except booking_service.SlotTaken as exc:
            return slot_taken(exc)
        except booking_service.NotBookable as exc:
            raise field_error(exc.field, str(exc)) from None
        except booking_service.NotFound:
            raise field_error("request_id", "no such appointment request") from None
        if not created:
            response.status_code = status.HTTP_200_OK
        with sessions.begin() as session:
            audit_trail.record(session, audit, staff, "book", "appointment", appointment.id)
        return AppointmentPublic.model_validate(appointment)

    @router.get("/api/appointments/{appointment_id}", response_model=AppointmentPublic,
                responses=NOT_FOUND, **allow(*STAFF))
    def read_appointment(appointment_id: uuid.UUID, staff: StaffDep) -> AppointmentPublic:
        """One appointment. A therapist reads only their own patients' (another's is answered
        like a missing one)."""
        with sessions.begin() as session:
            appointment = session.get(Appointment, appointment_id)
            if appointment is None or not may_read(session, staff, appointment):
                raise NO_SUCH_APPOINTMENT
            audit_trail.record(session, audit, staff, "read", "appointment", appointment_id)
            return AppointmentPublic.model_validate(appointment)

    @router.get("/api/appointments/{appointment_id}/calendar.ics", response_class=Response,
                responses=NOT_FOUND, **allow(*STAFF))
    def appointment_calendar(appointment_id: uuid.UUID, staff: StaffDep) -> Response:
        """The appointment as a calendar file (no clinical detail); a therapist's own patients'
        only."""
        with sessions() as session:
            appointment = session.get(Appointment, appointment_id)
            if appointment is None or not may_read(session, staff, appointment):
                raise NO_SUCH_APPOINTMENT
            return ics_response(session, appointment, settings.clinic_name)

    @router.post("/api/appointments/{appointment_id}/cancel", response_model=AppointmentPublic,
                 responses=NOT_FOUND, **allow(*DESK))
    def cancel_appointment(appointment_id: uuid.UUID, staff: StaffDep) -> AppointmentPublic:
        """Cancel an appointment (the time becomes free again)."""
        try:
            appointment = booking_service.cancel(sessions, appointment_id, "staff")
        except booking_service.NotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "No such appointment") from None
        with sessions.begin() as session:
            audit_trail.record(session, audit, staff, "cancel", "appointment", appointment_id)
        return AppointmentPublic.model_validate(appointment)

    @router.post("/api/appointments/{appointment_id}/reschedule",
                 response_model=AppointmentPublic, responses=CONFLICT_RESPONSES | NOT_FOUND,
                 **allow(*DESK))
    def reschedule_appointment(appointment_id: uuid.UUID, body: AppointmentReschedule,
                               staff: StaffDep) -> Any:
        """Move an appointment; the old time is kept if the new one cannot be had."""
        try:
            appointment = booking_service.reschedule(
                sessions, settings, appointment_id, starts_at=body.starts_at, by="staff",
                therapist_id=body.therapist_id, site_id=body.site_id)
        except booking_service.SlotTaken as exc:
            return slot_taken(exc)
        except booking_service.NotBookable as exc:
            raise field_error(exc.field, str(exc)) from None
        except booking_service.NotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "No such appointment") from None
        with sessions.begin() as session:
            audit_trail.record(session, audit, staff, "reschedule", "appointment",
                               appointment.id)
        return AppointmentPublic.model_validate(appointment)

    return router

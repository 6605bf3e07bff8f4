"""What a patient can do through their private link: see, cancel, pick an offered slot."""

import uuid
from typing import Any

from fastapi import APIRouter, Response, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from booking.adapters.tables import Appointment, AppointmentRequest, SlotOfferRow
from booking.api.calendar import ics_response
from booking.api.dependencies import LinksDep, SessionsDep, SettingsDep
from booking.api.errors import CONFLICT_RESPONSES
from booking.api.schemas import AppointmentPublic, MyRequest, OfferPublic
from booking.domain import appointments as booking_service
from booking.domain.errors import (
    LinkRefused,
    NoSuchAppointment,
    NoSuchOffer,
    NotBookable,
    OfferNotBookable,
    UrgentSelfBooking,
)
from booking.domain.reading import urgent_answer
from booking.domain.requests import cancel_request
from booking.settings import BookingSettings
from clinic_shared.auth.access import PATIENT_LINK
from clinic_shared.auth.patient_links import InvalidLink, PatientLinks

router = APIRouter(tags=["patient (private link)"])


def own_request_id(links: PatientLinks, token: str) -> uuid.UUID:
    try:
        return links.request_id(token)
    except InvalidLink:
        raise LinkRefused from None


def own_request(session: Session, links: PatientLinks, token: str) -> AppointmentRequest:
    request = session.get(AppointmentRequest, own_request_id(links, token))
    if request is None or request.erased_at is not None:
        raise LinkRefused
    return request


def view(session: Session, settings: BookingSettings, request: AppointmentRequest) -> MyRequest:
    appointments = session.scalars(select(Appointment).where(
        Appointment.request_id == request.id).order_by(Appointment.starts_at)).all()
    booked_times = {a.starts_at for a in appointments if a.status == "booked"}
    offers = [] if request.urgent else session.scalars(select(SlotOfferRow).where(
        SlotOfferRow.request_id == request.id).order_by(SlotOfferRow.starts_at))
    return MyRequest.model_validate(request).model_copy(update={
        "appointments": [AppointmentPublic.model_validate(a) for a in appointments],
        "offers": [OfferPublic.model_validate(o) for o in offers
                   if o.starts_at not in booked_times],
        **urgent_answer(settings, request.urgent, request.red_flag_categories),
    })


@router.get("/api/my-request/{token}", response_model=MyRequest, **PATIENT_LINK)
def my_request(token: str, sessions: SessionsDep, settings: SettingsDep,
               links: LinksDep) -> MyRequest:
    """The patient's own request, its appointments and the slots offered to them."""
    with sessions() as session:
        return view(session, settings, own_request(session, links, token))


@router.post("/api/my-request/{token}/cancel", response_model=MyRequest, **PATIENT_LINK)
def cancel_my_request(token: str, sessions: SessionsDep, settings: SettingsDep,
                      links: LinksDep) -> MyRequest:
    """The patient withdraws their request."""
    if cancel_request(sessions, own_request_id(links, token), "patient") is None:
        raise LinkRefused
    with sessions() as session:
        return view(session, settings, own_request(session, links, token))


@router.post("/api/my-request/{token}/offers/{offer_id}/book",
             response_model=AppointmentPublic, status_code=status.HTTP_201_CREATED,
             responses=CONFLICT_RESPONSES, **PATIENT_LINK)
def book_offer(token: str, offer_id: uuid.UUID, sessions: SessionsDep, settings: SettingsDep,
               links: LinksDep) -> Any:
    """Take one of the offered slots (or move the booked appointment to it); never for an
    urgent request (the clinic calls the patient)."""
    with sessions() as session:
        request = own_request(session, links, token)
        if request.urgent:
            raise UrgentSelfBooking
        offer = session.get(SlotOfferRow, offer_id)
        if offer is None or offer.request_id != request.id:
            raise NoSuchOffer
        current = session.scalars(select(Appointment).where(
            Appointment.request_id == request.id, Appointment.status == "booked")).first()
    try:
        if current is not None:
            appointment = booking_service.reschedule(
                sessions, settings, current.id, starts_at=offer.starts_at, by="patient",
                therapist_id=offer.therapist_id, site_id=offer.site_id,
                request_id=request.id)
        else:
            appointment, _ = booking_service.book(
                sessions, settings, request_id=request.id, therapist_id=offer.therapist_id,
                mode=offer.mode, site_id=offer.site_id, starts_at=offer.starts_at,
                appointment_type="initial_assessment", booked_by="patient",
                idempotency_key=f"offer:{offer.id}")
    except NotBookable as exc:  # nothing the patient can correct: a conflict, not a bad field
        raise OfferNotBookable(exc.field, str(exc)) from None
    return AppointmentPublic.model_validate(appointment)


@router.post("/api/my-request/{token}/appointments/{appointment_id}/cancel",
             response_model=AppointmentPublic, **PATIENT_LINK)
def cancel_my_appointment(token: str, appointment_id: uuid.UUID, sessions: SessionsDep,
                          links: LinksDep) -> AppointmentPublic:
    """The patient cancels their appointment."""
    request_id = own_request_id(links, token)
    appointment = booking_service.cancel(sessions, appointment_id, "patient",
                                         request_id=request_id)
    return AppointmentPublic.model_validate(appointment)


@router.get("/api/my-request/{token}/appointments/{appointment_id}/calendar.ics",
            response_class=Response, **PATIENT_LINK)
def my_calendar(token: str, appointment_id: uuid.UUID, sessions: SessionsDep,
                settings: SettingsDep, links: LinksDep) -> Response:
    """The appointment as a calendar file."""
    with sessions() as session:
        request = own_request(session, links, token)
        appointment = session.get(Appointment, appointment_id)
        if appointment is None or appointment.request_id != request.id:
            raise NoSuchAppointment
        return ics_response(session, appointment, settings.clinic_name)

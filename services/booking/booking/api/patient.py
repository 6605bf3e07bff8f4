"""What a patient can do through their private link: see, cancel, pick an offered slot."""

import uuid
from typing import Any

from fastapi import APIRouter, HTTPException, Response, status
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from booking.adapters.tables import Appointment, AppointmentRequest, SlotOfferRow
from booking.api.scheduling import CONFLICT_RESPONSES, ics_response, slot_taken
from booking.api.schemas import AppointmentPublic, MyRequest, OfferPublic
from booking.domain import appointments as booking_service
from booking.domain.reading import urgent_answer
from booking.domain.requests import cancel_request
from booking.settings import BookingSettings
from clinic_shared.auth.access import PATIENT_LINK
from clinic_shared.auth.patient_links import InvalidLink, PatientLinks
from clinic_shared.web.app import field_error

LINK_REFUSED = HTTPException(status.HTTP_404_NOT_FOUND,
                             "This link is not valid or has expired. Call the clinic for help.")
URGENT_SELF_BOOKING = HTTPException(
    status.HTTP_409_CONFLICT,
    "Your answers suggest you may need urgent care, so you cannot book a time here: the "
    "clinic will call you to arrange this. If things get worse, call 111, or 999 in an "
    "emergency.")


def patient_router(settings: BookingSettings, sessions: sessionmaker[Session],
                   links: PatientLinks) -> APIRouter:
    router = APIRouter(tags=["patient (private link)"])

    def own_request_id(token: str) -> uuid.UUID:
        try:
            return links.request_id(token)
        except InvalidLink:
            raise LINK_REFUSED from None

    def own_request(session: Session, token: str) -> AppointmentRequest:
        request = session.get(AppointmentRequest, own_request_id(token))
        if request is None or request.erased_at is not None:
            raise LINK_REFUSED
        return request

    def view(session: Session, request: AppointmentRequest) -> MyRequest:
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
    def my_request(token: str) -> MyRequest:
        """The patient's own request, its appointments and the slots offered to them."""
        with sessions() as session:
            return view(session, own_request(session, token))

    @router.post("/api/my-request/{token}/cancel", response_model=MyRequest, **PATIENT_LINK)
    def cancel_my_request(token: str) -> MyRequest:
        """The patient withdraws their request."""
        if cancel_request(sessions, own_request_id(token), "patient") is None:
            raise LINK_REFUSED
        with sessions() as session:
            return view(session, own_request(session, token))

    @router.post("/api/my-request/{token}/offers/{offer_id}/book",
                 response_model=AppointmentPublic, status_code=status.HTTP_201_CREATED,
                 responses=CONFLICT_RESPONSES, **PATIENT_LINK)
    def book_offer(token: str, offer_id: uuid.UUID) -> Any:
        """Take one of the offered slots (or move the booked appointment to it); never for an
        urgent request (the clinic calls the patient)."""
        with sessions() as session:
            request = own_request(session, token)
            if request.urgent:
                raise URGENT_SELF_BOOKING
            offer = session.get(SlotOfferRow, offer_id)
            if offer is None or offer.request_id != request.id:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "No such offer")
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
        except booking_service.SlotTaken as exc:
            return slot_taken(exc)
        except booking_service.NotBookable as exc:
            raise field_error(exc.field, str(exc), status.HTTP_409_CONFLICT) from None
        return AppointmentPublic.model_validate(appointment)

    @router.post("/api/my-request/{token}/appointments/{appointment_id}/cancel",
                 response_model=AppointmentPublic, **PATIENT_LINK)
    def cancel_my_appointment(token: str, appointment_id: uuid.UUID) -> AppointmentPublic:
        """The patient cancels their appointment."""
        request_id = own_request_id(token)
        try:
            appointment = booking_service.cancel(sessions, appointment_id, "patient",
                                                 request_id=request_id)
        except booking_service.NotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "No such appointment") from None
        return AppointmentPublic.model_validate(appointment)

    @router.get("/api/my-request/{token}/appointments/{appointment_id}/calendar.ics",
                response_class=Response, **PATIENT_LINK)
    def my_calendar(token: str, appointment_id: uuid.UUID) -> Response:
        """The appointment as a calendar file."""
        with sessions() as session:
            request = own_request(session, token)
            appointment = session.get(Appointment, appointment_id)
            if appointment is None or appointment.request_id != request.id:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "No such appointment")
            return ics_response(session, appointment, settings.clinic_name)

    return router

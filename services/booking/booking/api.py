"""booking's HTTP API. Run with `python -m booking api`."""

import hashlib
import hmac
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request, Response, status

from booking.models import AppointmentRequest, audit, rate_limits
from booking.requests import cancel_request, submit_request
from booking.schemas import (
    AppointmentRequestCreate,
    AppointmentRequestPublic,
    AppointmentRequestStaffView,
    MyRequest,
)
from booking.settings import BookingSettings, get_settings
from clinic_shared import audit as audit_trail
from clinic_shared.api import create_app as create_base_app
from clinic_shared.audit import audit_router
from clinic_shared.auth.access import PATIENT_LINK, PUBLIC, StaffDep, allow
from clinic_shared.auth.patient_links import InvalidLink, PatientLinks
from clinic_shared.auth.principal import Role
from clinic_shared.db import make_engine, make_session_factory
from clinic_shared.ratelimit import Limit, RateLimiter

DESK = (Role.receptionist, Role.admin)
LINK_REFUSED = HTTPException(status.HTTP_404_NOT_FOUND,
                             "This link is not valid or has expired. Call the clinic for help.")


def too_many(wait: int) -> HTTPException:
    return HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                         "Too many requests; please try again later or call the clinic",
                         headers={"Retry-After": str(wait)})


def create_app(settings: BookingSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    limiter = RateLimiter(engine, rate_limits)
    secret = settings.secret_key.get_secret_value()
    links = PatientLinks(secret, settings.patient_link_days)
    app = create_base_app(
        service="booking",
        title="Clinic booking",
        description="Appointment requests, schedules, slots and appointments.",
        engine=engine,
        settings=settings,
    )
    router = APIRouter(tags=["appointment requests"])

    def per_address_limit(request: Request) -> None:
        """Counted before the form is read, so a flood of bad forms is limited too."""
        client = request.client.host if request.client else "unknown"
        wait = limiter.hit([Limit(f"form-ip:{client}", settings.form_limit_per_address, 600)])
        if wait is not None:
            raise too_many(wait)

    def contact_key(value: str) -> str:
        return hmac.new(secret.encode(), value.lower().encode(), hashlib.sha256).hexdigest()[:32]

    @router.post("/api/appointment-requests", status_code=status.HTTP_201_CREATED,
                 response_model=AppointmentRequestPublic,
                 dependencies=[Depends(per_address_limit)], **PUBLIC)
    def create_appointment_request(
        form: AppointmentRequestCreate,
        response: Response,
        idempotency_key: Annotated[str | None, Header(max_length=100)] = None,
    ) -> AppointmentRequestPublic:
        """A patient asks for an appointment; we promise contact and an appointment by deadlines."""
        contacts = [c for c in (form.phone, form.email) if c]
        wait = limiter.hit([Limit(f"form-contact:{contact_key(c)}",
                                  settings.form_limit_per_contact, 3600) for c in contacts])
        if wait is not None:
            raise too_many(wait)
        request, created = submit_request(sessions, form, settings, idempotency_key, links)
        if not created:
            response.status_code = status.HTTP_200_OK
        return AppointmentRequestPublic.model_validate(request)

    @router.get("/api/appointment-requests/{request_id}",
                response_model=AppointmentRequestStaffView, **allow(*DESK))
    def read_appointment_request(request_id: uuid.UUID,
                                 staff: StaffDep) -> AppointmentRequestStaffView:
        """One request with the patient's details (reception, clinic lead)."""
        with sessions.begin() as session:
            request = session.get(AppointmentRequest, request_id)
            if request is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "No such appointment request")
            audit_trail.record(session, audit, staff, "read", "appointment_request", request.id)
            return AppointmentRequestStaffView.model_validate(request)

    @router.post("/api/appointment-requests/{request_id}/cancel",
                 response_model=AppointmentRequestStaffView, **allow(*DESK))
    def cancel_as_staff(request_id: uuid.UUID, staff: StaffDep) -> AppointmentRequestStaffView:
        """Withdraw a request on the patient's behalf."""
        request = cancel_request(sessions, request_id, "staff")
        if request is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "No such appointment request")
        with sessions.begin() as session:
            audit_trail.record(session, audit, staff, "cancel", "appointment_request", request_id)
        return AppointmentRequestStaffView.model_validate(request)

    def own_request_id(token: str) -> uuid.UUID:
        try:
            return links.request_id(token)
        except InvalidLink:
            raise LINK_REFUSED from None

    @router.get("/api/my-request/{token}", response_model=MyRequest, **PATIENT_LINK)
    def my_request(token: str) -> MyRequest:
        """The patient's own request, through the private link they were sent."""
        request_id = own_request_id(token)
        with sessions() as session:
            request = session.get(AppointmentRequest, request_id)
            if request is None or request.erased_at is not None:
                raise LINK_REFUSED
            return MyRequest.model_validate(request)

    @router.post("/api/my-request/{token}/cancel", response_model=MyRequest, **PATIENT_LINK)
    def cancel_my_request(token: str) -> MyRequest:
        """The patient withdraws their request."""
        request = cancel_request(sessions, own_request_id(token), "patient")
        if request is None:
            raise LINK_REFUSED
        return MyRequest.model_validate(request)

    app.include_router(router)
    app.include_router(audit_router(sessions, audit))
    return app

"""Appointment requests: the form's API (public), and reading or withdrawing one (reception)."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response, status
from starlette.concurrency import run_in_threadpool

from booking.adapters.tables import AppointmentRequest, audit
from booking.api.dependencies import FormLimitsDep, LinksDep, SessionsDep, SettingsDep
from booking.api.form_limits import AddressCountedRoute, client_address
from booking.api.schemas import AppointmentRequestPublic, AppointmentRequestStaffView
from booking.domain.errors import NoSuchRequest
from booking.domain.reading import read_form, urgent_answer
from booking.domain.request_form import AppointmentRequestCreate
from booking.domain.requests import cancel_request, submit_request
from clinic_shared import audit as audit_trail
from clinic_shared.auth.access import PUBLIC, StaffDep, allow
from clinic_shared.auth.principal import Role
from clinic_shared.web.refusals import NOT_FOUND, TOO_MANY, replayed

DESK = (Role.receptionist, Role.admin)

# the form's route counts the caller's address even when the form fails validation
form_router = APIRouter(tags=["appointment requests"], route_class=AddressCountedRoute)
router = APIRouter(tags=["appointment requests"])


@form_router.post("/api/appointment-requests", status_code=status.HTTP_201_CREATED,
                  response_model=AppointmentRequestPublic,
                  responses=replayed(AppointmentRequestPublic) | TOO_MANY, **PUBLIC)
async def create_appointment_request(
    form: AppointmentRequestCreate,
    request: Request,
    settings: SettingsDep,
    sessions: SessionsDep,
    links: LinksDep,
    form_limits: FormLimitsDep,
    idempotency_key: Annotated[str | None, Header(max_length=100)] = None,
) -> Response:
    """A patient asks for an appointment; we promise contact and an appointment by deadlines."""
    admit = form_limits.admit(client_address(request), form)
    stored, created = await run_in_threadpool(
        submit_request, sessions, form, settings, idempotency_key, links, admit,
        read_form(settings, form))
    public = AppointmentRequestPublic.model_validate(stored).model_copy(
        update=urgent_answer(settings, stored.urgent, stored.red_flag_categories))
    # answered as FastAPI would answer the model (the same JSON), without validating it again
    return Response(public.model_dump_json().encode(), media_type="application/json",
                    status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


@router.get("/api/appointment-requests/{request_id}", responses=NOT_FOUND,
            response_model=AppointmentRequestStaffView, **allow(*DESK))
def read_appointment_request(request_id: uuid.UUID, staff: StaffDep,
                             sessions: SessionsDep) -> AppointmentRequestStaffView:
    """One request with the patient's details (reception, clinic lead)."""
    with sessions.begin() as session:
        request = session.get(AppointmentRequest, request_id)
        if request is None:
            raise NoSuchRequest
        audit_trail.record(session, audit, staff, "read", "appointment_request", request.id)
        return AppointmentRequestStaffView.model_validate(request)


@router.post("/api/appointment-requests/{request_id}/cancel", responses=NOT_FOUND,
             response_model=AppointmentRequestStaffView, **allow(*DESK))
def cancel_as_staff(request_id: uuid.UUID, staff: StaffDep,
                    sessions: SessionsDep) -> AppointmentRequestStaffView:
    """Withdraw a request on the patient's behalf."""
    request = cancel_request(sessions, request_id, "staff")
    if request is None:
        raise NoSuchRequest
    with sessions.begin() as session:
        audit_trail.record(session, audit, staff, "cancel", "appointment_request", request_id)
    return AppointmentRequestStaffView.model_validate(request)

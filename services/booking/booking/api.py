"""booking's HTTP API. Run with `python -m booking api`."""

import uuid
from typing import Annotated

from fastapi import APIRouter, FastAPI, Header, HTTPException, Request, Response, status
from starlette.concurrency import run_in_threadpool

from booking.fhir_api import install as install_fhir
from booking.form_limits import FormLimits, client_address, counted_even_when_invalid, too_many
from booking.inquiry_api import inquiry_router
from booking.models import AppointmentRequest, audit, rate_limits
from booking.pages import pages_router
from booking.patient_api import patient_router
from booking.reading import engine_for, read_form, urgent_answer
from booking.requests import PlaceNotServed, cancel_request, submit_request
from booking.scheduling_api import scheduling_router
from booking.schemas import (
    AppointmentRequestCreate,
    AppointmentRequestPublic,
    AppointmentRequestStaffView,
)
from booking.settings import BookingSettings, get_settings
from clinic_shared import audit as audit_trail
from clinic_shared.audit import audit_router
from clinic_shared.auth.access import PUBLIC, StaffDep, allow
from clinic_shared.auth.patient_links import PatientLinks
from clinic_shared.auth.principal import Role
from clinic_shared.contact_hours import contact_hours_from
from clinic_shared.db import make_engine, make_session_factory
from clinic_shared.idempotency import KeyReused, key_reused
from clinic_shared.ratelimit import OverLimit, RateLimiter
from clinic_shared.web import mount_static
from clinic_shared.web.app import create_app as create_base_app
from clinic_shared.web.app import field_error
from clinic_shared.web.refusal_pages import RefusalPages
from clinic_shared.web.refusals import NOT_FOUND, TOO_MANY, replayed

DESK = (Role.receptionist, Role.admin)


def create_app(settings: BookingSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine_for(settings)  # a malformed vocabulary stops the API here; the first form is quick
    contact_hours_from(settings.contact_hours_file)  # so does a malformed hours file
    # a pooled connection is pinged only when its socket shows the server ended it
    # (pool_ping.py), not with a round trip before every request
    engine = make_engine(settings.database_url, ping_every_checkout=False)
    sessions = make_session_factory(engine)
    links = PatientLinks(settings.link_key(), settings.patient_link_days,
                         also_accept=[settings.secret_key.get_secret_value()])
    app = create_base_app(
        service="booking",
        title="Clinic booking",
        description="Appointment requests, schedules, slots and appointments.",
        engine=engine,
        settings=settings,
        refusals=RefusalPages(settings.clinic_name, home=("/", "Back to the request form")),
    )
    router = APIRouter(tags=["appointment requests"])
    form_limits = FormLimits(RateLimiter(engine, rate_limits), settings)
    form_router = APIRouter(tags=["appointment requests"],
                            route_class=counted_even_when_invalid(form_limits))

    @form_router.post("/api/appointment-requests", status_code=status.HTTP_201_CREATED,
                      response_model=AppointmentRequestPublic,
                      responses=replayed(AppointmentRequestPublic) | TOO_MANY, **PUBLIC)
    async def create_appointment_request(
        form: AppointmentRequestCreate,
        request: Request,
        idempotency_key: Annotated[str | None, Header(max_length=100)] = None,
    ) -> Response:
        """A patient asks for an appointment; we promise contact and an appointment by deadlines."""
        admit = form_limits.admit(client_address(request), form)
        try:
            stored, created = await run_in_threadpool(
                submit_request, sessions, form, settings, idempotency_key, links, admit,
                read_form(settings, form))
        except OverLimit as exc:
            raise too_many(exc.wait) from None
        except PlaceNotServed as exc:
            raise field_error(exc.field, str(exc)) from None
        except KeyReused:
            raise key_reused() from None
        public = AppointmentRequestPublic.model_validate(stored).model_copy(
            update=urgent_answer(settings, stored.urgent, stored.red_flag_categories))
        # answered as FastAPI would answer the model (the same JSON), without validating it again
        return Response(public.model_dump_json().encode(), media_type="application/json",
                        status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @router.get("/api/appointment-requests/{request_id}", responses=NOT_FOUND,
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

    @router.post("/api/appointment-requests/{request_id}/cancel", responses=NOT_FOUND,
                 response_model=AppointmentRequestStaffView, **allow(*DESK))
    def cancel_as_staff(request_id: uuid.UUID, staff: StaffDep) -> AppointmentRequestStaffView:
        """Withdraw a request on the patient's behalf."""
        request = cancel_request(sessions, request_id, "staff")
        if request is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "No such appointment request")
        with sessions.begin() as session:
            audit_trail.record(session, audit, staff, "cancel", "appointment_request", request_id)
        return AppointmentRequestStaffView.model_validate(request)

    app.include_router(form_router)
    app.include_router(router)
    app.include_router(pages_router(settings, sessions, links, form_limits))
    mount_static(app)
    app.include_router(scheduling_router(settings, sessions))
    app.include_router(patient_router(settings, sessions, links))
    app.include_router(inquiry_router(settings, sessions))
    app.include_router(audit_router(sessions, audit))
    install_fhir(app, sessions)
    return app

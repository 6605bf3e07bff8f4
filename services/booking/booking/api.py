"""booking's HTTP API. Run with `python -m booking api`."""

from typing import Annotated

from fastapi import FastAPI, Header, Response, status

from booking.requests import submit_request
from booking.schemas import AppointmentRequestCreate, AppointmentRequestPublic
from booking.settings import BookingSettings, get_settings
from clinic_shared.api import create_app as create_base_app
from clinic_shared.db import make_engine, make_session_factory


def create_app(settings: BookingSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    app = create_base_app(
        service="booking",
        title="Clinic booking",
        description="Appointment requests, schedules, slots and appointments.",
        engine=engine,
        amqp_url=settings.amqp_url,
    )

    @app.post(
        "/api/appointment-requests",
        status_code=status.HTTP_201_CREATED,
        response_model=AppointmentRequestPublic,
        tags=["appointment requests"],
    )
    def create_appointment_request(
        form: AppointmentRequestCreate,
        response: Response,
        idempotency_key: Annotated[str | None, Header(max_length=100)] = None,
    ) -> AppointmentRequestPublic:
        """A patient asks for an appointment; we promise contact and an appointment by deadlines."""
        request, created = submit_request(sessions, form, settings, idempotency_key)
        if not created:
            response.status_code = status.HTTP_200_OK
        return AppointmentRequestPublic.model_validate(request)

    return app

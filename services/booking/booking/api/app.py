"""booking's HTTP API. Run with `python -m booking api`."""

from fastapi import FastAPI

from booking.adapters.tables import audit, rate_limits
from booking.api import errors, fhir, inquiries, pages, patient, requests, scheduling
from booking.api.form_limits import FormLimits
from booking.domain.reading import engine_for
from booking.settings import BookingSettings, get_settings
from clinic_shared.audit import audit_router
from clinic_shared.auth.patient_links import PatientLinks
from clinic_shared.contact_hours import contact_hours_from
from clinic_shared.db import make_engine, make_session_factory
from clinic_shared.ratelimit import RateLimiter
from clinic_shared.web import mount_static
from clinic_shared.web.app import create_app as create_base_app
from clinic_shared.web.refusal_pages import RefusalPages


def create_app(settings: BookingSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine_for(settings)  # a malformed vocabulary stops the API here; the first form is quick
    contact_hours_from(settings.contact_hours_file)  # so does a malformed hours file
    # a pooled connection is pinged only when its socket shows the server ended it
    # (pool_ping.py), not with a round trip before every request
    engine = make_engine(settings.database_url, ping_every_checkout=False)
    sessions = make_session_factory(engine)
    app = create_base_app(
        service="booking",
        title="Clinic booking",
        description="Appointment requests, schedules, slots and appointments.",
        engine=engine,
        settings=settings,
        refusals=RefusalPages(settings.clinic_name, home=("/", "Back to the request form")),
    )
    # what the routes' dependencies (api/dependencies.py) hand them
    app.state.sessions = sessions
    app.state.links = PatientLinks(settings.link_key(), settings.patient_link_days,
                                   also_accept=[settings.secret_key.get_secret_value()])
    app.state.form_limits = FormLimits(RateLimiter(engine, rate_limits), settings)
    errors.install(app)
    app.include_router(requests.form_router)
    app.include_router(requests.router)
    app.include_router(pages.router)
    mount_static(app)
    app.include_router(scheduling.router)
    app.include_router(patient.router)
    app.include_router(inquiries.router)
    app.include_router(audit_router(sessions, audit))
    fhir.install(app, sessions)  # the FHIR API, its refusals as OperationOutcome
    return app

"""referral's HTTP API. Run with `python -m referral api`."""

from fastapi import FastAPI

from clinic_shared.audit import audit_router
from clinic_shared.db import make_engine, make_session_factory
from clinic_shared.ratelimit import RateLimiter
from clinic_shared.web import mount_static
from clinic_shared.web.app import create_app as create_base_app
from clinic_shared.web.refusal_pages import RefusalPages
from referral.caseload import caseload_router
from referral.directory import directory_router
from referral.models import audit, rate_limits
from referral.notes import notes_router
from referral.oauth_api import router as oauth_router
from referral.pages import pages_router
from referral.reading import warm
from referral.settings import ReferralSettings, get_settings
from referral.sla_report import sla_report_router
from referral.staff_auth import staff_router
from referral.suggestions import router as suggestions_router
from referral.templating import CLINIC_NAME, CLINIC_PHONE
from referral.triage import triage_router


def create_app(settings: ReferralSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    warm(settings)  # a malformed triage vocabulary stops the API here; the first read is quick
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    app = create_base_app(
        service="referral",
        title="Clinic referral",
        description="Triage queue, referrals per discipline, therapist directory and caseloads.",
        engine=engine,
        settings=settings,
        refusals=RefusalPages(CLINIC_NAME, CLINIC_PHONE, home=("/", "Go to your start page")),
    )
    app.state.sessions = sessions  # for module-level routers (oauth_api)
    app.include_router(staff_router(settings, sessions, RateLimiter(engine, rate_limits)))
    app.include_router(oauth_router)
    app.include_router(triage_router(sessions, settings))
    app.include_router(notes_router(sessions))
    app.include_router(suggestions_router)
    app.include_router(caseload_router(sessions))
    app.include_router(directory_router(sessions))
    app.include_router(audit_router(sessions, audit))
    app.include_router(sla_report_router(sessions, settings))
    app.include_router(pages_router(sessions, settings))
    mount_static(app)
    return app

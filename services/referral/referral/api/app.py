"""referral's HTTP API. Run with `python -m referral api`."""

from fastapi import FastAPI

from clinic_shared.audit import audit_router
from clinic_shared.auth.tokens import TokenIssuer
from clinic_shared.db import libpq_dsn, make_engine, make_session_factory
from clinic_shared.ratelimit import RateLimiter
from clinic_shared.web import mount_static
from clinic_shared.web.app import create_app as create_base_app
from clinic_shared.web.refusal_pages import RefusalPages
from referral.adapters.change_signal import ChangeSignal
from referral.adapters.tables import audit, rate_limits
from referral.api import (
    caseload,
    directory,
    notes,
    oauth,
    pages,
    sla_report,
    staff_auth,
    suggestions,
    triage,
)
from referral.api.errors import install_error_handlers
from referral.api.templating import CLINIC_NAME, CLINIC_PHONE
from referral.bootstrap import bootstrap
from referral.domain.sign_in_limits import SignInLimits
from referral.settings import ReferralSettings, get_settings

ROUTERS = (staff_auth, oauth, triage, notes, suggestions, caseload, directory)


def create_app(settings: ReferralSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    deps = bootstrap(settings)
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    # the board feeds' one LISTEN on board_changes (its thread starts with the first feed)
    board_signal = ChangeSignal(libpq_dsn(engine.url.render_as_string(False)))
    app = create_base_app(
        service="referral",
        title="Clinic referral",
        description="Triage queue, referrals per discipline, therapist directory and caseloads.",
        engine=engine,
        settings=settings,
        refusals=RefusalPages(CLINIC_NAME, CLINIC_PHONE, home=("/", "Go to your start page")),
        on_stop=(board_signal.close,),
    )
    # what api/dependencies.py hands the routes
    app.state.deps, app.state.sessions = deps, sessions
    app.state.board_signal = board_signal
    limiter = RateLimiter(engine, rate_limits)
    app.state.sign_in_limits = SignInLimits(limiter)
    app.state.client_sign_in_limits = SignInLimits(limiter, "client-sign-in")
    app.state.token_issuer = TokenIssuer(settings.private_key_pem(), settings.auth_issuer,
                                         settings.auth_audience,
                                         settings.staff_token_minutes * 60)
    install_error_handlers(app)
    for module in ROUTERS:
        app.include_router(module.router)
    app.include_router(audit_router(sessions, audit))
    app.include_router(sla_report.router)
    app.include_router(pages.router)
    mount_static(app)
    return app

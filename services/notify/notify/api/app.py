"""notify's HTTP API. Run with `python -m notify api`."""

from fastapi import FastAPI

from clinic_shared.audit import audit_router
from clinic_shared.db import make_engine, make_session_factory
from clinic_shared.web import mount_static
from clinic_shared.web.app import create_app as create_base_app
from notify.adapters.tables import audit
from notify.api import callbacks, inbound_sms, mail_sink, notifications, pages, webhooks
from notify.api.errors import install_error_handlers
from notify.domain.sla_metrics import install_sla_metrics
from notify.settings import NotifySettings, get_settings


def create_app(settings: NotifySettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    app = create_base_app(
        service="notify",
        title="Clinic notify",
        description="Notifications to patients and staff, their delivery, the 1-hour clock.",
        engine=engine,
        settings=settings,
    )
    app.state.sessions = sessions
    install_error_handlers(app)
    for feature in (notifications, callbacks, mail_sink, inbound_sms, webhooks, pages):
        app.include_router(feature.router)
    mount_static(app)  # the clinic lead's pages
    app.include_router(audit_router(sessions, audit))
    install_sla_metrics(sessions)
    return app

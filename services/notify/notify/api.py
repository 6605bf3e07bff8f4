"""notify's HTTP API. Run with `python -m notify api`."""

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from clinic_shared import audit as audit_trail
from clinic_shared.api import create_app as create_base_app
from clinic_shared.audit import audit_router
from clinic_shared.auth.access import StaffDep, allow
from clinic_shared.auth.principal import Role
from clinic_shared.db import make_engine, make_session_factory
from clinic_shared.settings import Environment
from notify.mail_sink import read_sink
from notify.models import Notification, audit
from notify.settings import NotifySettings, get_settings

DESK = (Role.receptionist, Role.admin)


class NotificationPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    request_id: uuid.UUID | None
    kind: str
    channel: str
    recipient: str
    reference: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


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

    @app.get("/api/notifications", response_model=list[NotificationPublic], tags=["notifications"],
             **allow(*DESK))
    def list_notifications(request_id: uuid.UUID, staff: StaffDep) -> list[NotificationPublic]:
        """What was sent (or is still owed) to a patient about one request, and how it went."""
        with sessions.begin() as session:
            rows = session.scalars(select(Notification)
                                   .where(Notification.request_id == request_id)
                                   .order_by(Notification.created_at)).all()
            audit_trail.record(session, audit, staff, "list", "notifications", request_id)
            return [NotificationPublic.model_validate(n) for n in rows]

    @app.get("/api/mail-sink/messages", tags=["operator"], **allow(Role.admin))
    def mail_sink_messages(limit: int = 50) -> list[dict[str, Any]]:
        """Mail caught by the embedded sink (development, no SMTP server configured)."""
        if not settings.uses_mail_sink or settings.environment is Environment.production:
            raise HTTPException(404, "the mail sink is off: mail goes to the SMTP server")
        return read_sink(Path(settings.mail_sink_dir), limit=min(max(limit, 1), 500))

    app.include_router(audit_router(sessions, audit))
    return app

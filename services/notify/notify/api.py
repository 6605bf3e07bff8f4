"""notify's HTTP API. Run with `python -m notify api`."""

from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException

from clinic_shared.api import create_app as create_base_app
from clinic_shared.db import make_engine
from clinic_shared.settings import Environment
from notify.mail_sink import read_sink
from notify.settings import NotifySettings, get_settings


def create_app(settings: NotifySettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = create_base_app(
        service="notify",
        title="Clinic notify",
        description="Notifications to patients and staff, their delivery, the 1-hour clock.",
        engine=make_engine(settings.database_url),
        amqp_url=settings.amqp_url,
    )

    @app.get("/api/mail-sink/messages", tags=["operator"])
    def mail_sink_messages(limit: int = 50) -> list[dict[str, Any]]:
        """Mail caught by the embedded sink (development, no SMTP server configured)."""
        if not settings.uses_mail_sink or settings.environment is Environment.production:
            raise HTTPException(404, "the mail sink is off: mail goes to the SMTP server")
        return read_sink(Path(settings.mail_sink_dir), limit=min(max(limit, 1), 500))

    return app

"""The embedded mail sink's catch, for an operator in development."""

from pathlib import Path
from typing import Any

from fastapi import APIRouter

from clinic_shared import audit as audit_trail
from clinic_shared.auth.access import allow
from clinic_shared.auth.principal import Role
from clinic_shared.settings import Environment
from clinic_shared.web.refusals import NOT_FOUND
from notify.adapters.mail_sink import read_sink
from notify.adapters.tables import audit
from notify.api.dependencies import SessionsDep, SettingsDep, StaffDep
from notify.domain.errors import MailSinkOff

router = APIRouter()


@router.get("/api/mail-sink/messages", tags=["operator"],
            responses=NOT_FOUND, **allow(Role.admin))
def mail_sink_messages(staff: StaffDep, settings: SettingsDep, sessions: SessionsDep,
                       limit: int = 50) -> list[dict[str, Any]]:
    """Mail caught by the embedded sink (development, no SMTP server configured). Every
    patient's e-mail is there, private links included: each read is audited."""
    if not settings.uses_mail_sink or settings.environment is Environment.production:
        raise MailSinkOff()
    with sessions.begin() as session:
        audit_trail.record(session, audit, staff, "list", "mail_sink")
        return read_sink(Path(settings.mail_sink_dir), limit=min(max(limit, 1), 500))

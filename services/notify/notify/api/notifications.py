"""What was sent to a patient about a request."""

import uuid

from fastapi import APIRouter

from clinic_shared import audit as audit_trail
from clinic_shared.auth.access import allow
from notify.adapters.tables import audit
from notify.api.dependencies import DESK, SessionsDep, StaffDep
from notify.api.schemas import NotificationPublic
from notify.domain.callbacks import notifications_about

router = APIRouter()


@router.get("/api/notifications", response_model=list[NotificationPublic],
            tags=["notifications"], **allow(*DESK))
def list_notifications(request_id: uuid.UUID, staff: StaffDep,
                       sessions: SessionsDep) -> list[NotificationPublic]:
    """What was sent (or is still owed) to a patient about one request, and how it went."""
    with sessions.begin() as session:
        rows = notifications_about(session, request_id)
        audit_trail.record(session, audit, staff, "list", "notifications", request_id)
        return [NotificationPublic.model_validate(n) for n in rows]

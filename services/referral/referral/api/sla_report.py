"""The clinic lead's SLA report as JSON (`GET /api/reports/sla`; the dashboard page shows the
same figures)."""

from typing import Annotated

from fastapi import APIRouter, Query

from clinic_shared.auth.access import allow
from clinic_shared.auth.principal import Role
from clinic_shared.clock import now as clock_now
from referral.api.dependencies import SessionsDep, SettingsDep
from referral.domain.sla_report import MAX_DAYS, SlaReport, build_report

DaysQuery = Annotated[int, Query(ge=1, le=MAX_DAYS, description="days back, today included")]
router = APIRouter(tags=["reports"])


@router.get("/api/reports/sla", response_model=SlaReport, **allow(Role.admin))
def sla_report(sessions: SessionsDep, settings: SettingsDep, days: DaysQuery = 14) -> SlaReport:
    """Share contacted within 1 hour and booked within 24 hours, by day, clinic and channel,
    and the breaches with their causes (clinic lead)."""
    with sessions() as session:
        return build_report(session, days, clock_now(settings))
